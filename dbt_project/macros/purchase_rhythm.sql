{#
  The purchase rhythm rule, one place for every grain (a member; a member and a category).
  From `purchase_days`, a CTE of distinct (`keys`, sales_day) rows, one per day with a purchase:
  per key, the first, second and last purchase day, the number of purchase days, and the median
  gap in days between consecutive purchase days (median_of: with an even number of gaps, the
  mean of the two middle ones; null with fewer than two purchase days).
  Emits CTEs to follow a `with ... ,`: rhythm_sequence and rhythm, the one the model reads.
#}
{% macro purchase_rhythm_ctes(purchase_days, keys) -%}
    {%- set key_list = keys | join(', ') -%}
rhythm_sequence as (

    select
        {{ key_list }},
        sales_day,
        row_number() over (partition by {{ key_list }} order by sales_day) as day_number,
        lag(sales_day) over (partition by {{ key_list }} order by sales_day) as previous_day
    from {{ purchase_days }}

),

rhythm as (

    select
        {{ key_list }},
        min(sales_day) as first_purchase_date,
        min(case when day_number = 2 then sales_day end) as second_purchase_date,
        max(sales_day) as last_purchase_date,
        cast(count(*) as bigint) as purchase_days,
        -- the first day has no gap (previous_day is null): the median skips it
        cast({{ median_of(dbt.datediff('previous_day', 'sales_day', 'day')) }} as decimal(18, 1)) as median_gap_days
    from rhythm_sequence
    group by {{ key_list }}

)
{%- endmacro %}
