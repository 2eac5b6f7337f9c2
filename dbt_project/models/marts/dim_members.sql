{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_members_to_refresh') }}
-- One row per member as of D, without PII (no name, mobile, address, birth date),
-- with lifetime purchase facts (days <= D). Member-keyed on int_members_to_refresh (it holds
-- the changed members and those whose lifetime figures or purchase days moved).
with members as (

    select * from {{ ref('int_members_as_of') }}
    where {{ in_members_to_refresh() }}

),

lifetime as (

    select * from {{ ref('int_member_lifetime_sales') }}
    where {{ in_members_to_refresh() }}

),

purchase_days as (

    -- first and last purchase day: one place (rows with purchase_days = 0 have none)
    select member_id, first_purchase_date, last_purchase_date
    from {{ ref('int_member_purchase_rhythm') }}
    where purchase_days > 0
        and {{ in_members_to_refresh() }}

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
