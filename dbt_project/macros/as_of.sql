{#
  The as-of date D of a run (var as_of_date, 'YYYY-MM-DD') as a SQL date literal.
  Every model is a pure function of the raw rows with business_day <= D.
#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date') | string -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
        {{ exceptions.raise_compiler_error("var as_of_date must be a date 'YYYY-MM-DD', got '" ~ value ~ "'") }}
    {%- endif -%}
    cast('{{ value }}' as date)
{%- endmacro %}


{#
  First day of the trailing window of `days` days ending on `end_day` inclusive
  (default: the as-of date): end_day - (days - 1). The trailing year (365 days) of
  day d is d-364 .. d. `end_day` may be any SQL date expression (e.g. a month-end column).
#}
{% macro trailing_window_start(days, end_day=none) -%}
    {%- if days is not number or days is boolean or days | int != days or days < 1 -%}
        {{ exceptions.raise_compiler_error("trailing window length must be a whole number of days >= 1, got '" ~ days ~ "'") }}
    {%- endif -%}
    cast({{ dbt.dateadd('day', -(days | int - 1), end_day if end_day is not none else as_of_date()) }} as date)
{%- endmacro %}
