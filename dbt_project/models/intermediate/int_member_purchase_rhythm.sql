{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_members_to_refresh') }}
-- One row per member with at least one purchase day (a day with a purchase transaction,
-- days <= D): first, second and last purchase day, number of distinct purchase days, the
-- median gap in days between consecutive purchase days (macro purchase_rhythm_ctes), and the
-- category of the second purchase day (the category with most spend bought that day, ties by name).
-- Member-keyed (macros/change_record.sql): a run recomputes the members of int_members_to_refresh;
-- one of them left with no purchase day gets a row with purchase_days = 0 (readers skip it).
with purchase_days as (

    -- one row per purchase day (a sales day may come under two business days)
    select distinct member_id, sales_day
    from {{ ref('int_member_daily_sales') }}
    where purchase_transactions > 0
        and {{ in_members_to_refresh() }}

),

{{ purchase_rhythm_ctes('purchase_days', ['member_id']) }},

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
            inner join rhythm
                on rhythm.member_id = daily.member_id
                and rhythm.second_purchase_date = daily.sales_day
            group by daily.member_id, daily.category
            having max(case when daily.is_purchase_day then 1 else 0 end) = 1
        ) as category_days
    ) as ranked
    where category_rank = 1

)

select
    rhythm.member_id,
    rhythm.first_purchase_date,
    rhythm.second_purchase_date,
    second_purchase_category.category as second_purchase_category,
    rhythm.last_purchase_date,
    rhythm.purchase_days,
    rhythm.median_gap_days
from rhythm
left join second_purchase_category
    on second_purchase_category.member_id = rhythm.member_id
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
where refreshed.member_id not in (select member_id from rhythm)
{%- endif %}
