{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_members_to_rebuild('month_end >= ' ~ as_of_date()) }}"
) }}
-- Month-end tier evaluations: one row per member and month-end strictly before D on or
-- after the member's join_date. The tier of each (member, month_end) is evaluated on the
-- trailing window month_end-(basis_days-1) .. month_end with the configured scheme, from
-- the daily aggregate. Qualifying points are base points (no multipliers), so tiers never
-- depend on themselves. The evaluation at the last month-end strictly before a day sets the
-- tier multiplier of that day's purchases.
-- Member-keyed incremental: a run evaluates every month-end of the members whose
-- input_fingerprint changed, and the month-ends not evaluated yet (the first run of a month)
-- of every other member; evaluations on or after D are dropped (a rebuild of an earlier D).
{#- Every (member, month-end before D on or after joining), with the member's fingerprint. -#}
{%- set member_month_ends %}
    select
        members.member_id,
        month_ends.month_end,
        fingerprints.input_fingerprint
    from {{ ref('int_members_as_of') }} as members
    inner join {{ ref('int_member_fingerprints') }} as fingerprints
        on fingerprints.member_id = members.member_id
    inner join {{ ref('int_month_ends') }} as month_ends
        on month_ends.month_end >= members.join_date
        and month_ends.month_end < {{ as_of_date() }}
{%- endset %}

with members_to_rebuild as (

    {{ members_to_rebuild() }}

),

evaluations as (

    {{ member_month_ends }}
    {%- if is_incremental() %}
    where members.member_id in (select member_id from members_to_rebuild)

    union all

    -- the month-ends evaluated for nobody yet, for every member kept as is (a union, not an
    -- OR: each half filters its own scan)
    {{ member_month_ends }}
    where members.member_id not in (select member_id from members_to_rebuild)
        and month_ends.month_end > (
            select coalesce(max(month_end), cast('1900-01-01' as date)) from {{ this }}
        )
    {%- endif %}

),

window_sales as (

    select
        evaluations.member_id,
        evaluations.month_end,
        sum(daily.spend) as spend,
        sum(daily.purchase_transactions) as purchase_transactions,
        sum(daily.base_points) as base_points
    from evaluations
    inner join {{ ref('int_member_daily_sales') }} as daily
        on daily.member_id = evaluations.member_id
        and daily.sales_day <= evaluations.month_end
        and daily.sales_day >= {{ trailing_window_start(program_number('tiers.basis_days', min=1), 'evaluations.month_end') }}
    group by evaluations.member_id, evaluations.month_end

),

measured as (

    select
        evaluations.member_id,
        evaluations.month_end,
        evaluations.input_fingerprint,
        cast(coalesce(window_sales.spend, 0) as decimal(18, 2)) as trailing_spend,
        cast(coalesce(window_sales.purchase_transactions, 0) as bigint) as trailing_transactions,
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
    input_fingerprint
from ranked
