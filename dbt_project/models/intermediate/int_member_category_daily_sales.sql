-- One row per member, category and sales day with member lines (days <= D): spend (net, returns
-- reduce it) and whether the member bought the category that day (a line with net_amount > 0
-- in a purchase transaction). Feeds favourite category, champions, second-purchase category and
-- the replenishment rhythm.
select
    member_id,
    category,
    sales_day,
    cast(sum(net_amount) as decimal(18, 2)) as spend,
    max(case when is_purchase and net_amount > 0 then 1 else 0 end) = 1 as is_purchase_day
from {{ ref('int_member_sales_lines') }}
group by member_id, category, sales_day
