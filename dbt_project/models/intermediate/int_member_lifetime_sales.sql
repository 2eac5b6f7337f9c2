{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_members_to_refresh') }}
-- One row per member as of D: lifetime purchase facts from the daily aggregate (days <= D):
-- spend net of returns, purchase transactions, distinct months with a purchase; zeros without
-- a member transaction. First and last purchase days: int_member_purchase_rhythm.
-- Member-keyed (macros/change_record.sql): a run recomputes the members of
-- int_members_to_refresh (the lifetime figures move only when one of their days is rewritten).
with members as (

    select member_id
    from {{ ref('int_members_as_of') }}
    where {{ in_members_to_refresh() }}

),

lifetime as (

    select
        daily.member_id,
        sum(daily.spend) as spend,
        sum(daily.purchase_transactions) as purchase_transactions,
        count(distinct case
            when daily.purchase_transactions > 0 then {{ dbt.date_trunc('month', 'daily.sales_day') }}
        end) as active_months
    from {{ ref('int_member_daily_sales') }} as daily
    where {{ in_members_to_refresh('daily.member_id') }}
    group by daily.member_id

)

select
    members.member_id,
    cast(coalesce(lifetime.spend, 0) as decimal(18, 2)) as lifetime_spend,
    cast(coalesce(lifetime.purchase_transactions, 0) as bigint) as lifetime_transactions,
    cast(coalesce(lifetime.active_months, 0) as bigint) as active_months
from members
left join lifetime
    on lifetime.member_id = members.member_id
