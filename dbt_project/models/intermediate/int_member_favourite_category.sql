-- One row per member with positive spend in some category over the trailing window
-- (tiers.basis_days, the trailing year by default): the category with the most spend
-- (ties: category name ascending).
with category_spend as (

    select member_id, category, sum(spend) as spend
    from {{ ref('int_member_category_daily_sales') }}
    where sales_day >= {{ trailing_window_start(program_number('tiers.basis_days', min=1)) }}
        and sales_day <= {{ as_of_date() }}
    group by member_id, category

),

ranked as (

    select
        member_id,
        category,
        spend,
        row_number() over (partition by member_id order by spend desc, category) as category_rank
    from category_spend
    where spend > 0

)

select
    member_id,
    category as favourite_category,
    cast(spend as decimal(18, 2)) as favourite_category_spend
from ranked
where category_rank = 1
