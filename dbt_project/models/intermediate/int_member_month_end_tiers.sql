-- Month-end tier evaluations: one row per member and month-end strictly before D on or
-- after the member's join_date. The tier of each (member, month_end) is evaluated on the
-- trailing window month_end-(basis_days-1) .. month_end with the configured scheme, from
-- the daily aggregate. Qualifying points are base points (no multipliers), so tiers never
-- depend on themselves. The evaluation at the last month-end strictly before a day sets the
-- tier multiplier of that day's purchases.
-- Computed without a range join of evaluations x days (members x month-ends x days ran for
-- minutes at chain scale): a window S .. month_end (S = month_end - (basis_days - 1)) is the
-- days of S's month from S on, plus the whole months after it up to the month-end; whole
-- months come from running monthly totals (cumulative at the month-end minus cumulative at
-- S's month), the partial month from an equality join on (member, S's month).
{%- set basis_days = program_number('tiers.basis_days', min=1) %}

with evaluations as (

    select
        members.member_id,
        month_ends.month_start,
        month_ends.month_end,
        {{ trailing_window_start(basis_days, 'month_ends.month_end') }} as window_start,
        cast({{ dbt.date_trunc('month', trailing_window_start(basis_days, 'month_ends.month_end')) }} as date)
            as window_start_month
    from {{ ref('int_members_as_of') }} as members
    inner join {{ ref('int_month_ends') }} as month_ends
        on month_ends.month_end >= members.join_date
        and month_ends.month_end < {{ as_of_date() }}

),

daily as (

    select
        member_id,
        sales_day,
        cast({{ dbt.date_trunc('month', 'sales_day') }} as date) as month_start,
        spend,
        purchase_transactions,
        base_points
    from {{ ref('int_member_daily_sales') }}
    where sales_day < {{ as_of_date() }}

),

monthly as (

    select
        member_id,
        month_start,
        sum(spend) as spend,
        sum(purchase_transactions) as purchase_transactions,
        sum(base_points) as base_points
    from daily
    group by member_id, month_start

),

cumulative as (

    select
        evaluations.member_id,
        evaluations.month_start,
        sum(coalesce(monthly.spend, 0)) over (
            partition by evaluations.member_id order by evaluations.month_start
            rows between unbounded preceding and current row) as spend,
        sum(coalesce(monthly.purchase_transactions, 0)) over (
            partition by evaluations.member_id order by evaluations.month_start
            rows between unbounded preceding and current row) as purchase_transactions,
        sum(coalesce(monthly.base_points, 0)) over (
            partition by evaluations.member_id order by evaluations.month_start
            rows between unbounded preceding and current row) as base_points
    from evaluations
    left join monthly
        on monthly.member_id = evaluations.member_id
        and monthly.month_start = evaluations.month_start

),

partial_month as (

    select
        evaluations.member_id,
        evaluations.month_end,
        sum(daily.spend) as spend,
        sum(daily.purchase_transactions) as purchase_transactions,
        sum(daily.base_points) as base_points
    from evaluations
    inner join daily
        on daily.member_id = evaluations.member_id
        and daily.month_start = evaluations.window_start_month
        and daily.sales_day >= evaluations.window_start
    group by evaluations.member_id, evaluations.month_end

),

measured as (

    select
        evaluations.member_id,
        evaluations.month_end,
        cast(
            coalesce(through_month.spend, 0) - coalesce(through_start_month.spend, 0) + coalesce(partial_month.spend, 0)
            as decimal(18, 2)) as trailing_spend,
        cast(
            coalesce(through_month.purchase_transactions, 0) - coalesce(through_start_month.purchase_transactions, 0)
            + coalesce(partial_month.purchase_transactions, 0)
            as bigint) as trailing_transactions,
        cast(
            coalesce(through_month.base_points, 0) - coalesce(through_start_month.base_points, 0)
            + coalesce(partial_month.base_points, 0)
            as bigint) as trailing_qualifying_points
    from evaluations
    inner join cumulative as through_month
        on through_month.member_id = evaluations.member_id
        and through_month.month_start = evaluations.month_start
    left join cumulative as through_start_month
        on through_start_month.member_id = evaluations.member_id
        and through_start_month.month_start = evaluations.window_start_month
    left join partial_month
        on partial_month.member_id = evaluations.member_id
        and partial_month.month_end = evaluations.month_end

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
    trailing_qualifying_points
from ranked
