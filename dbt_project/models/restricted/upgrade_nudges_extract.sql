-- RESTRICTED. The outreach extract upgrade_nudges.csv: upgrade-nudge candidates (tier or
-- segment, marts.upgrade_nudges) who gave marketing consent, have a valid mobile and are not
-- minors on D (an unknown birth date counts as a minor); one row per member, with full name and
-- mobile. Columns in the published order; a gap that does not apply is empty (see the mart).
select
    nudges.member_id,
    nudges.card_no,
    pii.name,
    pii.mobile,
    nudges.current_tier,
    nudges.next_tier,
    nudges.spend_gap,
    nudges.transactions_gap,
    nudges.segment,
    nudges.next_segment,
    nudges.segment_gap,
    nudges.as_of
from {{ ref('upgrade_nudges') }} as nudges
inner join {{ ref('member_pii') }} as pii
    on pii.member_id = nudges.member_id
where {{ may_be_contacted('nudges') }}
