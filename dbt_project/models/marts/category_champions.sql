-- Category champions (80/20 per product category) over the trailing year (tiers.basis_days):
-- buyers of a category = non-cancelled members with positive net spend in it; ranked by that
-- spend (desc, ties by member_id); champions are rank <= floor(champions.share * buyers).
-- One row per champion, with their share of the category's buyer spend and the champions'
-- combined share. A category with fewer buyers than 1/share has no champion.
with members as (

    select member_id from {{ ref('int_members_as_of') }} where status <> 'cancelled'

),

category_spend as (

    select year_spend.member_id, year_spend.category, year_spend.spend
    from {{ ref('int_member_category_trailing_spend') }} as year_spend
    inner join members
        on members.member_id = year_spend.member_id

),

ranked as (

    select
        member_id,
        category,
        spend,
        row_number() over (partition by category order by spend desc, member_id) as category_rank,
        count(*) over (partition by category) as buyers,
        sum(spend) over (partition by category) as category_spend
    from category_spend
    where spend > 0

),

champions as (

    select
        *,
        cast(floor(cast(buyers as decimal(18, 0)) * {{ sql_decimal(program_number('champions.share', min=0, max=1)) }}) as bigint) as champion_places
    from ranked

),

listed as (

    select *, sum(spend) over (partition by category) as champions_spend
    from champions
    where category_rank <= champion_places

)

select
    category,
    member_id,
    cast(category_rank as bigint) as category_rank,
    cast(spend as decimal(18, 2)) as category_spend_of_member,
    cast(buyers as bigint) as buyers,
    cast(champion_places as bigint) as champions,
    cast(category_spend as decimal(18, 2)) as category_spend,
    cast(spend / category_spend as decimal(9, 6)) as member_share,
    cast(champions_spend / category_spend as decimal(9, 6)) as champions_share,
    {{ as_of_date() }} as as_of
from listed
