{#
  Every value of the column is a tier name of the program's tiers.scheme (var program),
  so another scheme (e.g. diamond/gold/silver/points) passes without editing YAML.
  A null fails too: every eligible member has a tier.
#}
{% test tier_in_program(model, column_name) %}

select {{ column_name }} as tier
from {{ model }}
where {{ column_name }} is null
    or {{ column_name }} not in (
        {%- for name in tier_names() %}{{ sql_string(name) }}{{ ', ' if not loop.last }}{% endfor -%}
    )

{% endtest %}
