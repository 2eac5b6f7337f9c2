-- One row per member with any member transaction (days <= D): lifetime purchase facts from
-- the daily aggregate (spend net of returns, purchase transactions, distinct months with a
-- purchase). Rebuilt whole each run. First and last purchase days: int_member_purchase_rhythm.
select
    daily.member_id,
    cast(sum(daily.spend) as decimal(18, 2)) as lifetime_spend,
    cast(sum(daily.purchase_transactions) as bigint) as lifetime_transactions,
    cast(count(distinct case
        when daily.purchase_transactions > 0 then {{ dbt.date_trunc('month', 'daily.sales_day') }}
    end) as bigint) as active_months
from {{ ref('int_member_daily_sales') }} as daily
group by daily.member_id
