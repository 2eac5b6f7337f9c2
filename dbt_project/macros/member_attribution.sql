{#
  The rows of a per-card daily aggregate (`card_daily_model`: business_day, card_no, sales_day
  and `columns`) that belong to a member, with the member attributed on D
  (int_card_day_members, where the attribution rule lives), for the business days this run
  rewrites (restated days included). The one join every per-member daily aggregate is built
  with; the caller sums `columns` at its grain.
#}
{% macro member_card_days(card_daily_model, columns) -%}
    select
        card_days.business_day,
        attribution.member_id,
        card_days.sales_day,
        {%- for column in columns %}
        card_days.{{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ ref(card_daily_model) }} as card_days
    inner join {{ ref('int_card_day_members') }} as attribution
        on attribution.business_day = card_days.business_day
        and attribution.card_no = card_days.card_no
        and attribution.sales_day = card_days.sales_day
    where {{ in_days_to_rebuild('card_days.business_day', member_dependent=true) }}
        and {{ in_days_to_rebuild('attribution.business_day', member_dependent=true) }}
        and attribution.member_id is not null
{%- endmacro %}
