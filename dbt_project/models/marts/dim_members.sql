-- One row per member as of D, without PII (no name, mobile, address, birth date),
-- with lifetime purchase facts (days <= D).
with members as (

    select * from {{ ref('int_members_as_of') }}

),

lifetime as (

    select * from {{ ref('int_member_lifetime_sales') }}

),

purchase_days as (

    -- first and last purchase day: one place (rows with purchase_days = 0 have none)
    select member_id, first_purchase_date, last_purchase_date
    from {{ ref('int_member_purchase_rhythm') }}
    where purchase_days > 0

)

select
    members.member_id,
    members.card_no,
    members.gender,
    members.city,
    members.join_date,
    members.join_store_id,
    members.enrolled_by,
    members.activated,
    members.status,
    members.marketing_consent,
    members.bonus_category,
    purchase_days.first_purchase_date,
    purchase_days.last_purchase_date,
    cast(coalesce(lifetime.lifetime_spend, 0) as decimal(18, 2)) as lifetime_spend,
    cast(coalesce(lifetime.lifetime_transactions, 0) as bigint) as lifetime_transactions
from members
left join lifetime
    on lifetime.member_id = members.member_id
left join purchase_days
    on purchase_days.member_id = members.member_id
