-- Monthly churn at each month-end on or before D: base = members with a purchase in the
-- retention.churn_window_days days ending on the previous month-end; churned = those of the
-- base without a purchase in the window ending on this month-end; churn_rate = churned / base
-- (null when the base is empty).
{%- set window_days = program_number('retention.churn_window_days', min=1) %}

with month_ends as (

    select
        month_end,
        cast({{ dbt.dateadd('day', -1, 'month_start') }} as date) as previous_month_end
    from {{ ref('int_month_ends') }}
    where month_end <= {{ as_of_date() }}

),

purchase_days as (

    select member_id, sales_day
    from {{ ref('int_member_daily_sales') }}
    where purchase_transactions > 0

),

active_before as (

    select distinct month_ends.month_end, purchase_days.member_id
    from month_ends
    inner join purchase_days
        on purchase_days.sales_day <= month_ends.previous_month_end
        and purchase_days.sales_day >= {{ trailing_window_start(window_days, 'month_ends.previous_month_end') }}

),

active_now as (

    select distinct month_ends.month_end, purchase_days.member_id
    from month_ends
    inner join purchase_days
        on purchase_days.sales_day <= month_ends.month_end
        and purchase_days.sales_day >= {{ trailing_window_start(window_days, 'month_ends.month_end') }}

),

counts as (

    select
        active_before.month_end,
        count(*) as base_members,
        sum(case when active_now.member_id is null then 1 else 0 end) as churned_members
    from active_before
    left join active_now
        on active_now.month_end = active_before.month_end
        and active_now.member_id = active_before.member_id
    group by active_before.month_end

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
