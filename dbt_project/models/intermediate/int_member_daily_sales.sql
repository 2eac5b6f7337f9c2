{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_members_to_rebuild() }}"
) }}
-- One row per member and sales day with a member transaction: the daily aggregate every
-- trailing window is computed from (never raw lines). Summed from the incremental per-card
-- daily aggregate (int_card_daily_sales) with the member attribution of D (int_card_day_members).
-- Member-keyed incremental: a run rebuilds the members whose input_fingerprint changed.
with {{ rebuilt_members_card_days(ref('int_card_daily_sales')) }}

select
    attribution.member_id,
    daily.sales_day,
    cast(sum(daily.spend) as decimal(18, 2)) as spend,
    cast(sum(daily.purchase_transactions) as bigint) as purchase_transactions,
    cast(sum(daily.return_transactions) as bigint) as return_transactions,
    cast(sum(daily.base_points) as bigint) as base_points,
    fingerprints.input_fingerprint
from daily
inner join attribution
    on attribution.card_no = daily.card_no
    and attribution.sales_day = daily.sales_day
inner join {{ ref('int_member_fingerprints') }} as fingerprints
    on fingerprints.member_id = attribution.member_id
group by attribution.member_id, daily.sales_day, fingerprints.input_fingerprint
