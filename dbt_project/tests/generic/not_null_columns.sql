{#
  None of the given columns has a null: one test (one scan, one node) per model instead of one
  per column, which at chain scale cost more in per-node overhead than in work. A failure lists
  each column with nulls and how many rows have one.
  With recent_column (the date column a table is partitioned by), only the rows dated within
  the recent days (macros/quality_window.sql), or with no date, are checked: those a daily run
  writes. Older rows were checked by the runs that wrote them (as unique_combination_of_columns).
#}
{% test not_null_columns(model, columns, recent_column=none) %}

with null_counts as (

    select
        {%- for column in columns %}
        sum(case when {{ column }} is null then 1 else 0 end) as nulls_{{ loop.index }}{{ "," if not loop.last }}
        {%- endfor %}
    from {{ model }}
    {%- if recent_column is not none %}
    where {{ recent_column }} >= {{ quality_window_start() }} or {{ recent_column }} is null
    {%- endif %}

)

{% for column in columns -%}
select '{{ column }}' as null_column, nulls_{{ loop.index }} as null_rows
from null_counts
where nulls_{{ loop.index }} > 0
{% if not loop.last %}union all
{% endif %}
{%- endfor %}

{% endtest %}
