-- Member profile (顾客档案) on D: one row per member (cancelled ones too, without tier/segment
-- and outside the RFM population). No PII.
--   second purchase day and its category (the category with most spend bought that day, ties by name);
--   purchases_per_active_month = lifetime purchase transactions / distinct months with a purchase;
--   favourite_category = most spend over the trailing year (ties by name);
--   RFM quintiles 1-5 (5 = best) over non-cancelled members with a trailing-year purchase:
--   recency by last purchase day (later is better), frequency by trailing transactions,
--   monetary by trailing spend; ranks best first, ties broken by member_id ascending, ntile(5).
with members as (

    select member_id, card_no, status, join_date, join_store_id
    from {{ ref('int_members_as_of') }}

),

rhythm as (

    select * from {{ ref('int_member_purchase_rhythm') }}
    where purchase_days > 0  -- a refreshed member with no purchase day left

),

lifetime as (

    select * from {{ ref('int_member_lifetime_sales') }}

),

trailing_year as (

    select * from {{ ref('member_trailing_year') }}

),

rfm_population as (

    select
        trailing_year.member_id,
        6 - ntile(5) over (order by rhythm.last_purchase_date desc, trailing_year.member_id) as recency_score,
        6 - ntile(5) over (order by trailing_year.trailing_transactions desc, trailing_year.member_id) as frequency_score,
        6 - ntile(5) over (order by trailing_year.trailing_spend desc, trailing_year.member_id) as monetary_score
    from trailing_year
    inner join rhythm
        on rhythm.member_id = trailing_year.member_id
    where trailing_year.trailing_transactions > 0

)

select
    members.member_id,
    members.card_no,
    members.status,
    members.join_date,
    members.join_store_id,
    rhythm.first_purchase_date,
    rhythm.second_purchase_date,
    rhythm.second_purchase_category,
    rhythm.last_purchase_date,
    cast(coalesce(lifetime.lifetime_spend, 0) as decimal(18, 2)) as lifetime_spend,
    cast(coalesce(lifetime.lifetime_transactions, 0) as bigint) as lifetime_transactions,
    cast(coalesce(trailing_year.trailing_spend, 0) as decimal(18, 2)) as trailing_spend,
    cast(coalesce(trailing_year.trailing_transactions, 0) as bigint) as trailing_transactions,
    case
        when coalesce(lifetime.active_months, 0) > 0
        then cast(cast(lifetime.lifetime_transactions as decimal(18, 4)) / lifetime.active_months as decimal(18, 2))
    end as purchases_per_active_month,
    favourite.favourite_category,
    cast(rfm_population.recency_score as integer) as recency_score,
    cast(rfm_population.frequency_score as integer) as frequency_score,
    cast(rfm_population.monetary_score as integer) as monetary_score,
    tiers.tier,
    pyramid.segment,
    balances.points_balance,
    {{ as_of_date() }} as as_of
from members
left join rhythm
    on rhythm.member_id = members.member_id
left join lifetime
    on lifetime.member_id = members.member_id
left join trailing_year
    on trailing_year.member_id = members.member_id
left join rfm_population
    on rfm_population.member_id = members.member_id
left join {{ ref('int_member_favourite_category') }} as favourite
    on favourite.member_id = members.member_id
left join {{ ref('loyalty_tiers') }} as tiers
    on tiers.member_id = members.member_id
left join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = members.member_id
left join {{ ref('member_points_balances') }} as balances
    on balances.member_id = members.member_id
