{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per business day, member, category and sales day with member lines: spend (net,
-- returns reduce it) and whether the member bought the category that day (a line with
-- net_amount > 0 in a purchase transaction). Feeds favourite category, champions,
-- second-purchase category and the replenishment rhythm. The per-card aggregate
-- (int_card_category_daily_sales) with the member attribution of D, partitioned by business day
-- like int_member_daily_sales (readers sum over business days).
with card_days as (

    select business_day, card_no, category, sales_day, spend, is_purchase_day
    from {{ ref('int_card_category_daily_sales') }}
    where {{ in_days_to_rebuild(member_dependent=true) }}

),

attribution as (

    select business_day, card_no, sales_day, member_id
    from {{ ref('int_card_day_members') }}
    where {{ in_days_to_rebuild(member_dependent=true) }}
        and member_id is not null

)

select
    card_days.business_day,
    attribution.member_id,
    card_days.category,
    card_days.sales_day,
    cast(sum(card_days.spend) as decimal(18, 2)) as spend,
    max(case when card_days.is_purchase_day then 1 else 0 end) = 1 as is_purchase_day
from card_days
inner join attribution
    on attribution.business_day = card_days.business_day
    and attribution.card_no = card_days.card_no
    and attribution.sales_day = card_days.sales_day
group by card_days.business_day, attribution.member_id, card_days.category, card_days.sales_day
