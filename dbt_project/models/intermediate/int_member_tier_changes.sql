{{ config(materialized='month_end_history') }}
-- depends_on: {{ ref('int_month_ends_to_evaluate') }}
-- One row per member and month-end evaluation that opens a tier period: the first evaluation
-- after joining, then each evaluation whose tier differs from the member's evaluation before
-- it (carried along: its month-end, tier and rank). The one pass over the month-end
-- evaluations (20M rows at 1M members) that the tier history and the tier movements share;
-- each of them then reads these ~1M rows.
with evaluations as (

    select
        member_id,
        month_end,
        tier,
        tier_rank,
        lag(month_end) over (partition by member_id order by month_end) as previous_month_end,
        lag(tier) over (partition by member_id order by month_end) as previous_tier,
        lag(tier_rank) over (partition by member_id order by month_end) as previous_tier_rank
    from {{ ref('int_member_month_end_tiers') }}

)

select
    member_id,
    month_end,
    tier,
    tier_rank,
    previous_month_end,
    previous_tier,
    previous_tier_rank
from evaluations
where previous_tier is null or previous_tier <> tier
