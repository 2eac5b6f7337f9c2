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
-- Segment migration matrix between consecutive month-ends of member_segment_history: one row per
-- month-end (the later one), enrolment store, segment at the previous month-end and segment at
-- this one, counting members, those who stay included; '(none)' for a member in only one of the
-- two (joined, or cancelled, in between). trailing_spend = the members' trailing-year spend at
-- the later month-end (0 for those who left). Stores add up to the chain. The first month-end of
-- the history has no previous one and no rows.
with history as (

    select month_end, member_id, segment, trailing_spend
    from {{ ref('member_segment_history') }}

),

month_pairs as (

    select
        later.month_end,
        {{ month_end_before('later.month_end') }} as previous_month_end
    from (select distinct month_end from history) as later
    where {{ month_end_before('later.month_end') }} >= (select min(month_end) from history)
    {%- if is_incremental() %}
        and later.month_end >= {{ first_month_end_to_evaluate() }}
    {%- endif %}

),

later as (

    select history.month_end, history.member_id, history.segment, history.trailing_spend
    from history
    inner join month_pairs
        on month_pairs.month_end = history.month_end

),

earlier as (

    select month_pairs.month_end, history.member_id, history.segment
    from history
    inner join month_pairs
        on month_pairs.previous_month_end = history.month_end

),

moves as (

    select
        coalesce(later.month_end, earlier.month_end) as month_end,
        coalesce(later.member_id, earlier.member_id) as member_id,
        coalesce(earlier.segment, '(none)') as from_segment,
        coalesce(later.segment, '(none)') as to_segment,
        coalesce(later.trailing_spend, 0) as trailing_spend
    from later
    full outer join earlier
        on earlier.month_end = later.month_end
        and earlier.member_id = later.member_id

)

select
    moves.month_end,
    members.join_store_id,
    moves.from_segment,
    moves.to_segment,
    cast(count(*) as bigint) as members,
    cast(sum(moves.trailing_spend) as decimal(18, 2)) as trailing_spend
from moves
inner join {{ ref('int_members_as_of') }} as members
    on members.member_id = moves.member_id
group by moves.month_end, members.join_store_id, moves.from_segment, moves.to_segment
