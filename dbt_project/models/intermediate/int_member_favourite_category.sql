{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_trailing_members_to_refresh') }}
-- One row per member with positive spend in some category over the trailing window
-- (tiers.basis_days, the trailing year by default): the category with the most spend
-- (ties: category name ascending).
-- Member-keyed (macros/change_record.sql), like the category spend it reads: a run recomputes
-- the members of int_trailing_members_to_refresh; one left with no positive category spend gets
-- a row with a null category (readers left join: the same as no row).
with ranked as (

    select
        member_id,
        category,
        spend,
        row_number() over (partition by member_id order by spend desc, category) as category_rank
    from {{ ref('int_member_category_trailing_spend') }}
    where spend > 0
        and {{ in_members_to_refresh(members='int_trailing_members_to_refresh') }}

),

favourites as (

    select
        member_id,
        category as favourite_category,
        cast(spend as decimal(18, 2)) as favourite_category_spend
    from ranked
    where category_rank = 1

)

select member_id, favourite_category, favourite_category_spend
from favourites
{%- if is_incremental() %}

union all

-- refreshed members with no positive category spend left: their previous row is replaced by this one
select
    refreshed.member_id,
    cast(null as {{ dbt.type_string() }}),
    cast(null as decimal(18, 2))
from {{ ref('int_trailing_members_to_refresh') }} as refreshed
where refreshed.member_id not in (select member_id from favourites)
{%- endif %}
