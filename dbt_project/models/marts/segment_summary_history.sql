{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='period_end',
    partition_by=['period_end'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- depends_on: {{ ref('int_build_scope') }}
-- depends_on: {{ ref('int_changed_members') }}
-- Segment and store summary at each month-end of member_segment_history (macro
-- segment_summary_ctes), chain-wide and per enrolment store. Partitioned by month-end and
-- rewritten with the segment history it reads (first_month_end_to_evaluate).
with members as (

    select
        history.month_end as period_end,
        history.member_id,
        members.join_store_id,
        history.segment,
        history.trailing_spend
    from {{ ref('member_segment_history') }} as history
    inner join {{ ref('int_members_as_of') }} as members
        on members.member_id = history.member_id
    {%- if is_incremental() %}
    where history.month_end >= {{ first_month_end_to_evaluate() }}
    {%- endif %}

),

{{ segment_summary_ctes('members') }}

select * from segment_summary_rows
