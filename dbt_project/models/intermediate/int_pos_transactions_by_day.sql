{{ config(
    materialized='incremental',
    incremental_strategy=business_day_incremental_strategy(),
    unique_key='business_day',
    on_schema_change='fail',
    pre_hook="{{ delete_days_after_as_of() }}"
) }}
-- One row per POS transaction, incremental by business day (the day of the file the lines
-- came from): only new days and days whose files were loaded or corrected after the recorded
-- loaded_watermark are (re)built. No member attribution here (it changes when member files
-- arrive; int_card_day_members attributes at read time), only the card scanned.
--   purchase: net_amount > 0; return: net_amount < 0.
--   base_points: purchase floor(net / yuan_per_point); return -floor(abs(net) / yuan_per_point).
with days as (

    {{ business_days_to_process() }}

),

lines as (

    select lines.*
    from {{ ref('stg_pos__lines') }} as lines
    where lines.business_day in (select business_day from days)

),

transactions as (

    select
        txn_id,
        business_day,
        min(store_id) as store_id,
        min(sales_day) as sales_day,
        max(card_no) as card_no,
        count(*) as line_count,
        cast(sum(net_amount) as decimal(18, 2)) as net_amount
    from lines
    group by txn_id, business_day

)

select
    transactions.txn_id,
    transactions.business_day,
    transactions.store_id,
    transactions.sales_day,
    transactions.card_no,
    cast(transactions.line_count as bigint) as line_count,
    transactions.net_amount,
    transactions.net_amount > 0 as is_purchase,
    transactions.net_amount < 0 as is_return,
    case
        when transactions.net_amount > 0 then {{ points_for_amount('transactions.net_amount') }}
        when transactions.net_amount < 0 then -{{ points_for_amount('abs(transactions.net_amount)') }}
        else 0
    end as base_points,
    days.loaded_watermark
from transactions
inner join days
    on days.business_day = transactions.business_day
