{#
  Reading the loyalty program configuration (var `program`: the default in dbt_project.yml, or
  the file named by LOYALTY_PROGRAM, which the orchestrator passes as --vars).
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


{#
  The whole program configuration checked at once, before any model runs (on-run-start
  hook of dbt_project.yml): every known key, its type and range, no unknown keys. The
  first problem stops the run with a message naming the key. Returns a harmless statement.
#}
{% macro program_settings_schema() -%}
    {{ return({
        'program_name': 'string',
        'points': {
            'yuan_per_point': 'number>0',
            'welcome_bonus': 'int>=0',
            'birthday_multiplier': 'number>=0',
            'bonus_category_multiplier': 'number>=0',
            'member_days': 'member_days',
            'return_posting_delay_days': 'int>=0',
            'points_per_yuan_redeemed': 'number>0',
        },
        'tiers': {
            'basis_days': 'int>=1',
            'scheme': 'scheme',
        },
        'pyramid': {
            'vip_share': 'share',
            'key_share': 'share',
            'ordinary_share': 'share',
            'one_off_min_months': 'int>=0',
        },
        'lapsed': {
            'days': 'int>=1',
            'at_risk_gap_factor': 'number>0',
            'at_risk_min_purchase_days': 'int>=2',
            'valid_mobile_pattern': 'regex',
        },
        'privacy': {
            'minor_age': 'int>=0',
        },
        'champions': {
            'share': 'share',
        },
        'replenishment': {
            'min_purchase_days': 'int>=2',
            'horizon_days': 'int>=1',
        },
        'retention': {
            'churn_window_days': 'int>=1',
        },
        'conversion': {
            'window_days': 'days_list',
        },
        'decline': {
            'share': 'share',
            'window_days': 'int>=1',
        },
        'summary': {
            'top_share': 'share',
        },
        'nudge': {
            'gap_share': 'share',
        },
        'clv': {
            'prediction_days': 'int>=1',
            'horizon_months': 'int>=1',
            'monthly_discount': 'share',
            'fit_sample_members': 'int>=1',
            'refit_every_days': 'int>=0',
        },
    }) }}
{%- endmacro %}


{% macro _program_check_value(path, kind, value) -%}
    {%- set fail = "program configuration: '" ~ path ~ "' " -%}
    {%- set is_number = value is number and value is not boolean -%}
    {%- if kind == 'string' -%}
        {%- if value is not string or value | trim == '' -%}{{ exceptions.raise_compiler_error(fail ~ "must be a non-empty text, got '" ~ value ~ "'") }}{%- endif -%}
    {%- elif kind == 'regex' -%}
        {%- if value is not string or value == '' -%}{{ exceptions.raise_compiler_error(fail ~ "must be a regular expression, got '" ~ value ~ "'") }}{%- endif -%}
        {%- set ns = namespace(ok=true) -%}
        {%- set compiled = modules.re.compile(value) -%}
    {%- elif kind in ('int>=0', 'int>=1', 'int>=2') -%}
        {%- set minimum = kind[-1] | int -%}
        {%- if not is_number or value | int != value or value < minimum -%}
            {{ exceptions.raise_compiler_error(fail ~ "must be a whole number >= " ~ minimum ~ ", got '" ~ value ~ "'") }}
        {%- endif -%}
    {%- elif kind == 'number>0' -%}
        {%- if not is_number or value <= 0 -%}{{ exceptions.raise_compiler_error(fail ~ "must be a number > 0, got '" ~ value ~ "'") }}{%- endif -%}
    {%- elif kind == 'number>=0' -%}
        {%- if not is_number or value < 0 -%}{{ exceptions.raise_compiler_error(fail ~ "must be a number >= 0, got '" ~ value ~ "'") }}{%- endif -%}
    {%- elif kind == 'share' -%}
        {%- if not is_number or value < 0 or value > 1 -%}{{ exceptions.raise_compiler_error(fail ~ "must be a fraction between 0 and 1, got '" ~ value ~ "'") }}{%- endif -%}
    {%- elif kind == 'member_days' -%}
        {%- if value is string or value is mapping or value is not iterable -%}
            {{ exceptions.raise_compiler_error(fail ~ "must be a list of {date: 'YYYY-MM-DD', multiplier: n}") }}
        {%- endif -%}
        {%- for day in value -%}
            {%- set where = path ~ "[" ~ loop.index0 ~ "]" -%}
            {%- if day is not mapping or day.keys() | list | sort != ['date', 'multiplier'] -%}
                {{ exceptions.raise_compiler_error("program configuration: '" ~ where ~ "' must be {date: 'YYYY-MM-DD', multiplier: n}") }}
            {%- endif -%}
            {%- if not modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', day['date'] | string) -%}
                {{ exceptions.raise_compiler_error("program configuration: '" ~ where ~ ".date' must be a date 'YYYY-MM-DD', got '" ~ day['date'] ~ "'") }}
            {%- endif -%}
            {{ _program_check_value(where ~ '.multiplier', 'number>=0', day['multiplier']) }}
        {%- endfor -%}
    {%- elif kind == 'days_list' -%}
        {%- if value is string or value is mapping or value is not iterable or value | length == 0 -%}
            {{ exceptions.raise_compiler_error(fail ~ "must be a non-empty list of whole numbers of days >= 1, got '" ~ value ~ "'") }}
        {%- endif -%}
        {%- for days in value -%}
            {{ _program_check_value(path ~ "[" ~ loop.index0 ~ "]", 'int>=1', days) }}
        {%- endfor -%}
    {%- elif kind == 'scheme' -%}
        {%- set scheme = tier_scheme() -%}
    {%- endif -%}
{%- endmacro %}


{% macro validate_program() -%}
    {%- set program = var('program') -%}
    {%- set schema = program_settings_schema() -%}
    {%- if program is not mapping -%}
        {{ exceptions.raise_compiler_error("program configuration: must be a mapping of settings") }}
    {%- endif -%}
    {%- for key in program.keys() -%}
        {%- if key not in schema -%}
            {{ exceptions.raise_compiler_error("program configuration: unknown setting '" ~ key ~ "' (known: " ~ schema.keys() | join(', ') ~ ")") }}
        {%- endif -%}
    {%- endfor -%}
    {%- for key, kind in schema.items() -%}
        {%- if key not in program -%}
            {{ exceptions.raise_compiler_error("program configuration: missing setting '" ~ key ~ "'") }}
        {%- endif -%}
        {%- if kind is mapping -%}
            {%- set section = program[key] -%}
            {%- if section is not mapping -%}
                {{ exceptions.raise_compiler_error("program configuration: '" ~ key ~ "' must be a mapping of settings") }}
            {%- endif -%}
            {%- for sub in section.keys() -%}
                {%- if sub not in kind -%}
                    {{ exceptions.raise_compiler_error("program configuration: unknown setting '" ~ key ~ "." ~ sub ~ "' (known: " ~ kind.keys() | join(', ') ~ ")") }}
                {%- endif -%}
            {%- endfor -%}
            {%- for sub, sub_kind in kind.items() -%}
                {%- if sub not in section -%}
                    {{ exceptions.raise_compiler_error("program configuration: missing setting '" ~ key ~ "." ~ sub ~ "'") }}
                {%- endif -%}
                {{ _program_check_value(key ~ '.' ~ sub, sub_kind, section[sub]) }}
            {%- endfor -%}
        {%- else -%}
            {{ _program_check_value(key, kind, program[key]) }}
        {%- endif -%}
    {%- endfor -%}
    {%- set pyramid = program['pyramid'] -%}
    {%- if not (pyramid['vip_share'] <= pyramid['key_share'] <= pyramid['ordinary_share']) -%}
        {{ exceptions.raise_compiler_error("program configuration: 'pyramid.key_share' must lie between 'pyramid.vip_share' and 'pyramid.ordinary_share'") }}
    {%- endif -%}
    select 1 as program_is_valid
{%- endmacro %}


{# The configured member days as a SQL CASE giving the multiplier of `day` (1 when not a member day). #}
{% macro member_day_multiplier(day) -%}
    {%- set days = program('points.member_days') or [] -%}
    {%- if days | length == 0 -%}
    {{ sql_decimal(1, 2, 9) }}
    {%- else -%}
    case {{ day }}
        {%- for member_day in days %}
        when cast('{{ member_day["date"] }}' as date) then {{ sql_decimal(member_day['multiplier'], 2, 9) }}
        {%- endfor %}
        else {{ sql_decimal(1, 2, 9) }}
    end
    {%- endif -%}
{%- endmacro %}
