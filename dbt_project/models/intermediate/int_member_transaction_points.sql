{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per member purchase or return transaction: the sum of its lines' net amounts times
-- their points multipliers (weighted_amount) and the highest multiplier, for the points ledger
-- (earn and return entries floor weighted_amount / yuan_per_point per transaction, not per line).
-- Partitioned by business day like int_member_sales_lines (the same days are rewritten).
select
    txn_id,
    member_id,
    sales_day,
    is_purchase,
    is_return,
    sum(net_amount * points_multiplier) as weighted_amount,
    max(points_multiplier) as multiplier,
    business_day
from {{ ref('int_member_sales_lines') }}
where (is_purchase or is_return)
    and {{ in_days_to_rebuild(member_dependent=true) }}
group by txn_id, member_id, sales_day, is_purchase, is_return, business_day
