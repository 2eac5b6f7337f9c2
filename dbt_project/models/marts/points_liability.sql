-- Points liability (积分负债) on D per enrolment store: the points the chain owes its members and
-- what they are worth. Outstanding points = the sum of the positive balances of non-cancelled
-- members (a negative balance is not an asset: counted apart); value = points divided by
-- points.points_per_yuan_redeemed (20 points = 1 yuan). Stores add up to the chain.
select
    members.join_store_id,
    {{ as_of_date() }} as as_of_date,
    cast(count(*) as bigint) as members,
    cast(sum(case when balances.points_balance > 0 then 1 else 0 end) as bigint) as members_with_points,
    cast(sum(case when balances.points_balance > 0 then balances.points_balance else 0 end) as bigint) as outstanding_points,
    cast(
        sum(case when balances.points_balance > 0 then balances.points_balance else 0 end)
        / {{ sql_decimal(program_number('points.points_per_yuan_redeemed', min=1)) }}
        as decimal(18, 2)
    ) as outstanding_value_yuan,
    cast(sum(case when balances.points_balance < 0 then 1 else 0 end) as bigint) as members_with_negative_balance,
    cast(sum(case when balances.points_balance < 0 then balances.points_balance else 0 end) as bigint) as negative_points
from {{ ref('member_points_balances') }} as balances
inner join {{ ref('int_members_as_of') }} as members
    on members.member_id = balances.member_id
where members.status <> 'cancelled'
group by members.join_store_id
