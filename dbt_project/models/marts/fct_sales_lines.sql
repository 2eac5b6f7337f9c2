{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- The sales fact: every staged POS line (days <= D) with its transaction's member.
-- Non-member lines (no card, unknown card, card used before joining) keep member_id null.
-- Partitioned by business day: a run rewrites the days with a new or corrected file and the
-- days whose member attribution may have changed (int_days_to_rebuild).
with transactions as (

    select txn_id, business_day, card_no, sales_day
    from {{ ref('int_pos_transactions_by_day') }}
    where {{ in_days_to_rebuild(member_dependent=true) }}

),

attribution as (

    select business_day, card_no, sales_day, member_id
    from {{ ref('int_card_day_members') }}
    where {{ in_days_to_rebuild(member_dependent=true) }}

)

select
    lines.txn_id,
    lines.line_no,
    lines.store_id,
    lines.txn_ts,
    lines.sales_day,
    lines.card_no,
    attribution.member_id,
    lines.sku,
    lines.category,
    lines.qty,
    lines.unit_price,
    lines.discount,
    lines.net_amount,
    lines.original_txn_id,
    lines.business_day
from {{ ref('stg_pos__lines') }} as lines
inner join transactions
    on transactions.txn_id = lines.txn_id
    and transactions.business_day = lines.business_day
left join attribution
    on attribution.business_day = transactions.business_day
    and attribution.card_no = transactions.card_no
    and attribution.sales_day = transactions.sales_day
where {{ in_days_to_rebuild('lines.business_day', member_dependent=true) }}
