-- One row per member and sales day with a member transaction: the daily aggregate every
-- trailing window is computed from (never raw lines).
select
    member_id,
    sales_day,
    cast(sum(net_amount) as decimal(18, 2)) as spend,
    cast(sum(case when is_purchase then 1 else 0 end) as bigint) as purchase_transactions,
    cast(sum(case when is_return then 1 else 0 end) as bigint) as return_transactions,
    cast(sum(base_points) as bigint) as base_points
from {{ ref('int_pos_transactions') }}
where member_id is not null
group by member_id, sales_day
