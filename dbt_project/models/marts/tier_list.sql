-- The publishable tier list on D (outbox tier_list.csv): one row per non-cancelled member,
-- with the points balance on D from the points ledger.
select
    tiers.member_id,
    tiers.card_no,
    tiers.tier,
    pyramid.segment,
    cast(tiers.trailing_spend as decimal(14, 2)) as trailing_spend,
    tiers.trailing_transactions,
    cast(balances.points_balance as integer) as points_balance,
    {{ as_of_date() }} as as_of
from {{ ref('loyalty_tiers') }} as tiers
inner join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = tiers.member_id
inner join {{ ref('member_points_balances') }} as balances
    on balances.member_id = tiers.member_id
