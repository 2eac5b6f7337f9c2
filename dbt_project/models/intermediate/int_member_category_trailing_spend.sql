{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_trailing_members_to_refresh') }}
-- One row per member and product category with sales in the trailing window of tiers.basis_days
-- days ending on D (the trailing year by default): the member's net spend in that category.
-- The one place both category views of the trailing year read: each member's favourite category
-- and the category champions (both take spend > 0).
-- Member-keyed (macros/change_record.sql): a run replaces all rows of the members of
-- int_trailing_members_to_refresh; one left with no sale in the window gets a row with a null
-- category and spend 0 (readers skip it).
with window_spend as (

    select
        member_id,
        category,
        cast(sum(spend) as decimal(18, 2)) as spend
    from {{ ref('int_member_category_daily_sales') }}
    where sales_day >= {{ trailing_window_start(program_number('tiers.basis_days', min=1)) }}
        and sales_day <= {{ as_of_date() }}
        and {{ in_members_to_refresh(members='int_trailing_members_to_refresh') }}
    group by member_id, category

)

select member_id, category, spend
from window_spend
{%- if is_incremental() %}

union all

-- refreshed members with no sale left in the window: their previous rows are replaced by this one
select
    refreshed.member_id,
    cast(null as {{ dbt.type_string() }}),
    cast(0 as decimal(18, 2))
from {{ ref('int_trailing_members_to_refresh') }} as refreshed
where refreshed.member_id not in (select member_id from window_spend)
{%- endif %}
