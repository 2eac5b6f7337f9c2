{#
  The one place the trailing-window member sums are taken from the daily aggregate
  int_member_daily_sales: for each row of `windows` (a CTE or relation with member_id and the
  columns named in `keys`), the member's spend, purchase transactions and base (qualifying)
  points over the tiers.basis_days days ending on `end_day` inclusive. `end_day` is a SQL date:
  a column of `windows` (a month-end, a last purchase day) or a constant such as the as-of
  date, which the engine then pushes down into the scan of the daily aggregate.
  Members without a sale in their window have no row: callers left join and coalesce.
#}
{% macro trailing_member_sales(windows, end_day, keys=[], purchase_months=false) -%}
    select
        {{ windows }}.member_id,
        {%- for key in keys %}
        {{ windows }}.{{ key }},
        {%- endfor %}
        sum(daily.spend) as spend,
        sum(daily.purchase_transactions) as purchase_transactions,
        {%- if purchase_months %}
        count(distinct case
            when daily.purchase_transactions > 0 then {{ dbt.date_trunc('month', 'daily.sales_day') }}
        end) as purchase_months,
        {%- endif %}
        sum(daily.base_points) as base_points
    from {{ windows }}
    inner join {{ ref('int_member_daily_sales') }} as daily
        on daily.member_id = {{ windows }}.member_id
        and daily.sales_day <= {{ end_day }}
        and daily.sales_day >= {{ trailing_window_start(program_number('tiers.basis_days', min=1), end_day) }}
    group by {{ windows }}.member_id
        {%- for key in keys %}, {{ windows }}.{{ key }}{% endfor %}
{%- endmacro %}
