{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='month_end',
    partition_by=['month_end'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- depends_on: {{ ref('int_build_scope') }}
-- depends_on: {{ ref('int_changed_members') }}
-- Month-end tier evaluations: one row per member and month-end strictly before D on or
-- after the member's join_date. The tier of each (member, month_end) is evaluated on the
-- trailing window month_end-(basis_days-1) .. month_end with the configured scheme, from
-- the daily aggregate. Qualifying points are base points (no multipliers), so tiers never
-- depend on themselves. The evaluation at the last month-end strictly before a day sets the
-- tier multiplier of that day's purchases.
-- Partitioned by month-end: a run evaluates the month-ends reached since the last build (the
-- first run of a month) and re-evaluates those from the earliest sales day whose member spend
-- may have changed (macro first_month_end_to_evaluate: a corrected day, a moved attribution).
-- trailing_purchase_months feeds the month-end pyramid (member_segment_history).
-- previous_month_end and previous_tier_rank (the member's evaluation before) make the tier
-- movements and history a filter over this table instead of a window over every evaluation.
with month_ends as (

    select month_ends.month_end
    from {{ ref('int_month_ends') }} as month_ends
    where month_ends.month_end < {{ as_of_date() }}
    {%- if is_incremental() %}
        and month_ends.month_end >= {{ first_month_end_to_evaluate() }}
    {%- endif %}

),

evaluations as (

    select members.member_id, month_ends.month_end
    from {{ ref('int_members_as_of') }} as members
    inner join month_ends
        on month_ends.month_end >= members.join_date

),

window_sales as (

    {{ trailing_member_sales('evaluations', 'evaluations.month_end', keys=['month_end'], purchase_months=true) }}

),

measured as (

    select
        evaluations.member_id,
        evaluations.month_end,
        cast(coalesce(window_sales.spend, 0) as decimal(18, 2)) as trailing_spend,
        cast(coalesce(window_sales.purchase_transactions, 0) as bigint) as trailing_transactions,
        cast(coalesce(window_sales.purchase_months, 0) as bigint) as trailing_purchase_months,
        cast(coalesce(window_sales.base_points, 0) as bigint) as trailing_qualifying_points
    from evaluations
    left join window_sales
        on window_sales.member_id = evaluations.member_id
        and window_sales.month_end = evaluations.month_end

),

ranked as (

    select *, {{ tier_rank_case('measured') }} as tier_rank
    from measured

),

-- the member's evaluation before each one (the month-end before; consecutive from joining): in an
-- incremental run the first month-end evaluated again takes it from the evaluations kept
sequence as (

    select member_id, month_end, tier_rank, true as is_evaluated
    from ranked
    {%- if is_incremental() %}

    union all

    select member_id, month_end, tier_rank, false
    from {{ this }}
    where month_end = {{ month_end_before(first_month_end_to_evaluate()) }}
    {%- endif %}

),

with_previous as (

    select
        member_id,
        month_end,
        is_evaluated,
        lag(month_end) over (partition by member_id order by month_end) as previous_month_end,
        lag(tier_rank) over (partition by member_id order by month_end) as previous_tier_rank
    from sequence

)

select
    ranked.member_id,
    ranked.month_end,
    {{ tier_attribute('ranked.tier_rank', 'name') }} as tier,
    ranked.tier_rank,
    {{ tier_attribute('ranked.tier_rank', 'multiplier') }} as points_multiplier,
    ranked.trailing_spend,
    ranked.trailing_transactions,
    ranked.trailing_qualifying_points,
    ranked.trailing_purchase_months,
    with_previous.previous_month_end,
    with_previous.previous_tier_rank
from ranked
inner join with_previous
    on with_previous.member_id = ranked.member_id
    and with_previous.month_end = ranked.month_end
    and with_previous.is_evaluated
