-- Gate: every member's balance equals the sum of their ledger entries, no points are null,
-- the tier list carries the same balance, and no ledger entry belongs to a member without one.
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'member_points_balances'}}}) }}

with ledger as (

    select member_id, sum(points) as ledger_points, sum(case when points is null then 1 else 0 end) as null_points
    from {{ ref('fct_points_ledger') }}
    group by member_id

)

select balances.member_id, balances.points_balance, ledger.ledger_points, tiers.points_balance as tier_list_balance
from {{ ref('member_points_balances') }} as balances
left join ledger
    on ledger.member_id = balances.member_id
left join {{ ref('tier_list') }} as tiers
    on tiers.member_id = balances.member_id
where balances.points_balance is null
    or balances.points_balance <> coalesce(ledger.ledger_points, 0)
    or coalesce(ledger.null_points, 0) > 0
    or (tiers.member_id is not null and tiers.points_balance is distinct from balances.points_balance)

union all

select ledger.member_id, null, ledger.ledger_points, null
from ledger
left join {{ ref('member_points_balances') }} as balances
    on balances.member_id = ledger.member_id
where balances.member_id is null
