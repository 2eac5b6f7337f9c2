-- One row per member with positive spend in some category over the trailing window
-- (tiers.basis_days, the trailing year by default): the category with the most spend
-- (ties: category name ascending).
with ranked as (

    select
        member_id,
        category,
        spend,
        row_number() over (partition by member_id order by spend desc, category) as category_rank
    from {{ ref('int_member_category_trailing_spend') }}
    where spend > 0

)

select
    member_id,
    category as favourite_category,
    cast(spend as decimal(18, 2)) as favourite_category_spend
from ranked
where category_rank = 1
