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
