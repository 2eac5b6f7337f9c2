-- Retention by monthly join cohort (macro retention_ctes): for each cohort (month of join_date,
-- all members) and each month from the join month up to D's month, the share of the cohort with
-- a purchase transaction in that month. The closed months come from int_retention_closed_months
-- (kept between month-ends); D's month, partial (up to D), is computed here from its own days.
{%- set month_of_d = 'cast(' ~ dbt.date_trunc('month', as_of_date()) ~ ' as date)' %}
with {{ retention_ctes('select month_start from ' ~ ref('int_month_ends') ~ ' where month_end > ' ~ as_of_date(),
                       purchases_from=month_of_d) }}

select * from {{ ref('int_retention_closed_months') }}

union all

select * from retention
