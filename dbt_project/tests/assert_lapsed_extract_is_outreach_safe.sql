-- Gate: the outreach extract holds only consented, non-cancelled members with a valid mobile
-- who are not minors, and every lapsed row really is past the lapsed threshold.
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'lapsed_customers_extract'}}}) }}

select extract_rows.member_id
from {{ ref('lapsed_customers_extract') }} as extract_rows
left join {{ ref('int_members_as_of') }} as members
    on members.member_id = extract_rows.member_id
where members.member_id is null
    or members.status = 'cancelled'
    or not coalesce(members.marketing_consent, false)
    or not coalesce({{ regex_full_match('extract_rows.mobile', program('lapsed.valid_mobile_pattern')) }}, false)
    or extract_rows.mobile <> members.mobile
    or coalesce({{ is_under_age('members.birth_date', program_number('privacy.minor_age', min=0), as_of_date()) }}, false)
    or (extract_rows.status = 'lapsed' and extract_rows.days_since_last_purchase <= {{ program('lapsed.days') }})
