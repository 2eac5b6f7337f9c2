-- Member share of sales per selling store (会员销售占比) over the trailing year (tiers.basis_days)
-- to D and to each month-end before D from the first POS month: member transactions' net amount
-- over all transactions' (non-member and unknown-card sales included). One row per period end
-- and store with sales in the window. Rebuilt whole each run from the stores x days aggregate.
with store_days as (

    select store_id, sales_day, sum(net_sales) as net_sales, sum(member_net_sales) as member_net_sales
    from {{ ref('int_store_daily_sales') }}
    group by store_id, sales_day

),

period_ends as (

    select month_end as period_end, true as is_month_end
    from {{ ref('int_month_ends') }}
    where month_end < {{ as_of_date() }}
        and month_end >= (select min(sales_day) from store_days)

    union all

    select {{ as_of_date() }}, false

),

windows as (

    select
        period_ends.period_end,
        period_ends.is_month_end,
        store_days.store_id,
        sum(store_days.net_sales) as net_sales,
        sum(store_days.member_net_sales) as member_net_sales
    from period_ends
    inner join store_days
        on store_days.sales_day <= period_ends.period_end
        and store_days.sales_day >= {{ trailing_window_start(program_number('tiers.basis_days', min=1), 'period_ends.period_end') }}
    group by period_ends.period_end, period_ends.is_month_end, store_days.store_id

)

select
    period_end,
    is_month_end,
    store_id,
    cast(net_sales as decimal(18, 2)) as trailing_sales,
    cast(member_net_sales as decimal(18, 2)) as member_trailing_sales,
    cast(case when net_sales <> 0 then member_net_sales / net_sales end as decimal(9, 6)) as member_share,
    {{ as_of_date() }} as as_of
from windows
