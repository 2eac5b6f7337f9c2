-- Tier movements: every change of tier between two consecutive month-end evaluations of a
-- member (before D). upgrade = to a better tier (lower tier_rank), downgrade = to a worse one.
-- Rebuilt whole each run from the month-end evaluations.
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
    evaluations.member_id,
    evaluations.previous_month_end as from_evaluated_on,
    evaluations.month_end as to_evaluated_on,
    evaluations.previous_tier as from_tier,
    evaluations.tier as to_tier,
    case when evaluations.tier_rank < evaluations.previous_tier_rank then 'upgrade' else 'downgrade' end as movement,
    {{ add_days('evaluations.month_end', 1) }} as effective_from
from evaluations
where evaluations.previous_tier is not null
    and evaluations.previous_tier_rank <> evaluations.tier_rank
