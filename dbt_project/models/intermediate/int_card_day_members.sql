{{ config(
    materialized='incremental',
    incremental_strategy='append',
    on_schema_change='fail',
    pre_hook="{{ delete_keys_to_rebuild('card_no', ref('int_card_fingerprints')) }}"
) }}
-- Member attribution, one row per card and sales day with card transactions (days <= D):
-- the member whose card_no matches and whose join_date <= sales_day (the latest such member
-- if a card was reissued); member_id null for an unknown card or a card used before its
-- member joined. Card-keyed incremental: a run re-attributes only the cards whose
-- int_card_fingerprints changed (new or corrected days, another member holding the card), so
-- the per-card daily aggregates never carry a stale attribution.
with cards as (

    {{ keys_to_rebuild('card_no', ref('int_card_fingerprints')) }}

),

card_days as (

    select distinct daily.card_no, daily.sales_day
    from {{ ref('int_card_daily_sales') }} as daily
    inner join cards
        on cards.card_no = daily.card_no
    where daily.business_day <= {{ as_of_date() }}

),

card_matches as (

    select
        card_days.card_no,
        card_days.sales_day,
        members.member_id,
        row_number() over (
            partition by card_days.card_no, card_days.sales_day
            order by members.join_date desc, members.member_id
        ) as match_rank
    from card_days
    inner join {{ ref('int_members_as_of') }} as members
        on members.card_no = card_days.card_no
        and members.join_date <= card_days.sales_day

)

select
    card_days.card_no,
    card_days.sales_day,
    card_matches.member_id,
    fingerprints.input_fingerprint
from card_days
inner join {{ ref('int_card_fingerprints') }} as fingerprints
    on fingerprints.card_no = card_days.card_no
left join card_matches
    on card_matches.card_no = card_days.card_no
    and card_matches.sales_day = card_days.sales_day
    and card_matches.match_rank = 1
