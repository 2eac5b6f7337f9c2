-- RESTRICTED. The outreach extract (lapsed_customers.csv): lapsed and at-risk members (not
-- cancelled) who gave marketing consent, have a valid mobile and are not minors on D; one row
-- per member, with full name and mobile. Columns in the published order.
select
    lapsed.member_id,
    lapsed.card_no,
    pii.name,
    pii.mobile,
    lapsed.status,
    lapsed.days_since_last_purchase,
    lapsed.last_purchase_date,
    lapsed.winback_priority,
    lapsed.segment,
    lapsed.favourite_category,
    lapsed.as_of
from {{ ref('lapsed_customers') }} as lapsed
inner join {{ ref('member_pii') }} as pii
    on pii.member_id = lapsed.member_id
where {{ may_be_contacted('lapsed') }}
