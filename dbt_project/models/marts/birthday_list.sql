-- Birthday list (生日礼品), BI-facing with masked PII: activated, non-cancelled members whose
-- birthday falls in the calendar month after D's month. birthday_this_year is the birthday in
-- that month (29 February falls on 28 February in a non-leap year). Full contact details are in
-- restricted.birthday_list_contacts.
with next_month as (

    select cast({{ dbt.dateadd('month', 1, dbt.date_trunc('month', as_of_date())) }} as date) as month_start

),

bounds as (

    select
        month_start,
        extract(month from month_start) as birth_month,
        extract(day from {{ dbt.last_day('month_start', 'month') }}) as days_in_month
    from next_month

)

select
    members.member_id,
    members.card_no,
    {{ mask_name('members.name') }} as masked_name,
    {{ mask_mobile('members.mobile') }} as masked_mobile,
    members.join_store_id,
    members.marketing_consent,
    cast({{ dbt.dateadd(
        'day',
        'least(extract(day from members.birth_date), bounds.days_in_month) - 1',
        'bounds.month_start') }} as date) as birthday_this_year,
    tiers.tier,
    pyramid.segment,
    {{ as_of_date() }} as as_of
from {{ ref('int_members_as_of') }} as members
cross join bounds
left join {{ ref('loyalty_tiers') }} as tiers
    on tiers.member_id = members.member_id
left join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = members.member_id
where members.activated
    and members.status <> 'cancelled'
    and extract(month from members.birth_date) = bounds.birth_month
