{{ config(materialized='month_end_history') }}
-- depends_on: {{ ref('int_month_ends_to_evaluate') }}
-- The retention rows (macro retention_ctes) of the closed months: activity months whose last
-- day is on or before D. They change only when this run evaluates a month-end <= D again (a
-- month-end reached, a corrected day, a changed member), so the table is kept in between
-- (materialization month_end_history); retention_cohorts adds D's month.
with {{ retention_ctes('select month_start from ' ~ ref('int_month_ends') ~ ' where month_end <= ' ~ as_of_date()) }}

select * from retention
