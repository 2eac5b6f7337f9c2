{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per business day, member and sales day with a member transaction: the compact daily
-- aggregate every trailing window is computed from (never raw lines). The per-card daily
-- aggregate (int_card_daily_sales) with the member attribution of D (int_card_day_members), partitioned by business
-- day: a run rewrites the days with a new file and the restated days (int_days_to_rebuild).
-- A sales day may appear under two business days (a late transaction): readers sum.
with member_card_days as (

    {{ member_card_days('int_card_daily_sales', ['spend', 'purchase_transactions', 'return_transactions', 'base_points']) }}

)

select
    business_day,
    member_id,
    sales_day,
    cast(sum(spend) as decimal(18, 2)) as spend,
    cast(sum(purchase_transactions) as bigint) as purchase_transactions,
    cast(sum(return_transactions) as bigint) as return_transactions,
    cast(sum(base_points) as bigint) as base_points
from member_card_days
group by business_day, member_id, sales_day
