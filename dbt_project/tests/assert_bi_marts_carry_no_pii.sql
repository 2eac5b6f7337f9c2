-- Gate: no table of schema marts (exported to the BI serving copy) has a full-PII column.
{{ config(severity='error', meta={'blocking': true, 'dagster': {'ref': {'name': 'lapsed_customers'}}}) }}

select table_name, column_name
from information_schema.columns
where lower(table_schema) = 'marts'
    and lower(column_name) in ('name', 'mobile', 'birth_date', 'address')
