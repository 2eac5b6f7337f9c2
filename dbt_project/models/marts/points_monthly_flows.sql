-- Points flows per calendar month of the entry date (entries dated <= D) and enrolment store:
-- welcome, earned, redeemed (positive: points spent), deducted by returns (negative) and
-- adjusted (signed) points, their net, and the redeemed points' value in yuan at
-- points.points_per_yuan_redeemed. Cancelled members' entries count in the month they were made.
select
    cast({{ dbt.date_trunc('month', 'ledger.entry_date') }} as date) as entry_month,
    members.join_store_id,
    cast(sum(case when ledger.entry_type = 'welcome' then ledger.points else 0 end) as bigint) as welcome_points,
    cast(sum(case when ledger.entry_type = 'earn' then ledger.points else 0 end) as bigint) as earned_points,
    cast(sum(case when ledger.entry_type = 'redeem' then -ledger.points else 0 end) as bigint) as redeemed_points,
    cast(sum(case when ledger.entry_type = 'return' then ledger.points else 0 end) as bigint) as returned_points,
    cast(sum(case when ledger.entry_type = 'adjust' then ledger.points else 0 end) as bigint) as adjusted_points,
    cast(sum(ledger.points) as bigint) as net_points,
    cast(
        sum(case when ledger.entry_type = 'redeem' then -ledger.points else 0 end)
        / {{ sql_decimal(program_number('points.points_per_yuan_redeemed', min=1)) }}
        as decimal(18, 2)
    ) as redeemed_value_yuan
from {{ ref('fct_points_ledger') }} as ledger
inner join {{ ref('int_members_as_of') }} as members
    on members.member_id = ledger.member_id
group by cast({{ dbt.date_trunc('month', 'ledger.entry_date') }} as date), members.join_store_id
