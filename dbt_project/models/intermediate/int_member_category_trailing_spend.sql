-- One row per member and product category with sales in the trailing window of tiers.basis_days
-- days ending on D (the trailing year by default): the member's net spend in that category.
-- The one place both category views of the trailing year read: each member's favourite category
-- and the category champions.
select
    member_id,
    category,
    cast(sum(spend) as decimal(18, 2)) as spend
from {{ ref('int_member_category_daily_sales') }}
where sales_day >= {{ trailing_window_start(program_number('tiers.basis_days', min=1)) }}
    and sales_day <= {{ as_of_date() }}
group by member_id, category
