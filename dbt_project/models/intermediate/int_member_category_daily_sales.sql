{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per business day, member, category and sales day with member lines: spend (net,
-- returns reduce it) and whether the member bought the category that day (a line with
-- net_amount > 0 in a purchase transaction). Feeds favourite category, champions,
-- second-purchase category and the replenishment rhythm. The per-card aggregate
-- (int_card_category_daily_sales) with the member attribution of D, partitioned by business day
-- like int_member_daily_sales (readers sum over business days).
with member_card_days as (

    {{ member_card_days('int_card_category_daily_sales', ['category', 'spend', 'is_purchase_day']) }}

)

select
    business_day,
    member_id,
    category,
    sales_day,
    cast(sum(spend) as decimal(18, 2)) as spend,
    max(case when is_purchase_day then 1 else 0 end) = 1 as is_purchase_day
from member_card_days
group by business_day, member_id, category, sales_day
