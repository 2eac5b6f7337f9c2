{#
  The purchase rhythm rule, one place for every grain (a member; a member and a category).
  From `purchase_days`, a CTE of distinct (`keys`, sales_day) rows, one per day with a purchase:
  per key, the first, second and last purchase day, the number of purchase days, and the median
  gap in days between consecutive purchase days (median_by: with an even number of gaps, the
  mean of the two middle ones; null with fewer than two purchase days).
  Emits CTEs to follow a `with ... ,`: rhythm_sequence, rhythm_gaps, rhythm_gap_medians and
  rhythm, the one the model reads.
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

rhythm_gaps as (

    select {{ key_list }}, {{ dbt.datediff('previous_day', 'sales_day', 'day') }} as gap_days
    from rhythm_sequence
    where previous_day is not null

),

rhythm_gap_medians as (

    {{ median_by('rhythm_gaps', keys, 'gap_days') }}

),

rhythm as (

    select
        {%- for key in keys %}
        summary.{{ key }},
        {%- endfor %}
        summary.first_purchase_date,
        summary.second_purchase_date,
        summary.last_purchase_date,
        cast(summary.purchase_days as bigint) as purchase_days,
        medians.median_value as median_gap_days
    from (
        select
            {{ key_list }},
            min(sales_day) as first_purchase_date,
            min(case when day_number = 2 then sales_day end) as second_purchase_date,
            max(sales_day) as last_purchase_date,
            count(*) as purchase_days
        from rhythm_sequence
        group by {{ key_list }}
    ) as summary
    left join rhythm_gap_medians as medians
        on {% for key in keys %}medians.{{ key }} = summary.{{ key }}{{ ' and ' if not loop.last }}{% endfor %}

)
{%- endmacro %}
