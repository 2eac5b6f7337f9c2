-- One row per non-cancelled member: the loyalty tier on D. The tier is the FIRST tier of
-- program tiers.scheme (best first) any of whose thresholds the trailing year meets; the
-- CASE is generated from the configuration (macros/tiers.sql), nothing is hard-coded here.
with trailing_year as (

    select * from {{ ref('member_trailing_year') }}

),

members as (

    select member_id, card_no
    from {{ ref('int_members_as_of') }}

),

ranked as (

    select
        trailing_year.member_id,
        members.card_no,
        trailing_year.trailing_spend,
        trailing_year.trailing_transactions,
        trailing_year.trailing_qualifying_points,
        {{ tier_rank_case('trailing_year') }} as tier_rank
    from trailing_year
    inner join members
        on members.member_id = trailing_year.member_id

)

select
    member_id,
    card_no,
    {{ as_of_date() }} as as_of_date,
    {{ tier_attribute('tier_rank', 'name') }} as tier,
    tier_rank,
    {{ tier_attribute('tier_rank', 'multiplier') }} as points_multiplier,
    {{ tier_attribute('tier_rank', 'discount') }} as member_discount,
    trailing_spend,
    trailing_transactions,
    trailing_qualifying_points
from ranked
