{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='month_end',
    partition_by=['month_end'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- depends_on: {{ ref('int_build_scope') }}
-- depends_on: {{ ref('int_changed_members') }}
-- Segment history: every member's pyramid segment at each month-end strictly before D (the
-- month-ends of the tier evaluations), from the first month-end on or after the first POS day,
-- drawn by the rule of section 5 (macro pyramid_segments_ctes) on the trailing year to that
-- month-end. The population of a month-end: members already joined and not cancelled in their
-- version on that day (the latest dated on or before it; a member's first version counts from
-- the start, like a sale before the record's timestamp).
-- Partitioned by month-end, rewritten with the tier evaluations it reads (first_month_end_to_evaluate).
with first_pos_month_end as (

    select cast({{ dbt.last_day('min(business_day)', 'month') }} as date) as month_end
    from {{ ref('int_pos_transactions_by_day') }}

),

evaluations as (

    select
        tiers.month_end,
        tiers.member_id,
        tiers.trailing_spend,
        tiers.trailing_purchase_months
    from {{ ref('int_member_month_end_tiers') }} as tiers
    inner join {{ ref('int_member_versions') }} as versions
        on versions.member_id = tiers.member_id
        and (versions.effective_from is null or cast(versions.effective_from as date) <= tiers.month_end)
        and (versions.valid_to is null or cast(versions.valid_to as date) > tiers.month_end)
    where tiers.month_end >= (select month_end from first_pos_month_end)
        and versions.status <> 'cancelled'
        and versions.join_date <= tiers.month_end
    {%- if is_incremental() %}
        and tiers.month_end >= {{ first_month_end_to_evaluate() }}
    {%- endif %}

),

{{ pyramid_segments_ctes('evaluations', keys=['month_end']) }}

select
    month_end,
    member_id,
    segment,
    rank_segment,
    one_off_capped,
    cast(spend_rank as bigint) as spend_rank,
    cast(population_size as bigint) as population_size,
    trailing_spend,
    trailing_purchase_months
from pyramid_segments
