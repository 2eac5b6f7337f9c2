{#
  None of the given columns has a null: one test (one scan, one node) per model instead of one
  per column, which at chain scale cost more in per-node overhead than in work. A failure lists
  each column with nulls and how many rows have one.
#}
{% test not_null_columns(model, columns) %}

with null_counts as (

    select
        {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as nulls_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}

)

{% for column in columns -%}
select '{{ column }}' as null_column, nulls_{{ loop.index }} as null_rows
from null_counts
where nulls_{{ loop.index }} > 0
{% if not loop.last %}union all
{% endif %}
{%- endfor %}

{% endtest %}
