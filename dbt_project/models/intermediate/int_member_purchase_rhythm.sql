{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_members_to_refresh') }}
-- One row per member with at least one purchase day (a day with a purchase transaction,
-- days <= D): first, second and last purchase day, number of distinct purchase days, and the
-- median gap in days between consecutive purchase days (even number of gaps: the mean of the
-- two middle ones; null with fewer than 2 purchase days), and the category of the second
-- purchase day (the category with most spend bought that day, ties by name).
-- Member-keyed (macros/change_record.sql): a run recomputes the members of int_members_to_refresh;
-- one of them left with no purchase day gets a row with purchase_days = 0 (readers skip it).
with purchase_days as (

    select
        member_id,
        sales_day,
        row_number() over (partition by member_id order by sales_day) as day_number,
        lag(sales_day) over (partition by member_id order by sales_day) as previous_day
    from (
        -- one row per purchase day (a sales day may come under two business days)
        select distinct member_id, sales_day
        from {{ ref('int_member_daily_sales') }}
        where purchase_transactions > 0
            and {{ in_members_to_refresh() }}
    ) as distinct_days

),

gaps as (

    select member_id, {{ dbt.datediff('previous_day', 'sales_day', 'day') }} as gap_days
    from purchase_days
    where previous_day is not null

),

medians as (

    {{ median_by('gaps', ['member_id'], 'gap_days') }}

),

summary as (

    select
        member_id,
        min(sales_day) as first_purchase_date,
        min(case when day_number = 2 then sales_day end) as second_purchase_date,
        max(sales_day) as last_purchase_date,
        count(*) as purchase_days
    from purchase_days
    group by member_id

),

second_purchase_category as (

    select member_id, category
    from (
        select
            category_days.member_id,
            category_days.category,
            row_number() over (
                partition by category_days.member_id
                order by category_days.spend desc, category_days.category
            ) as category_rank
        from (
            -- the day's spend per category, summed over business days
            select daily.member_id, daily.category, sum(daily.spend) as spend
            from {{ ref('int_member_category_daily_sales') }} as daily
            inner join summary
                on summary.member_id = daily.member_id
                and summary.second_purchase_date = daily.sales_day
            group by daily.member_id, daily.category
            having max(case when daily.is_purchase_day then 1 else 0 end) = 1
        ) as category_days
    ) as ranked
    where category_rank = 1

)

select
    summary.member_id,
    summary.first_purchase_date,
    summary.second_purchase_date,
    second_purchase_category.category as second_purchase_category,
    summary.last_purchase_date,
    cast(summary.purchase_days as bigint) as purchase_days,
    medians.median_value as median_gap_days
from summary
left join medians
    on medians.member_id = summary.member_id
left join second_purchase_category
    on second_purchase_category.member_id = summary.member_id
{%- if is_incremental() %}

union all

-- refreshed members with no purchase day left: their previous row is replaced by this one
select
    refreshed.member_id,
    cast(null as date),
    cast(null as date),
    cast(null as {{ dbt.type_string() }}),
    cast(null as date),
    cast(0 as bigint),
    cast(null as decimal(18, 1))
from {{ ref('int_members_to_refresh') }} as refreshed
where refreshed.member_id not in (select member_id from summary)
{%- endif %}
