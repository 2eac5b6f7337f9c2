{#
  Post-hook of every model (dbt_project.yml): the model's row count as one dbt log line,
  `loyalty_row_count <n>`, which the Dagster asset (orchestration/defs/transform/assets.py)
  puts on the model's materialization as `dagster/row_count` as the node finishes. So the
  asset records each model while dbt runs, instead of holding every event back until dbt
  exits to count through its own connection (DuckDB has one writing process).
  Per adapter: Spark's counts are read from the snapshot DuckDB loads after the build.
#}
{% macro log_row_count() -%}
    {{ return(adapter.dispatch('log_row_count', 'loyalty_warehouse')()) }}
{%- endmacro %}

{% macro default__log_row_count() -%}
    {{ exceptions.raise_compiler_error('no row-count hook for adapter ' ~ adapter.type() ~ ': add one in macros/row_counts.sql') }}
{%- endmacro %}

{% macro duckdb__log_row_count() -%}
    {%- if execute and flags.WHICH in ['run', 'build'] -%}
        {%- set counted = run_query('select count(*) from ' ~ this) -%}
        {%- do log('loyalty_row_count ' ~ counted.columns[0].values()[0], info=true) -%}
    {%- endif -%}
{%- endmacro %}

{% macro spark__log_row_count() -%}
{%- endmacro %}
