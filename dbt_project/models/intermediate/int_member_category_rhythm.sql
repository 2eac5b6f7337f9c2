-- One row per member and category bought on at least one day (days <= D): distinct purchase
-- days of the category, the last one, and the median gap between consecutive ones (even
-- number of gaps: mean of the two middle ones). Feeds the replenishment list.
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
