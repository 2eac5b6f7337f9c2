{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- depends_on: {{ ref('int_members_before_rebuild') }}
-- Member attribution, once per run for every reader: one row per business day, card and sales
-- day with card transactions, with the member whose card_no matches and whose join_date <=
-- sales_day (the latest such member if a card was reissued); member_id null for an unknown card
-- or a card used before its member joined. Partitioned by business day: a run rewrites the days
-- with a new file and the restated days (int_days_to_rebuild).
with card_days as (

    select distinct business_day, card_no, sales_day
    from {{ ref('int_card_daily_sales') }}
    where {{ in_days_to_rebuild(member_dependent=true) }}

),

attribution as (

    {{ attributed_members('select card_no, sales_day from card_days') }}

)

select
    card_days.business_day,
    card_days.card_no,
    card_days.sales_day,
    attribution.member_id
from card_days
left join attribution
    on attribution.card_no = card_days.card_no
    and attribution.sales_day = card_days.sales_day
