{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per business day, member and sales day with a member transaction: the compact daily
-- aggregate every trailing window is computed from (never raw lines). The per-card daily
-- aggregate (int_card_daily_sales) with the member attribution of D (int_card_day_members), partitioned by business
-- day: a run rewrites the days with a new file and the restated days (int_days_to_rebuild).
-- A sales day may appear under two business days (a late transaction): readers sum.
with card_days as (

    select business_day, card_no, sales_day, spend, purchase_transactions, return_transactions, base_points
    from {{ ref('int_card_daily_sales') }}
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
    card_days.sales_day,
    cast(sum(card_days.spend) as decimal(18, 2)) as spend,
    cast(sum(card_days.purchase_transactions) as bigint) as purchase_transactions,
    cast(sum(card_days.return_transactions) as bigint) as return_transactions,
    cast(sum(card_days.base_points) as bigint) as base_points
from card_days
inner join attribution
    on attribution.business_day = card_days.business_day
    and attribution.card_no = card_days.card_no
    and attribution.sales_day = card_days.sales_day
group by card_days.business_day, attribution.member_id, card_days.sales_day
