-- Gate: per business day <= D, the money and the line count of the raw valid POS lines equal
-- those of the sales fact (no line lost, doubled or changed between ingestion and the marts).
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'fct_sales_lines'}}}) }}

with raw_days as (

    select business_day, sum(net_amount) as amount, count(*) as lines
    from {{ source('raw', 'pos_lines') }}
    where business_day <= {{ as_of_date() }}
    group by business_day

),

fact_days as (

    select business_day, sum(net_amount) as amount, count(*) as lines
    from {{ ref('fct_sales_lines') }}
    group by business_day

)

select
    coalesce(raw_days.business_day, fact_days.business_day) as business_day,
    raw_days.amount as raw_amount,
    fact_days.amount as fact_amount,
    raw_days.lines as raw_lines,
    fact_days.lines as fact_lines
from raw_days
full outer join fact_days
    on fact_days.business_day = raw_days.business_day
where raw_days.amount is distinct from fact_days.amount
    or raw_days.lines is distinct from fact_days.lines
