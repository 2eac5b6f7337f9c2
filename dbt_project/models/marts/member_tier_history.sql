-- Tier history (from the month-end evaluations before D): one row per member and period of an
-- unchanged tier. A month-end evaluation takes effect the next day (effective_from = month_end + 1),
-- which is when it starts driving the points multiplier; effective_to is the last day of the
-- period (null for the current one). The first evaluation after joining opens the history.
with evaluations as (

    select
        member_id,
        month_end,
        tier,
        tier_rank,
        lag(tier) over (partition by member_id order by month_end) as previous_tier
    from {{ ref('int_member_month_end_tiers') }}

),

changes as (

    select
        member_id,
        month_end as evaluated_on,
        tier,
        tier_rank,
        previous_tier,
        {{ add_days('month_end', 1) }} as effective_from
    from evaluations
    where previous_tier is null or previous_tier <> tier

)

select
    member_id,
    tier,
    tier_rank,
    previous_tier,
    evaluated_on,
    effective_from,
    {{ add_days("lead(effective_from) over (partition by member_id order by effective_from)", -1) }} as effective_to,
    lead(effective_from) over (partition by member_id order by effective_from) is null as is_current
from changes
