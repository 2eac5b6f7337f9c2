{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per business day, card, category and sales day with card lines: spend (net, returns
-- reduce it) and whether the card bought the category that day (a line with net_amount > 0 in
-- a purchase transaction). Partitioned by business day; attributed to members when read
-- (int_member_category_daily_sales).
select
    lines.business_day,
    transactions.card_no,
    lines.category,
    lines.sales_day,
    cast(sum(lines.net_amount) as decimal(18, 2)) as spend,
    max(case when transactions.is_purchase and lines.net_amount > 0 then 1 else 0 end) = 1 as is_purchase_day
from {{ ref('stg_pos__lines') }} as lines
inner join {{ ref('int_pos_transactions_by_day') }} as transactions
    on transactions.txn_id = lines.txn_id
    and transactions.business_day = lines.business_day
where {{ in_days_to_rebuild('lines.business_day') }}
    and {{ in_days_to_rebuild('transactions.business_day') }}
    and transactions.card_no is not null
group by lines.business_day, transactions.card_no, lines.category, lines.sales_day
