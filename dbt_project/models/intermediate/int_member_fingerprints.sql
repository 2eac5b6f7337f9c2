-- One row per member known on D: a fingerprint of everything the member-keyed incremental
-- models derive the member's rows from (macros/member_incremental.sql). It changes when:
--   the program configuration changes;
--   any version of the member changes (history, card, join date, status, attributes...);
--   a daily row of the member's current card is added, corrected (new load watermark) or
--     dropped (a rebuild of an earlier D), or a return of the card becomes due for posting;
--   the candidates for the card change (another member gets or loses the card: attribution);
--   a redemption of the member or an adjustment changes or becomes dated on or before D.
-- Cheap to rebuild every run: one pass over the per-card daily aggregate, grouped by card.
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

),

versions as (

    select
        member_id,
        {{ fingerprint_sum([
            'version_number', 'card_no', 'name', 'gender', 'birth_date', 'mobile', 'city', 'address',
            'join_date', 'join_store_id', 'enrolled_by', 'activated', 'status', 'marketing_consent',
            'bonus_category', 'valid_from', 'valid_to', 'effective_from',
            'join_date <= ' ~ as_of_date()
        ]) }} as versions_fingerprint
    from {{ ref('int_member_versions') }}
    group by member_id

),

redemptions as (

    select
        member_id,
        {{ fingerprint_sum(['redemption_id', 'redeemed_at', 'points', 'is_accepted', 'rejection_reason']) }}
            as redemptions_fingerprint
    from {{ ref('int_redemptions_checked') }}
    where member_id is not null
    group by member_id

),

adjustments as (

    select
        member_id,
        {{ fingerprint_sum(['adjustment_id', 'adjusted_at', 'points', 'adjusted_day <= ' ~ as_of_date()]) }}
            as adjustments_fingerprint
    from {{ ref('stg_adjustments__adjustments') }}
    group by member_id

)

select
    members.member_id,
    members.card_no,
    cast(
        cast({{ fingerprint_hash([sql_string(tojson(var('program'), sort_keys=true))]) }} as decimal(38, 0))
        + versions.versions_fingerprint
        + coalesce(card_days.days_fingerprint, 0)
        + coalesce(card_candidates.candidates_fingerprint, 0)
        + coalesce(redemptions.redemptions_fingerprint, 0)
        + coalesce(adjustments.adjustments_fingerprint, 0)
        as decimal(38, 0)
    ) as input_fingerprint
from {{ ref('int_members_as_of') }} as members
inner join versions
    on versions.member_id = members.member_id
left join card_days
    on card_days.card_no = members.card_no
left join card_candidates
    on card_candidates.card_no = members.card_no
left join redemptions
    on redemptions.member_id = members.member_id
left join adjustments
    on adjustments.member_id = members.member_id
