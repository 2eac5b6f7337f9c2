{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_members_to_refresh') }}
-- One row per member and category bought on at least one day (days <= D): distinct purchase
-- days of the category, the last one, and the median gap between consecutive ones (macro
-- purchase_rhythm_ctes: the rule of int_member_purchase_rhythm at this grain). Feeds the
-- replenishment list.
-- Member-keyed (macros/change_record.sql): a run replaces all rows of the members of
-- int_members_to_refresh; one left with no purchase day gets a row with a null category and
-- purchase_days = 0 (readers skip it).
with purchase_days as (

    -- one row per purchase day of the category (a sales day may come under two business days)
    select distinct member_id, category, sales_day
    from {{ ref('int_member_category_daily_sales') }}
    where is_purchase_day
        and {{ in_members_to_refresh() }}

),

{{ purchase_rhythm_ctes('purchase_days', ['member_id', 'category']) }}

select member_id, category, last_purchase_date, purchase_days, median_gap_days
from rhythm
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
where refreshed.member_id not in (select member_id from rhythm)
{%- endif %}
