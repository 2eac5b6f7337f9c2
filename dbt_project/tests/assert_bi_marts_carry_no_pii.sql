-- Gate: no table of schema marts (exported to the BI serving copy) has a full-PII column.
-- Columns are listed through the adapter, not information_schema, so the test runs on every engine.
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'lapsed_customers'}}}) }}
-- depends_on: {{ ref('lapsed_customers') }}

{%- set pii_columns = ['name', 'mobile', 'birth_date', 'address'] -%}
{%- set found = [] -%}
{%- if execute -%}
    {#- every relation in the schema, not only the models: the serving copy exports them all -#}
    {%- for relation in relations_in_schema('marts') -%}
        {%- for column in adapter.get_columns_in_relation(relation) if (column.name | lower) in pii_columns -%}
            {%- do found.append((relation.identifier, column.name)) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif %}

{% for table_name, column_name in found %}
select '{{ table_name }}' as table_name, '{{ column_name }}' as column_name
union all
{% endfor %}
select cast(null as {{ dbt.type_string() }}) as table_name, cast(null as {{ dbt.type_string() }}) as column_name
where 1 = 0
