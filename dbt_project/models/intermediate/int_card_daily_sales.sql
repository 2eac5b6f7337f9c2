{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- The daily aggregate per card: one row per business day, card and sales day with a card
-- transaction, partitioned by business day like int_pos_transactions_by_day. Keyed by card_no,
-- not member: the member is attached when read (int_member_daily_sales), so a late or changed
-- member file never leaves a stale attribution here.
select
    business_day,
    card_no,
    sales_day,
    cast(sum(net_amount) as decimal(18, 2)) as spend,
    cast(sum(case when is_purchase then 1 else 0 end) as bigint) as purchase_transactions,
    cast(sum(case when is_return then 1 else 0 end) as bigint) as return_transactions,
    cast(sum(base_points) as bigint) as base_points
from {{ ref('int_pos_transactions_by_day') }}
where {{ in_days_to_rebuild() }}
    and card_no is not null
group by business_day, card_no, sales_day
