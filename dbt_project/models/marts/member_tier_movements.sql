{{ config(materialized='month_end_history') }}
-- depends_on: {{ ref('int_month_ends_to_evaluate') }}
-- Tier movements: every change of tier between two consecutive month-end evaluations of a
-- member (before D). upgrade = to a better tier (lower tier_rank), downgrade = to a worse one.
-- Rebuilt whole from the tier changes (int_member_tier_changes: the evaluations that changed the
-- tier, with the one before each) when a month-end is evaluated again, else kept
-- (materialization month_end_history).
select
    member_id,
    previous_month_end as from_evaluated_on,
    month_end as to_evaluated_on,
    previous_tier as from_tier,
    tier as to_tier,
    case when tier_rank < previous_tier_rank then 'upgrade' else 'downgrade' end as movement,
    {{ add_days('month_end', 1) }} as effective_from
from {{ ref('int_member_tier_changes') }}
where previous_tier is not null
