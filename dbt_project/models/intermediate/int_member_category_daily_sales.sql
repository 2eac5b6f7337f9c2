-- One row per member, category and sales day with member lines (days <= D): spend (net, returns
-- reduce it) and whether the member bought the category that day (a line with net_amount > 0
-- in a purchase transaction). Feeds favourite category, champions, second-purchase category and
-- the replenishment rhythm. Summed from the per-card aggregate (int_card_category_daily_sales)
-- with the member attribution of D; rebuilt whole each run like int_member_daily_sales.
with card_days as (

    select
        card_no,
        category,
        sales_day,
        sum(spend) as spend,
        max(case when is_purchase_day then 1 else 0 end) as is_purchase_day
    from {{ ref('int_card_category_daily_sales') }}
    where business_day <= {{ as_of_date() }}
    group by card_no, category, sales_day

),

attribution as (

    {{ attributed_members('select card_no, sales_day from card_days') }}

)

select
    attribution.member_id,
    card_days.category,
    card_days.sales_day,
    cast(sum(card_days.spend) as decimal(18, 2)) as spend,
    max(card_days.is_purchase_day) = 1 as is_purchase_day
from card_days
inner join attribution
    on attribution.card_no = card_days.card_no
    and attribution.sales_day = card_days.sales_day
group by attribution.member_id, card_days.category, card_days.sales_day
