-- One row per member known on D: a fingerprint of everything the member-keyed incremental
-- models derive the member's rows from (macros/member_incremental.sql). It changes when:
--   the program configuration changes;
--   any version of the member changes (history, card, join date, status, attributes...);
--   the member's current card's fingerprint changes (int_card_fingerprints: a daily row is
--     added, corrected or dropped, a return becomes due for posting, or another member gets or
--     loses the card);
--   a redemption of the member or an adjustment changes or becomes dated on or before D.
-- Cheap to rebuild every run (1M members).
with versions as (

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
        + coalesce(cards.input_fingerprint, 0)
        + coalesce(redemptions.redemptions_fingerprint, 0)
        + coalesce(adjustments.adjustments_fingerprint, 0)
        as decimal(38, 0)
    ) as input_fingerprint
from {{ ref('int_members_as_of') }} as members
inner join versions
    on versions.member_id = members.member_id
left join {{ ref('int_card_fingerprints') }} as cards
    on cards.card_no = members.card_no
left join redemptions
    on redemptions.member_id = members.member_id
left join adjustments
    on adjustments.member_id = members.member_id
