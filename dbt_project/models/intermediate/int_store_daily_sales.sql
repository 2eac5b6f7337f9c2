{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- One row per business day, selling store and sales day: the net sales of all transactions and
-- of member transactions (a card attributed to a member that day, int_card_day_members).
-- A compact aggregate (stores x days) for the member share of sales over any trailing window.
-- Partitioned by business day like the other daily aggregates; restated days are rewritten
-- too, because a member file can move a card's attribution.
with transactions as (

    select business_day, store_id, sales_day, card_no, net_amount
    from {{ ref('int_pos_transactions_by_day') }}
    where {{ in_days_to_rebuild(member_dependent=true) }}

),

attribution as (

    select business_day, card_no, sales_day, member_id
    from {{ ref('int_card_day_members') }}
    where {{ in_days_to_rebuild(member_dependent=true) }}
        and member_id is not null

)

select
    transactions.business_day,
    transactions.store_id,
    transactions.sales_day,
    cast(sum(transactions.net_amount) as decimal(18, 2)) as net_sales,
    cast(sum(case when attribution.member_id is not null then transactions.net_amount else 0 end) as decimal(18, 2)) as member_net_sales
from transactions
left join attribution
    on attribution.business_day = transactions.business_day
    and attribution.card_no = transactions.card_no
    and attribution.sales_day = transactions.sales_day
group by transactions.business_day, transactions.store_id, transactions.sales_day
