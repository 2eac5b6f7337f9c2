{{ config(materialized='month_end_history') }}
-- depends_on: {{ ref('int_month_ends_to_evaluate') }}
-- Tier history (from the month-end evaluations before D): one row per member and period of an
-- unchanged tier. A month-end evaluation takes effect the next day (effective_from = month_end + 1),
-- which is when it starts driving the points multiplier; effective_to is the last day of the
-- period (null for the current one). The first evaluation after joining opens the history.
-- Rebuilt whole from the tier changes (int_member_tier_changes) when a month-end is evaluated
-- again, else kept (materialization month_end_history).
with changes as (

    select
        member_id,
        month_end as evaluated_on,
        tier,
        tier_rank,
        previous_tier,
        {{ add_days('month_end', 1) }} as effective_from
    from {{ ref('int_member_tier_changes') }}

)

select
    changes.member_id,
    changes.tier,
    changes.tier_rank,
    changes.previous_tier,
    changes.evaluated_on,
    changes.effective_from,
    {{ add_days("lead(changes.effective_from) over (partition by changes.member_id order by changes.effective_from)", -1) }} as effective_to,
    lead(changes.effective_from) over (partition by changes.member_id order by changes.effective_from) is null as is_current
from changes
