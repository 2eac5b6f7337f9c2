{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_members_to_rebuild(latest_month_end_changed()) }}"
) }}
-- Tier history (from the month-end evaluations before D): one row per member and period of an
-- unchanged tier. A month-end evaluation takes effect the next day (effective_from = month_end + 1),
-- which is when it starts driving the points multiplier; effective_to is the last day of the
-- period (null for the current one). The first evaluation after joining opens the history.
-- Member-keyed incremental: a run rebuilds the members whose input_fingerprint changed, and
-- everyone when the latest month-end changed (a new month, or a rebuild of an earlier D):
-- evaluated_through records the latest month-end the rows were built with.
with members as (

    {{ members_to_rebuild() }}

),

evaluations as (

    select
        member_id,
        month_end,
        tier,
        tier_rank,
        lag(tier) over (partition by member_id order by month_end) as previous_tier
    from {{ ref('int_member_month_end_tiers') }}
    where member_id in (select member_id from members)

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
    changes.member_id,
    changes.tier,
    changes.tier_rank,
    changes.previous_tier,
    changes.evaluated_on,
    changes.effective_from,
    {{ add_days("lead(changes.effective_from) over (partition by changes.member_id order by changes.effective_from)", -1) }} as effective_to,
    lead(changes.effective_from) over (partition by changes.member_id order by changes.effective_from) is null as is_current,
    fingerprints.input_fingerprint,
    latest.evaluated_through
from changes
inner join {{ ref('int_member_fingerprints') }} as fingerprints
    on fingerprints.member_id = changes.member_id
cross join (
    select max(month_end) as evaluated_through from {{ ref('int_member_month_end_tiers') }}
) as latest
