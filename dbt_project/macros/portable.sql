{#
  Small portable helpers. Anything engine-specific goes through adapter.dispatch with a
  portable default__ (and a duckdb__ where DuckDB spells it differently).
#}

{# True when the whole text `expr` matches the regular expression `pattern` (a Python string). #}
{% macro regex_full_match(expr, pattern) -%}
    {{ return(adapter.dispatch('regex_full_match', 'loyalty_warehouse')(expr, pattern)) }}
{%- endmacro %}

{% macro default__regex_full_match(expr, pattern) -%}
    regexp_like({{ expr }}, {{ sql_string('^(' ~ pattern ~ ')$') }})
{%- endmacro %}

{% macro duckdb__regex_full_match(expr, pattern) -%}
    regexp_full_match({{ expr }}, {{ sql_string(pattern) }})
{%- endmacro %}


{#
  Mobile masked for BI: 13812341234 -> 138****1234. A value shorter than a mobile number
  (11 characters) would show most or all of itself that way (1380000 -> 138****0000), so it is
  masked whole: '****' (its length is not shown either). Null stays null.
#}
{% macro mask_mobile(expr) -%}
    case
        when {{ expr }} is null then null
        when {{ dbt.length(expr) }} >= 11
            then {{ dbt.concat(["substr(" ~ expr ~ ", 1, 3)", "'****'", "substr(" ~ expr ~ ", " ~ dbt.length(expr) ~ " - 3, 4)"]) }}
        else '****'
    end
{%- endmacro %}


{#
  Name masked for BI: all but the first character replaced by '*' (王小红 -> 王**). A name of
  one character would be shown whole that way, so it becomes '*'. Null stays null.
#}
{% macro mask_name(expr) -%}
    case
        when {{ expr }} is null then null
        when {{ dbt.length(expr) }} < 2 then repeat('*', {{ dbt.length(expr) }})
        else {{ dbt.concat(["substr(" ~ expr ~ ", 1, 1)", "repeat('*', " ~ dbt.length(expr) ~ " - 1)"]) }}
    end
{%- endmacro %}


{#
  The median of `value_column` per `partition_by` over the rows of CTE/relation `source`,
  as a select (columns: the partition columns, median_value, value_count). With an even
  count, the mean of the two middle values. Portable (row_number + count, no MEDIAN()).
#}
{% macro median_by(source, partition_by, value_column) -%}
    {%- set keys = partition_by | join(', ') -%}
    select
        {{ keys }},
        cast(avg(cast({{ value_column }} as decimal(18, 4))) as decimal(18, 1)) as median_value,
        max(value_count) as value_count
    from (
        select
            {{ keys }},
            {{ value_column }},
            row_number() over (partition by {{ keys }} order by {{ value_column }}) as value_rank,
            count(*) over (partition by {{ keys }}) as value_count
        from {{ source }}
    ) as ranked_values
    where value_rank in (floor((value_count + 1) / 2.0), floor((value_count + 2) / 2.0))
    group by {{ keys }}
{%- endmacro %}


{# The last month-end strictly before `day`: the day before the first of day's month. #}
{% macro month_end_before(day) -%}
    cast({{ dbt.dateadd('day', -1, dbt.date_trunc('month', day)) }} as date)
{%- endmacro %}


{# The same calendar day a year earlier, as a date (29 February -> 28 February). #}
{% macro a_year_earlier(day) -%}
    cast({{ dbt.dateadd('month', -12, day) }} as date)
{%- endmacro %}


{# A day plus n days, as a date. #}
{% macro add_days(day, n) -%}
    cast({{ dbt.dateadd('day', n, day) }} as date)
{%- endmacro %}


{# Every table and view in a schema of the warehouse, as relations: per adapter. #}
{% macro relations_in_schema(schema_name) -%}
    {{ return(adapter.dispatch('relations_in_schema', 'loyalty_warehouse')(schema_name)) }}
{%- endmacro %}

{% macro default__relations_in_schema(schema_name) -%}
    {{ exceptions.raise_compiler_error('no relation listing for adapter ' ~ adapter.type() ~ ': add one in macros/portable.sql') }}
{%- endmacro %}

{% macro duckdb__relations_in_schema(schema_name) -%}
    {%- set listing = run_query(
        "select table_name from information_schema.tables where table_catalog = '" ~ target.database
        ~ "' and table_schema = '" ~ schema_name ~ "' order by table_name") -%}
    {{ return(relations_named(schema_name, listing.columns[0].values())) }}
{%- endmacro %}

{% macro spark__relations_in_schema(schema_name) -%}
    {%- set listing = run_query('show tables in ' ~ schema_name) -%}
    {{ return(relations_named(schema_name, listing.columns['tableName'].values())) }}
{%- endmacro %}

{% macro relations_named(schema_name, names) -%}
    {%- set relations = [] -%}
    {%- for name in names -%}
        {%- do relations.append(api.Relation.create(database=warehouse_database(), schema=schema_name, identifier=name)) -%}
    {%- endfor -%}
    {{ return(relations) }}
{%- endmacro %}
