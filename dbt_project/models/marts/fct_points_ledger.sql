-- The points ledger (积分) as of D: one row per entry dated <= D.
--   welcome  +points.welcome_bonus on join_date (every member, cancelled ones too);
--   earn     per purchase transaction floor(sum(net_amount * m_line) / yuan_per_point), remainders earn nothing;
--   return   per return transaction -floor(sum(-net_amount * m_orig) / yuan_per_point), posted
--            return_posting_delay_days after the return (a return on D is posted on D+1: not yet in the ledger);
--   redeem   -points of each accepted redemption (activated, non-cancelled card), on its day;
--   adjust   signed points of each manual adjustment of a known member, on its day.
-- multiplier: the highest points multiplier of the transaction's lines (earn/return), else null.
-- Partitioned by entry day (business_day = entry_date): a run rewrites the days the record of
-- what changed lists for the ledger (int_days_to_rebuild: the rewritten POS days, the returns
-- they post later, returns coming due as D moves, new welcome, redemption and adjustment entries,
-- changed members' entries). A POS line's sales day is its file's business day (the contract),
-- so earn entries of day X come from business day X and returns posted on X from X - delay.
{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
{%- set delay = program_number('points.return_posting_delay_days', min=0) %}

with entries as (

    select
        member_id,
        join_date as entry_date,
        'welcome' as entry_type,
        cast({{ program_number('points.welcome_bonus', min=0) }} as integer) as points,
        cast(null as {{ dbt.type_string() }}) as source_id,
        cast(null as decimal(9, 2)) as multiplier
    from {{ ref('int_members_as_of') }}
    where {{ in_days_to_rebuild('join_date', ledger=true) }}

    union all

    select
        member_id,
        sales_day,
        'earn',
        {{ points_for_amount('weighted_amount') }},
        txn_id,
        multiplier
    from {{ ref('int_member_transaction_points') }}
    where is_purchase
        and {{ in_days_to_rebuild(ledger=true) }}

    union all

    select
        member_id,
        {{ add_days('sales_day', delay) }},
        'return',
        -{{ points_for_amount('-weighted_amount') }},
        txn_id,
        multiplier
    from {{ ref('int_member_transaction_points') }}
    where is_return
        and {{ in_days_to_rebuild(add_days('sales_day', delay), ledger=true) }}

    union all

    select
        member_id,
        redeemed_day,
        'redeem',
        -cast(points as integer),
        redemption_id,
        cast(null as decimal(9, 2))
    from {{ ref('int_redemptions_checked') }}
    where is_accepted
        and {{ in_days_to_rebuild('redeemed_day', ledger=true) }}

    union all

    select
        adjustments.member_id,
        adjustments.adjusted_day,
        'adjust',
        cast(adjustments.points as integer),
        adjustments.adjustment_id,
        cast(null as decimal(9, 2))
    from {{ ref('stg_adjustments__adjustments') }} as adjustments
    inner join {{ ref('int_members_as_of') }} as members
        on members.member_id = adjustments.member_id
    where {{ in_days_to_rebuild('adjustments.adjusted_day', ledger=true) }}

)

select
    entries.member_id,
    cast(entries.entry_date as date) as entry_date,
    entries.entry_type,
    cast(entries.points as integer) as points,
    entries.source_id,
    cast(entries.multiplier as decimal(9, 2)) as multiplier,
    cast(entries.entry_date as date) as business_day
from entries
