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

)

select
    member_id,
    month_end,
    {{ tier_attribute('tier_rank', 'name') }} as tier,
    tier_rank,
    {{ tier_attribute('tier_rank', 'multiplier') }} as points_multiplier,
    trailing_spend,
    trailing_transactions,
    trailing_qualifying_points,
    trailing_purchase_months
from ranked
