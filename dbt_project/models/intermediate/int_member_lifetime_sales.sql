{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_members_to_rebuild() }}"
) }}
-- One row per member with any member transaction (days <= D): lifetime purchase facts from
-- the daily aggregate (first and last purchase day, spend net of returns, purchase
-- transactions, distinct months with a purchase). Member-keyed incremental: a run rebuilds
-- the members whose input_fingerprint changed.
with members as (

    {{ members_to_rebuild() }}

)

select
    daily.member_id,
    min(case when daily.purchase_transactions > 0 then daily.sales_day end) as first_purchase_date,
    max(case when daily.purchase_transactions > 0 then daily.sales_day end) as last_purchase_date,
    cast(sum(daily.spend) as decimal(18, 2)) as lifetime_spend,
    cast(sum(daily.purchase_transactions) as bigint) as lifetime_transactions,
    cast(count(distinct case
        when daily.purchase_transactions > 0 then {{ dbt.date_trunc('month', 'daily.sales_day') }}
    end) as bigint) as active_months,
    fingerprints.input_fingerprint
from {{ ref('int_member_daily_sales') }} as daily
inner join {{ ref('int_member_fingerprints') }} as fingerprints
    on fingerprints.member_id = daily.member_id
where daily.member_id in (select member_id from members)
group by daily.member_id, fingerprints.input_fingerprint
