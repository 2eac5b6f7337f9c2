-- Gate: the upgrade-nudge extract holds only candidates of marts.upgrade_nudges who are
-- consented, non-cancelled members with a valid mobile and a known age of at least
-- privacy.minor_age on D (an unknown birth date counts as a minor).
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'upgrade_nudges_extract'}}}) }}

select extract_rows.member_id
from {{ ref('upgrade_nudges_extract') }} as extract_rows
left join {{ ref('int_members_as_of') }} as members
    on members.member_id = extract_rows.member_id
left join {{ ref('upgrade_nudges') }} as nudges
    on nudges.member_id = extract_rows.member_id
where members.member_id is null
    or nudges.member_id is null
    or members.status = 'cancelled'
    or not coalesce(members.marketing_consent, false)
    or not coalesce({{ regex_full_match('extract_rows.mobile', program('lapsed.valid_mobile_pattern')) }}, false)
    or extract_rows.mobile <> members.mobile
    or coalesce({{ is_under_age('members.birth_date', program_number('privacy.minor_age', min=0), as_of_date()) }}, true)
