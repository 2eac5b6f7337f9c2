{{ config(
    materialized='incremental',
    incremental_strategy=business_day_incremental_strategy(),
    unique_key='business_day',
    on_schema_change='fail',
    pre_hook="{{ delete_days_after_as_of() }}"
) }}
-- The daily aggregate per card: one row per business day, card and sales day with a card
-- transaction. Incremental by business day like int_pos_transactions_by_day (same days:
-- new, or loaded/corrected after loaded_watermark). Keyed by card_no, not member: the member
-- is attached at read time (int_member_daily_sales), so a late or changed member file never
-- leaves a stale attribution here.
with days as (

    {{ business_days_to_process() }}

)

select
    transactions.business_day,
    transactions.card_no,
    transactions.sales_day,
    cast(sum(transactions.net_amount) as decimal(18, 2)) as spend,
    cast(sum(case when transactions.is_purchase then 1 else 0 end) as bigint) as purchase_transactions,
    cast(sum(case when transactions.is_return then 1 else 0 end) as bigint) as return_transactions,
    cast(sum(transactions.base_points) as bigint) as base_points,
    days.loaded_watermark
from {{ ref('int_pos_transactions_by_day') }} as transactions
inner join days
    on days.business_day = transactions.business_day
where transactions.card_no is not null
group by transactions.business_day, transactions.card_no, transactions.sales_day, days.loaded_watermark
