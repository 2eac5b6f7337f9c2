{#
  Loyalty tiers from the program configuration (tiers.scheme): an ordered list,
  best first, of {name, thresholds, multiplier, discount}. A member gets the FIRST
  tier any of whose thresholds is met; a tier with empty thresholds matches
  everyone, and the last tier must have none (every member gets a tier).
#}

{# Threshold keys of the configuration -> the trailing-year column they compare (>=). #}
{% macro tier_threshold_columns() -%}
    {{ return({
        'spend': 'trailing_spend',
        'transactions': 'trailing_transactions',
        'qualifying_points': 'trailing_qualifying_points',
    }) }}
{%- endmacro %}


{# The validated scheme (raises a compiler error naming what is wrong). #}
{% macro tier_scheme() -%}
    {%- set scheme = program('tiers.scheme') -%}
    {%- set columns = tier_threshold_columns() -%}
    {%- if scheme is string or scheme is mapping or scheme is not iterable or scheme | length == 0 -%}
        {{ exceptions.raise_compiler_error("program configuration: 'tiers.scheme' must be a non-empty list of tiers") }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for tier in scheme -%}
        {%- set where = "program configuration: tiers.scheme[" ~ loop.index0 ~ "]" -%}
        {%- if tier is not mapping or tier.get('name') is not string or tier.get('name') | trim == '' -%}
            {{ exceptions.raise_compiler_error(where ~ " needs a non-empty 'name'") }}
        {%- endif -%}
        {%- if tier['name'] in names -%}
            {{ exceptions.raise_compiler_error(where ~ ": tier name '" ~ tier['name'] ~ "' is used twice") }}
        {%- endif -%}
        {%- do names.append(tier['name']) -%}
        {%- set thresholds = tier.get('thresholds') or {} -%}
        {%- if thresholds is not mapping -%}
            {{ exceptions.raise_compiler_error(where ~ " (" ~ tier['name'] ~ "): 'thresholds' must be a mapping") }}
        {%- endif -%}
        {%- for key, value in thresholds.items() -%}
            {%- if key not in columns -%}
                {{ exceptions.raise_compiler_error(where ~ " (" ~ tier['name'] ~ "): unknown threshold key '" ~ key ~ "' (known: " ~ columns.keys() | join(', ') ~ ")") }}
            {%- endif -%}
            {%- if value is not number or value is boolean -%}
                {{ exceptions.raise_compiler_error(where ~ " (" ~ tier['name'] ~ "): threshold '" ~ key ~ "' must be a number, got '" ~ value ~ "'") }}
            {%- endif -%}
        {%- endfor -%}
        {%- if loop.last and thresholds | length > 0 -%}
            {{ exceptions.raise_compiler_error(where ~ " (" ~ tier['name'] ~ "): the last tier must have no thresholds (it is the tier of every other member)") }}
        {%- endif -%}
        {%- for attribute in ['multiplier', 'discount'] -%}
            {%- set value = tier.get(attribute) -%}
            {%- if value is not number or value is boolean or value < 0 -%}
                {{ exceptions.raise_compiler_error(where ~ " (" ~ tier['name'] ~ "): '" ~ attribute ~ "' must be a number >= 0, got '" ~ value ~ "'") }}
            {%- endif -%}
        {%- endfor -%}
        {%- if tier['discount'] >= 1 -%}
            {{ exceptions.raise_compiler_error(where ~ " (" ~ tier['name'] ~ "): 'discount' is a fraction below 1 (0.10 = 10% off), got " ~ tier['discount']) }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(scheme) }}
{%- endmacro %}


{# Tier names in scheme order (best first). #}
{% macro tier_names() -%}
    {%- set names = [] -%}
    {%- for tier in tier_scheme() -%}
        {%- do names.append(tier['name']) -%}
    {%- endfor -%}
    {{ return(names) }}
{%- endmacro %}


{#
  The tier rank (1 = best) of a row carrying trailing_spend, trailing_transactions and
  trailing_qualifying_points (optionally qualified by `relation_alias`).
#}
{% macro tier_rank_case(relation_alias=none) -%}
    {%- set prefix = relation_alias ~ '.' if relation_alias else '' -%}
    {%- set columns = tier_threshold_columns() -%}
    {%- set scheme = tier_scheme() -%}
    case
    {%- for tier in scheme %}
        {%- set thresholds = tier.get('thresholds') or {} %}
        {%- if loop.last %}
        else {{ loop.index }}
        {%- elif thresholds | length == 0 %}
        when 1 = 1 then {{ loop.index }}
        {%- else %}
        when {% for key, value in thresholds.items() -%}
            {{ prefix ~ columns[key] }} >= {{ sql_decimal(value, 6) }}{{ ' or ' if not loop.last }}
        {%- endfor %} then {{ loop.index }}
        {%- endif %}
    {%- endfor %}
    end
{%- endmacro %}


{#
  An attribute of the tier of rank `rank_column`: 'name' (text), 'multiplier'
  (decimal(9, 2)) or 'discount' (decimal(5, 4), 0.10 = 10% off).
#}
{% macro tier_attribute(rank_column, attribute) -%}
    case {{ rank_column }}
    {%- for tier in tier_scheme() %}
        when {{ loop.index }} then
        {%- if attribute == 'name' %} {{ sql_string(tier['name']) }}
        {%- elif attribute == 'multiplier' %} {{ sql_decimal(tier['multiplier'], 2, 9) }}
        {%- elif attribute == 'discount' %} {{ sql_decimal(tier['discount'], 4, 5) }}
        {%- else %}{{ exceptions.raise_compiler_error("tier_attribute: unknown attribute '" ~ attribute ~ "'") }}
        {%- endif %}
    {%- endfor %}
    end
{%- endmacro %}


{#
  The threshold `key` ('spend', 'transactions' or 'qualifying_points') of the tier of rank
  `rank_column`, as decimal(18, 6); null for a tier without that threshold or a rank outside
  the scheme (e.g. rank 0, "above the top tier").
#}
{% macro tier_threshold(rank_column, key) -%}
    {%- if key not in tier_threshold_columns() -%}
        {{ exceptions.raise_compiler_error("tier_threshold: unknown threshold key '" ~ key ~ "'") }}
    {%- endif -%}
    case {{ rank_column }}
    {%- for tier in tier_scheme() %}
        {%- set value = (tier.get('thresholds') or {}).get(key) %}
        when {{ loop.index }} then {{ sql_decimal(value, 6) if value is not none else 'cast(null as decimal(18, 6))' }}
    {%- endfor %}
    end
{%- endmacro %}
