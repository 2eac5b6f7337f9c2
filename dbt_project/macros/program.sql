{#
  Reading the loyalty program configuration (var `program`, the content of
  program/default.yml or of the file named by LOYALTY_PROGRAM).
  Nothing in the models hard-codes a rule parameter: they all come through here.
#}

{# The value at a dotted key path, e.g. program('tiers.basis_days'). Missing key: compiler error. #}
{% macro program(path) -%}
    {%- set ns = namespace(node=var('program'), seen=[]) -%}
    {%- for key in path.split('.') -%}
        {%- set ns.seen = ns.seen + [key] -%}
        {%- if ns.node is not mapping or key not in ns.node -%}
            {{ exceptions.raise_compiler_error("program configuration: missing setting '" ~ ns.seen | join('.') ~ "'") }}
        {%- endif -%}
        {%- set ns.node = ns.node[key] -%}
    {%- endfor -%}
    {{ return(ns.node) }}
{%- endmacro %}


{# A numeric setting, checked (not a string, not a boolean, within optional bounds). #}
{% macro program_number(path, min=none, max=none) -%}
    {%- set value = program(path) -%}
    {%- if value is not number or value is boolean -%}
        {{ exceptions.raise_compiler_error("program configuration: '" ~ path ~ "' must be a number, got '" ~ value ~ "'") }}
    {%- endif -%}
    {%- if (min is not none and value < min) or (max is not none and value > max) -%}
        {{ exceptions.raise_compiler_error("program configuration: '" ~ path ~ "' = " ~ value ~ " is outside [" ~ min ~ ", " ~ max ~ "]") }}
    {%- endif -%}
    {{ return(value) }}
{%- endmacro %}


{#
  A number as an exact SQL decimal (never a binary float): 0.01 -> cast('0.010000000' as decimal(18, 9)),
  so that floor(N * share) is exact (floor(100 * 0.01) = 1, floor(20 * 0.05) = 1).
#}
{% macro sql_decimal(value, scale=9, precision=18) -%}
    cast('{{ ("%." ~ scale ~ "f") | format(value) }}' as decimal({{ precision }}, {{ scale }}))
{%- endmacro %}


{# A string as a SQL string literal. #}
{% macro sql_string(value) -%}
    '{{ (value | string).replace("'", "''") }}'
{%- endmacro %}


{#
  Base points of an amount (yuan) >= 0: floor(amount / points.yuan_per_point).
  Callers apply the sign (returns deduct the points of abs(net_amount)).
#}
{% macro points_for_amount(amount) -%}
    cast(floor(({{ amount }}) / {{ sql_decimal(program_number('points.yuan_per_point', min=0.01), 6) }}) as integer)
{%- endmacro %}
