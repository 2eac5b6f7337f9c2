{#
  Retention by monthly join cohort, one place for the rule (int_retention_closed_months,
  retention_cohorts): for each cohort (the month of join_date, every member as of D) and each
  activity month of `activity_months` (a select of month_start) from the cohort month on, the
  share of the cohort with a purchase transaction in that month (up to D). `purchases_from`: the
  first sales day read (a date expression; none reads every day).
  Emits CTEs to follow a `with`; the last, `retention`, is the one the model reads.
#}
{% macro retention_ctes(activity_months, purchases_from=none) -%}
retention_members as (

    select member_id, cast({{ dbt.date_trunc('month', 'join_date') }} as date) as cohort_month
    from {{ ref('int_members_as_of') }}

),

retention_cohorts as (

    select cohort_month, count(*) as cohort_size
    from retention_members
    group by cohort_month

),

retention_purchasers as (

    select distinct member_id, cast({{ dbt.date_trunc('month', 'sales_day') }} as date) as activity_month
    from {{ ref('int_member_daily_sales') }}
    where purchase_transactions > 0
        {%- if purchases_from is not none %}
        and sales_day >= {{ purchases_from }}
        {%- endif %}

),

retention_activity as (

    select members.cohort_month, purchasers.activity_month, count(*) as active_members
    from retention_purchasers as purchasers
    inner join retention_members as members
        on members.member_id = purchasers.member_id
    group by members.cohort_month, purchasers.activity_month

),

retention as (

    select
        cohorts.cohort_month,
        months.month_start as activity_month,
        cast({{ dbt.datediff('cohorts.cohort_month', 'months.month_start', 'month') }} as integer) as months_since_join,
        cast(cohorts.cohort_size as bigint) as cohort_size,
        cast(coalesce(activity.active_members, 0) as bigint) as active_members,
        cast(cast(coalesce(activity.active_members, 0) as decimal(18, 6)) / cohorts.cohort_size as decimal(9, 6)) as retention_rate
    from retention_cohorts as cohorts
    inner join ({{ activity_months }}) as months
        on months.month_start >= cohorts.cohort_month
    left join retention_activity as activity
        on activity.cohort_month = cohorts.cohort_month
        and activity.activity_month = months.month_start

)
{%- endmacro %}
