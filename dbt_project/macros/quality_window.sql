{#
  Data tests on the chain-scale tables (50M POS lines, tens of millions of daily rows) check
  the recent days only: D - (quality_window_days - 1) .. D, var quality_window_days (default 7).
  Run `dbt test --vars '{"quality_window_days": 100000, ...}'` for a whole-history pass.
#}
{% macro quality_window_start() -%}
    {{ trailing_window_start(var('quality_window_days', 7)) }}
{%- endmacro %}


{# Tests may use `config: where: "<column> >= __quality_window_start__"`: the placeholder becomes the date. #}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where -%}
        {%- set where = where | replace('__quality_window_start__', quality_window_start()) -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}
