{#
  The members of an outreach mart (`model`: marketing_consent, is_minor, has_valid_mobile per
  row) left out of its extract, counted by reason for the manifest: one place for the lapsed
  list and the upgrade nudges. A member excluded for several reasons is counted once, under the
  first of: no_consent, minor, invalid_mobile. Always three rows (0 when none); no PII.
#}
{% macro outreach_left_out(model) -%}
with reasons as (

    select 'no_consent' as reason, 1 as reason_order
    union all select 'minor', 2
    union all select 'invalid_mobile', 3

),

excluded as (

    select
        case
            when not marketing_consent then 'no_consent'
            when is_minor then 'minor'
            when not has_valid_mobile then 'invalid_mobile'
        end as reason
    from {{ ref(model) }}

)

select
    {{ as_of_date() }} as as_of,
    reasons.reason,
    cast(count(excluded.reason) as bigint) as members
from reasons
left join excluded
    on excluded.reason = reasons.reason
group by reasons.reason, reasons.reason_order
order by reasons.reason_order
{%- endmacro %}


{#
  The outreach flags of a member row (alias `members`: marketing_consent, mobile, birth_date):
  marketing_consent, has_valid_mobile (lapsed.valid_mobile_pattern, whole value) and is_minor
  (under privacy.minor_age on D by macro is_under_age). An unknown birth date is a minor when
  `unknown_age_is_minor` (the upgrade nudges, loyalty-rules section 9), not otherwise (the lapsed
  list). One place for both outreach marts.
#}
{% macro outreach_flags(members, unknown_age_is_minor) -%}
    coalesce({{ members }}.marketing_consent, false) as marketing_consent,
    coalesce({{ regex_full_match(members ~ '.mobile', program('lapsed.valid_mobile_pattern')) }}, false) as has_valid_mobile,
    coalesce(
        {{ is_under_age(members ~ '.birth_date', program_number('privacy.minor_age', min=0), as_of_date()) }},
        {{ 'true' if unknown_age_is_minor else 'false' }}
    ) as is_minor
{%- endmacro %}


{# Whether an outreach mart's row (alias `row`, with the flags of outreach_flags) may be contacted. #}
{% macro may_be_contacted(row) -%}
    {{ row }}.marketing_consent
    and {{ row }}.has_valid_mobile
    and not {{ row }}.is_minor
{%- endmacro %}
