{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_trailing_members_to_refresh') }}
-- One row per member as of D (cancelled ones too): spend, purchase transactions, purchase
-- months and base points over the trailing window (tiers.basis_days days ending on D), zeros
-- when the member has no sale in it. Member-keyed (macros/change_record.sql): a run recomputes
-- the members of int_trailing_members_to_refresh (a member's figures move only when one of
-- their days is rewritten or leaves the window); the as-of marts (member_trailing_year) read it.
with members as (

    select member_id
    from {{ ref('int_members_as_of') }}
    where {{ in_members_to_refresh(members='int_trailing_members_to_refresh') }}

),

window_sales as (

    {{ trailing_member_sales('members', as_of_date(), purchase_months=true) }}

)

select
    members.member_id,
    cast(coalesce(window_sales.spend, 0) as decimal(18, 2)) as spend,
    cast(coalesce(window_sales.purchase_transactions, 0) as bigint) as purchase_transactions,
    cast(coalesce(window_sales.purchase_months, 0) as bigint) as purchase_months,
    cast(coalesce(window_sales.base_points, 0) as bigint) as base_points
from members
left join window_sales
    on window_sales.member_id = members.member_id
