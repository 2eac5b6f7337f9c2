-- The publishable tier list on D (outbox tier_list.csv): one row per non-cancelled member.
-- points_balance stays null until the points ledger exists (typed integer already).
select
    tiers.member_id,
    tiers.card_no,
    tiers.tier,
    pyramid.segment,
    cast(tiers.trailing_spend as decimal(14, 2)) as trailing_spend,
    tiers.trailing_transactions,
    cast(null as integer) as points_balance,
    {{ as_of_date() }} as as_of
from {{ ref('loyalty_tiers') }} as tiers
inner join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = tiers.member_id
