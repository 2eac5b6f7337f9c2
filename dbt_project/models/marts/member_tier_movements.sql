{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_members_to_rebuild(latest_month_end_changed()) }}"
) }}
-- Tier movements: every change of tier between two consecutive month-end evaluations of a
-- member (before D). upgrade = to a better tier (lower tier_rank), downgrade = to a worse one.
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
        lag(month_end) over (partition by member_id order by month_end) as previous_month_end,
        lag(tier) over (partition by member_id order by month_end) as previous_tier,
        lag(tier_rank) over (partition by member_id order by month_end) as previous_tier_rank
    from {{ ref('int_member_month_end_tiers') }}
    where member_id in (select member_id from members)

)

select
    evaluations.member_id,
    evaluations.previous_month_end as from_evaluated_on,
    evaluations.month_end as to_evaluated_on,
    evaluations.previous_tier as from_tier,
    evaluations.tier as to_tier,
    case when evaluations.tier_rank < evaluations.previous_tier_rank then 'upgrade' else 'downgrade' end as movement,
    {{ add_days('evaluations.month_end', 1) }} as effective_from,
    fingerprints.input_fingerprint,
    latest.evaluated_through
from evaluations
inner join {{ ref('int_member_fingerprints') }} as fingerprints
    on fingerprints.member_id = evaluations.member_id
cross join (
    select max(month_end) as evaluated_through from {{ ref('int_member_month_end_tiers') }}
) as latest
where evaluations.previous_tier is not null
    and evaluations.previous_tier_rank <> evaluations.tier_rank
