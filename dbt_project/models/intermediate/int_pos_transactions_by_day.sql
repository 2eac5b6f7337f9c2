{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per POS transaction, partitioned by business day (the day of the file the lines came
-- from): a run rewrites the days with a new or corrected file (int_days_to_rebuild). No member
-- attribution here (it changes when member files arrive), only the card scanned.
--   purchase: net_amount > 0; return: net_amount < 0.
--   base_points: purchase floor(net / yuan_per_point); return -floor(abs(net) / yuan_per_point).
with transactions as (

    select
        txn_id,
        business_day,
        min(store_id) as store_id,
        min(sales_day) as sales_day,
        max(card_no) as card_no,
        count(*) as line_count,
        cast(sum(net_amount) as decimal(18, 2)) as net_amount
    from {{ ref('stg_pos__lines') }}
    where {{ in_days_to_rebuild() }}
    group by txn_id, business_day

)

select
    txn_id,
    business_day,
    store_id,
    sales_day,
    card_no,
    cast(line_count as bigint) as line_count,
    net_amount,
    net_amount > 0 as is_purchase,
    net_amount < 0 as is_return,
    case
        when net_amount > 0 then {{ points_for_amount('net_amount') }}
        when net_amount < 0 then -{{ points_for_amount('abs(net_amount)') }}
        else 0
    end as base_points
from transactions
