-- RESTRICTED. The birthday list with full contact details (name, mobile, address) for
-- sending the gift; same members as marts.birthday_list.
select
    birthdays.member_id,
    birthdays.card_no,
    pii.name,
    pii.mobile,
    pii.address,
    birthdays.birthday_this_year,
    birthdays.marketing_consent,
    birthdays.as_of
from {{ ref('birthday_list') }} as birthdays
inner join {{ ref('member_pii') }} as pii
    on pii.member_id = birthdays.member_id
