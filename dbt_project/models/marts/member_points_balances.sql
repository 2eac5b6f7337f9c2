-- One row per member (cancelled ones too): the points balance on D = the sum of all ledger
-- entries dated <= D. A balance may be negative (a return after a redemption): flagged.
with ledger as (

    select
        member_id,
        sum(points) as points_balance,
        sum(case when entry_type in ('welcome', 'earn') then points else 0 end) as points_earned,
        sum(case when entry_type = 'return' then points else 0 end) as points_returned,
        sum(case when entry_type = 'redeem' then -points else 0 end) as points_redeemed,
        sum(case when entry_type = 'adjust' then points else 0 end) as points_adjusted
    from {{ ref('fct_points_ledger') }}
    group by member_id

)

select
    members.member_id,
    {{ as_of_date() }} as as_of_date,
    cast(coalesce(ledger.points_balance, 0) as integer) as points_balance,
    cast(coalesce(ledger.points_earned, 0) as integer) as points_earned,
    cast(coalesce(ledger.points_returned, 0) as integer) as points_returned,
    cast(coalesce(ledger.points_redeemed, 0) as integer) as points_redeemed,
    cast(coalesce(ledger.points_adjusted, 0) as integer) as points_adjusted,
    coalesce(ledger.points_balance, 0) < 0 as negative_balance
from {{ ref('int_members_as_of') }} as members
left join ledger
    on ledger.member_id = members.member_id
