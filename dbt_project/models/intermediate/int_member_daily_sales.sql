-- One row per member and sales day with a member transaction (days <= D): the compact daily
-- aggregate every trailing window is computed from (never raw lines). Summed from the per-card
-- daily aggregate (int_card_daily_sales, partitioned by business day) with the member
-- attribution of D; rebuilt whole each run (one pass over the card-days: cheaper than keeping
-- it by member, see docs/decisions.md).
with card_days as (

    select
        card_no,
        sales_day,
        sum(spend) as spend,
        sum(purchase_transactions) as purchase_transactions,
        sum(return_transactions) as return_transactions,
        sum(base_points) as base_points
    from {{ ref('int_card_daily_sales') }}
    where business_day <= {{ as_of_date() }}
    group by card_no, sales_day

),

attribution as (

    {{ attributed_members('select card_no, sales_day from card_days') }}

)

select
    attribution.member_id,
    card_days.sales_day,
    cast(sum(card_days.spend) as decimal(18, 2)) as spend,
    cast(sum(card_days.purchase_transactions) as bigint) as purchase_transactions,
    cast(sum(card_days.return_transactions) as bigint) as return_transactions,
    cast(sum(card_days.base_points) as bigint) as base_points
from card_days
inner join attribution
    on attribution.card_no = card_days.card_no
    and attribution.sales_day = card_days.sales_day
group by attribution.member_id, card_days.sales_day
