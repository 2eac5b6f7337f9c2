{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='month_end',
    partition_by=['month_end'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_month_ends_to_evaluate') }}
-- Monthly churn at each month-end on or before D: base = members with a purchase in the
-- retention.churn_window_days days ending on the previous month-end; churned = those of the
-- base without a purchase in the window ending on this month-end; churn_rate = churned / base
-- (null when the base is empty).
-- Partitioned by month-end: a run evaluates the month-ends of int_month_ends_to_evaluate (one
-- reached since the last build, or on or after a day whose member spend may have changed) and
-- reads only the purchase days their windows hold; every month-end <= D has a row, so each
-- evaluated partition is replaced.
{%- set window_days = program_number('retention.churn_window_days', min=1) %}

with month_ends as (

    select
        month_end,
        cast({{ dbt.dateadd('day', -1, 'month_start') }} as date) as previous_month_end
    from {{ ref('int_month_ends') }}
    where month_end <= {{ as_of_date() }}
    {%- if is_incremental() %}
        and month_end in (select month_end from {{ ref('int_month_ends_to_evaluate') }})
    {%- endif %}

),

purchase_days as (

    select distinct member_id, sales_day
    from {{ ref('int_member_daily_sales') }}
    where purchase_transactions > 0
    {%- if is_incremental() %}
        -- the first window evaluated starts window_days - 1 days before its previous month-end
        and sales_day >= (select {{ trailing_window_start(window_days, 'min(previous_month_end)') }} from month_ends)
    {%- endif %}

),

evaluation_days as (

    select month_end as evaluation_day from month_ends
    union
    select previous_month_end from month_ends

),

active as (

    -- members with a purchase in the window ending on each evaluation day (computed once: the
    -- base of a month-end is the active set of the previous month-end)
    select distinct evaluation_days.evaluation_day, purchase_days.member_id
    from evaluation_days
    inner join purchase_days
        on purchase_days.sales_day <= evaluation_days.evaluation_day
        and purchase_days.sales_day >= {{ trailing_window_start(window_days, 'evaluation_days.evaluation_day') }}

),

counts as (

    select
        month_ends.month_end,
        count(*) as base_members,
        sum(case when active_now.member_id is null then 1 else 0 end) as churned_members
    from month_ends
    inner join active as active_before
        on active_before.evaluation_day = month_ends.previous_month_end
    left join active as active_now
        on active_now.evaluation_day = month_ends.month_end
        and active_now.member_id = active_before.member_id
    group by month_ends.month_end

)

select
    month_ends.month_end,
    month_ends.previous_month_end,
    cast(coalesce(counts.base_members, 0) as bigint) as base_members,
    cast(coalesce(counts.churned_members, 0) as bigint) as churned_members,
    case
        when coalesce(counts.base_members, 0) > 0
        then cast(cast(counts.churned_members as decimal(18, 6)) / counts.base_members as decimal(9, 6))
    end as churn_rate
from month_ends
left join counts
    on counts.month_end = month_ends.month_end
