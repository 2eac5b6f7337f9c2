{#
  materialized='month_end_history': a whole table over every month-end <= D (the tier changes,
  the tier history and movements, the retention of closed months) that is rebuilt
  only when it can have changed:
    - this run evaluates a month-end <= D again (meta.int_month_ends_to_evaluate: a month-end
      reached since the last build, or one on or after an earlier day whose member spend may
      have changed);
    - or its compiled SQL differs from the one it was built with (a new version of the model or
      of a macro it uses; D's literal is left out, it changes every day);
    - or it does not exist yet, or the run is a full refresh.
  Otherwise the table is kept as built: on a mid-month day these models would read all of
  history again to write the same rows (10-20 s a day at 1M members).
  Per adapter (no default: another adapter stops with dbt's "no materialization" error):
  DuckDB keeps the table and records the SQL digest in its comment; Spark rebuilds it whole
  every run, as its member-keyed models.
  A model declares the change record it is judged by (its unit tests give it as `rows: []`):
    -- depends_on: {{ ref('int_month_ends_to_evaluate') }}
#}

{% materialization month_end_history, adapter='duckdb' %}
    {%- set digest = month_end_history_digest() -%}
    {%- if month_end_history_is_current(digest) -%}
        {% call statement('main') -%}
            select 'kept: no month-end to evaluate again and the same SQL'
        {%- endcall %}
        {{ return({'relations': [this.incorporate(type='table')]}) }}
    {%- endif -%}
    {%- set built = materialization_table_duckdb() -%}
    {% call statement('record_month_end_history_digest', auto_begin=False) -%}
        comment on table {{ this }} is '{{ digest }}'
    {%- endcall %}
    {{ return(built) }}
{% endmaterialization %}


{% materialization month_end_history, adapter='spark' %}
    {{ return(materialization_table_spark()) }}
{% endmaterialization %}


{# The digest of the model's compiled SQL, D's literal masked. #}
{% macro month_end_history_digest() -%}
    {{ return('month_end_history:' ~ local_md5(sql | replace(as_of_date(), 'as_of_date()'))) }}
{%- endmacro %}


{# DuckDB: the table exists, carries `digest`, and no month-end <= D is evaluated again. #}
{% macro month_end_history_is_current(digest) -%}
    {%- if should_full_refresh() or load_cached_relation(this) is none -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set query -%}
        select
            (select count(*) from {{ ref('int_month_ends_to_evaluate') }}) as month_ends_to_evaluate,
            (
                select max(comment)
                from duckdb_tables()
                where database_name = '{{ this.database }}'
                    and schema_name = '{{ this.schema }}'
                    and table_name = '{{ this.identifier }}'
            ) as built_with
    {%- endset -%}
    {%- set row = run_query(query).rows[0] -%}
    {{ return(row['month_ends_to_evaluate'] == 0 and row['built_with'] == digest) }}
{%- endmacro %}
