{#
  The combination of the given columns is unique (a composite key).
  With recent_column (a date column), only the keys of the rows dated within the recent
  days (macros/quality_window.sql) are checked, against the WHOLE table: a new or
  reprocessed day can neither repeat itself nor repeat an older row. Older keys were checked
  by the runs that built them; a whole-table pass on 50M rows each morning is the cost avoided.
  When recent_column is part of the key, the recent rows are checked among themselves only.
  With refreshed_members (the change record of a member-keyed model, member_id first in the key),
  an incremental run on an adapter that replaces members' rows checks the refreshed members'
  rows only: the others' rows were checked when written, and a run writes no other rows.
#}
{% test unique_combination_of_columns(model, combination_of_columns, recent_column=none, refreshed_members=none) %}
{%- set columns = combination_of_columns | join(', ') %}
{%- if recent_column is none %}

select
    {{ columns }},
    count(*) as occurrences
from {{ model }}
{%- if refreshed_members is not none and member_keyed_materialization() == 'incremental' and not flags.FULL_REFRESH %}
where {{ combination_of_columns[0] }} in (select member_id from {{ refreshed_members }})
{%- endif %}
group by {{ columns }}
having count(*) > 1

{%- elif recent_column in combination_of_columns %}

-- the key holds the date column: rows with one key share its date, so only recent rows can
-- repeat a recent key (no lookup in the whole table)
select
    {{ columns }},
    count(*) as occurrences
from {{ model }}
where {{ recent_column }} >= {{ quality_window_start() }}
group by {{ columns }}
having count(*) > 1

{%- else %}

with recent_keys as (

    select distinct {{ columns }}
    from {{ model }}
    where {{ recent_column }} >= {{ quality_window_start() }}

)

select
    {%- for column in combination_of_columns %}
    checked.{{ column }},
    {%- endfor %}
    count(*) as occurrences
from {{ model }} as checked
inner join recent_keys
    on {% for column in combination_of_columns -%}
        {{ 'and ' if not loop.first }}recent_keys.{{ column }} = checked.{{ column }}
    {% endfor %}
group by {% for column in combination_of_columns %}checked.{{ column }}{{ ', ' if not loop.last }}{% endfor %}
having count(*) > 1

{%- endif %}
{% endtest %}
