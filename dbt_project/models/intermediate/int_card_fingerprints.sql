-- One row per card with daily rows (days <= D) or a member known on D: a fingerprint of what
-- the card's attribution and daily rows depend on (macros/member_incremental.sql):
--   days_fingerprint       the card's per-day rows: business day, sales day, load watermark
--                          (a corrected file moves it), and whether a return of that day is
--                          due for posting by D (points.return_posting_delay_days);
--   candidates_fingerprint the members holding the card, with their join dates (attribution).
-- input_fingerprint is their sum: card-keyed incremental models rebuild the cards whose
-- input_fingerprint changed. One pass over the per-card daily aggregate, grouped by card.
{%- set delay = program_number('points.return_posting_delay_days', min=0) %}

with card_days as (

    select
        card_no,
        {{ fingerprint_sum([
            'business_day', 'sales_day', 'loaded_watermark',
            'return_transactions > 0 and ' ~ add_days('sales_day', delay) ~ ' <= ' ~ as_of_date()
        ]) }} as days_fingerprint
    from {{ ref('int_card_daily_sales') }}
    where business_day <= {{ as_of_date() }}
    group by card_no

),

card_candidates as (

    select card_no, {{ fingerprint_sum(['member_id', 'join_date']) }} as candidates_fingerprint
    from {{ ref('int_members_as_of') }}
    group by card_no

)

select
    coalesce(card_days.card_no, card_candidates.card_no) as card_no,
    cast(coalesce(card_days.days_fingerprint, 0) as decimal(38, 0)) as days_fingerprint,
    cast(coalesce(card_candidates.candidates_fingerprint, 0) as decimal(38, 0)) as candidates_fingerprint,
    cast(
        coalesce(card_days.days_fingerprint, 0) + coalesce(card_candidates.candidates_fingerprint, 0)
        as decimal(38, 0)
    ) as input_fingerprint
from card_days
full outer join card_candidates
    on card_candidates.card_no = card_days.card_no
