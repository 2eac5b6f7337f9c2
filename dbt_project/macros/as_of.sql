{#
  The as-of date D of a run as a SQL date literal: var as_of_date ('YYYY-MM-DD') if given,
  else the environment variable LOYALTY_AS_OF_DATE (set by the orchestrator for each run),
  else yesterday in UTC: the day the morning schedule runs for, so a plain `dbt build` works.
  Every model is a pure function of the raw rows with business_day <= D.
  Why an environment variable: a changed --vars makes dbt re-parse the whole project on every
  daily run; the environment is read only when executing (never while parsing), so the daily
  runs reuse the previous run's partial parse.
#}
{% macro as_of_date() -%}
    {%- set value = var('as_of_date', none) -%}
    {%- if value is none -%}
        {%- set yesterday = modules.datetime.datetime.now(modules.pytz.utc).date() - modules.datetime.timedelta(days=1) -%}
        {%- set value = (env_var('LOYALTY_AS_OF_DATE', '') or yesterday.isoformat()) if execute else '1970-01-01' -%}
    {%- endif -%}
    {%- set value = value | string -%}
    {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', value) -%}
        {{ exceptions.raise_compiler_error("the as-of date (var as_of_date, or environment variable LOYALTY_AS_OF_DATE) must be a date 'YYYY-MM-DD', got '" ~ value ~ "'") }}
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
