-- The calendar of month-ends: one row per month from the month of the first join_date up
-- to the month of D (at most 1000 months), with the month's first and last day.
-- A portable number generator (no generate_series), so it runs on any warehouse.
with bounds as (

    select cast({{ dbt.date_trunc('month', 'min(join_date)') }} as date) as first_month
    from {{ ref('int_members_as_of') }}

),

digits as (

    select 0 as digit union all select 1 union all select 2 union all select 3 union all select 4
    union all select 5 union all select 6 union all select 7 union all select 8 union all select 9

),

numbers as (

    select ones.digit + 10 * tens.digit + 100 * hundreds.digit as month_offset
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds

),

months as (

    select cast({{ dbt.dateadd('month', 'numbers.month_offset', 'bounds.first_month') }} as date) as month_start
    from bounds
    cross join numbers
    where bounds.first_month is not null

)

select
    month_start,
    cast({{ dbt.last_day('month_start', 'month') }} as date) as month_end
from months
where month_start <= {{ as_of_date() }}
