-- Category champions (80/20 per product category) over the trailing year (tiers.basis_days):
-- buyers of a category = non-cancelled members with positive net spend in it; ranked by that
-- spend (desc, ties by member_id); champions are rank <= floor(champions.share * buyers).
-- One row per champion, with their share of the category's buyer spend and the champions'
-- combined share. A category with fewer buyers than 1/share has no champion.
with members as (

    select member_id from {{ ref('int_members_as_of') }} where status <> 'cancelled'

),

buyer_spend as (

    select year_spend.member_id, year_spend.category, year_spend.spend
    from {{ ref('int_member_category_trailing_spend') }} as year_spend
    inner join members
        on members.member_id = year_spend.member_id
    where year_spend.spend > 0

),

categories as (

    select
        category,
        count(*) as buyers,
        sum(spend) as category_spend,
        cast(floor(cast(count(*) as decimal(18, 0)) * {{ sql_decimal(program_number('champions.share', min=0, max=1)) }}) as bigint) as champion_places
    from buyer_spend
    group by category

),

-- Only the buyers who can be champions are ranked (a sort of every buyer of a category was
-- most of this model's cost): per category, the highest whole-yuan step of spend from which
-- up, counted from the top, there are at least champion_places buyers. Every champion spends
-- at least that step, so ranking the buyers at or above it gives each the rank it has among
-- all buyers.
spend_steps as (

    select category, floor(spend) as spend_step, count(*) as buyers_in_step
    from buyer_spend
    group by category, floor(spend)

),

entry_steps as (

    select steps.category, max(steps.spend_step) as entry_step
    from (
        select
            category,
            spend_step,
            sum(buyers_in_step) over (
                partition by category order by spend_step desc rows between unbounded preceding and current row
            ) as buyers_from_top
        from spend_steps
    ) as steps
    inner join categories
        on categories.category = steps.category
    where categories.champion_places > 0
        and steps.buyers_from_top >= categories.champion_places
    group by steps.category

),

ranked as (

    select
        buyer_spend.member_id,
        buyer_spend.category,
        buyer_spend.spend,
        row_number() over (
            partition by buyer_spend.category order by buyer_spend.spend desc, buyer_spend.member_id
        ) as category_rank
    from buyer_spend
    inner join entry_steps
        on entry_steps.category = buyer_spend.category
        and buyer_spend.spend >= entry_steps.entry_step

),

listed as (

    select
        ranked.*,
        categories.buyers,
        categories.category_spend,
        categories.champion_places,
        sum(ranked.spend) over (partition by ranked.category) as champions_spend
    from ranked
    inner join categories
        on categories.category = ranked.category
    where ranked.category_rank <= categories.champion_places

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
