{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_members_to_rebuild() }}"
) }}
-- One row per member, category and sales day with member lines (days <= D): spend (net, returns
-- reduce it) and whether the member bought the category that day (a line with net_amount > 0
-- in a purchase transaction). Feeds favourite category, champions, second-purchase category and
-- the replenishment rhythm. Summed from the incremental per-card aggregate
-- (int_card_category_daily_sales) with the member attribution of D.
-- Member-keyed incremental: a run rebuilds the members whose input_fingerprint changed.
with {{ rebuilt_members_card_days(ref('int_card_category_daily_sales')) }}

select
    attribution.member_id,
    daily.category,
    daily.sales_day,
    cast(sum(daily.spend) as decimal(18, 2)) as spend,
    max(case when daily.is_purchase_day then 1 else 0 end) = 1 as is_purchase_day,
    fingerprints.input_fingerprint
from daily
inner join attribution
    on attribution.card_no = daily.card_no
    and attribution.sales_day = daily.sales_day
inner join {{ ref('int_member_fingerprints') }} as fingerprints
    on fingerprints.member_id = attribution.member_id
group by attribution.member_id, daily.category, daily.sales_day, fingerprints.input_fingerprint
