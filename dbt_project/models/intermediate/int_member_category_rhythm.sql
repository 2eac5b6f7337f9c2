{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_members_to_refresh') }}
-- One row per member and category bought on at least one day (days <= D): distinct purchase
-- days of the category, the last one, and the median gap between consecutive ones (even
-- number of gaps: mean of the two middle ones). Feeds the replenishment list.
-- Member-keyed (macros/change_record.sql): a run replaces all rows of the members of
-- int_members_to_refresh; one left with no purchase day gets a row with a null category and
-- purchase_days = 0 (readers skip it).
with purchase_days as (

    select
        member_id,
        category,
        sales_day,
        lag(sales_day) over (partition by member_id, category order by sales_day) as previous_day
    from (
        -- one row per purchase day of the category (a sales day may come under two business days)
        select distinct member_id, category, sales_day
        from {{ ref('int_member_category_daily_sales') }}
        where is_purchase_day
            and {{ in_members_to_refresh() }}
    ) as distinct_days

),

gaps as (

    select member_id, category, {{ dbt.datediff('previous_day', 'sales_day', 'day') }} as gap_days
    from purchase_days
    where previous_day is not null

),

medians as (

    {{ median_by('gaps', ['member_id', 'category'], 'gap_days') }}

),

summary as (

    select member_id, category, max(sales_day) as last_purchase_date, count(*) as purchase_days
    from purchase_days
    group by member_id, category

)

select
    summary.member_id,
    summary.category,
    summary.last_purchase_date,
    cast(summary.purchase_days as bigint) as purchase_days,
    medians.median_value as median_gap_days
from summary
left join medians
    on medians.member_id = summary.member_id
    and medians.category = summary.category
{%- if is_incremental() %}

union all

-- refreshed members with no purchase day left: their previous rows are replaced by this one
select
    refreshed.member_id,
    cast(null as {{ dbt.type_string() }}),
    cast(null as date),
    cast(0 as bigint),
    cast(null as decimal(18, 1))
from {{ ref('int_members_to_refresh') }} as refreshed
where refreshed.member_id not in (select member_id from summary)
{%- endif %}
