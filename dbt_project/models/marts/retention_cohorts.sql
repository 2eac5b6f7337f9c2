-- Retention by monthly join cohort: for each cohort (month of join_date, all members) and each
-- month from the join month up to D's month, the share of the cohort with a purchase
-- transaction in that month (D's month is partial: up to D).
with members as (

    select member_id, cast({{ dbt.date_trunc('month', 'join_date') }} as date) as cohort_month
    from {{ ref('int_members_as_of') }}

),

cohorts as (

    select cohort_month, count(*) as cohort_size
    from members
    group by cohort_month

),

purchasers as (

    select distinct member_id, cast({{ dbt.date_trunc('month', 'sales_day') }} as date) as activity_month
    from {{ ref('int_member_daily_sales') }}
    where purchase_transactions > 0

),

activity as (

    select members.cohort_month, purchasers.activity_month, count(*) as active_members
    from purchasers
    inner join members
        on members.member_id = purchasers.member_id
    group by members.cohort_month, purchasers.activity_month

)

select
    cohorts.cohort_month,
    month_ends.month_start as activity_month,
    cast({{ dbt.datediff('cohorts.cohort_month', 'month_ends.month_start', 'month') }} as integer) as months_since_join,
    cast(cohorts.cohort_size as bigint) as cohort_size,
    cast(coalesce(activity.active_members, 0) as bigint) as active_members,
    cast(cast(coalesce(activity.active_members, 0) as decimal(18, 6)) / cohorts.cohort_size as decimal(9, 6)) as retention_rate
from cohorts
inner join {{ ref('int_month_ends') }} as month_ends
    on month_ends.month_start >= cohorts.cohort_month
left join activity
    on activity.cohort_month = cohorts.cohort_month
    and activity.activity_month = month_ends.month_start
