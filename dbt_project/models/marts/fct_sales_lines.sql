{{ config(
    materialized='incremental',
    incremental_strategy=business_day_incremental_strategy(),
    unique_key='business_day',
    on_schema_change='fail',
    pre_hook="{{ delete_days_after_as_of() }}"
) }}
-- The sales fact: every staged POS line (days <= D) with its transaction's member.
-- Non-member lines (no card, unknown card, card used before joining) keep member_id null.
-- Incremental by business day: a run (re)builds the days that are new, whose files were
-- loaded or corrected after the day's loaded_watermark, or whose member attribution changed
-- (a late member file, a reissued card, a rebuild of an earlier D), and drops days > D.
{%- set attribution_changed_days %}
    select distinct built.business_day
    from {{ this }} as built
    left join {{ ref('int_card_day_members') }} as attribution
        on attribution.card_no = built.card_no
        and attribution.sales_day = built.sales_day
    where built.card_no is not null
        and built.business_day <= {{ as_of_date() }}
        and coalesce(built.member_id, '') <> coalesce(attribution.member_id, '')
{%- endset %}

with days as (

    {{ business_days_to_process(attribution_changed_days) }}

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
    lines.business_day,
    days.loaded_watermark
from {{ ref('stg_pos__lines') }} as lines
inner join days
    on days.business_day = lines.business_day
inner join {{ ref('int_pos_transactions_by_day') }} as transactions
    on transactions.txn_id = lines.txn_id
    and transactions.business_day = lines.business_day
left join {{ ref('int_card_day_members') }} as attribution
    on attribution.card_no = transactions.card_no
    and attribution.sales_day = transactions.sales_day
