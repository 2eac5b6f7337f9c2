-- Value-decline warnings (去年最大的客户今年…): the members a store manager calls before they are
-- lost. Non-cancelled members, not lapsed on D (at risk is still listed), who were vip or key at
-- the reference month-end (the month-end one year before the last month-end before D) and whose
-- spend over the decline.window_days days ending on D is below (1 - decline.share) of their
-- spend over the same calendar dates one year earlier (29 February -> 28 February). A member
-- with no spend in the earlier window cannot decline.
{%- set window_days = program_number('decline.window_days', min=1, max=365) %}
{%- set recent_start = trailing_window_start(window_days) %}

with reference as (

    select cast({{ dbt.last_day(a_year_earlier(month_end_before(as_of_date())), 'month') }} as date) as month_end

),

big_a_year_ago as (

    select history.member_id, history.segment
    from {{ ref('member_segment_history') }} as history
    where history.month_end = (select month_end from reference)
        and history.segment in ('vip', 'key')

),

window_spend as (

    select
        daily.member_id,
        sum(case when daily.sales_day >= {{ recent_start }} then daily.spend else 0 end) as recent_spend,
        sum(case when daily.sales_day <= {{ a_year_earlier(as_of_date()) }} then daily.spend else 0 end) as earlier_spend
    from {{ ref('int_member_daily_sales') }} as daily
    inner join big_a_year_ago
        on big_a_year_ago.member_id = daily.member_id
    where (daily.sales_day >= {{ recent_start }} and daily.sales_day <= {{ as_of_date() }})
        or (daily.sales_day >= {{ a_year_earlier(recent_start) }} and daily.sales_day <= {{ a_year_earlier(as_of_date()) }})
    group by daily.member_id

),

members as (

    select member_id, card_no, join_store_id
    from {{ ref('int_members_as_of') }}
    where status <> 'cancelled'

)

select
    big_a_year_ago.member_id,
    members.card_no,
    members.join_store_id,
    (select month_end from reference) as reference_month_end,
    big_a_year_ago.segment as segment_a_year_ago,
    pyramid.segment,
    cast(window_spend.recent_spend as decimal(18, 2)) as recent_spend,
    cast(window_spend.earlier_spend as decimal(18, 2)) as earlier_spend,
    cast(1 - window_spend.recent_spend / window_spend.earlier_spend as decimal(9, 6)) as spend_decline,
    lapsed.status as lapsed_status,
    {{ as_of_date() }} as as_of
from big_a_year_ago
inner join members
    on members.member_id = big_a_year_ago.member_id
inner join window_spend
    on window_spend.member_id = big_a_year_ago.member_id
left join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = big_a_year_ago.member_id
left join {{ ref('lapsed_customers') }} as lapsed
    on lapsed.member_id = big_a_year_ago.member_id
where window_spend.earlier_spend > 0
    and window_spend.recent_spend
        < (1 - {{ sql_decimal(program_number('decline.share', min=0, max=1)) }}) * window_spend.earlier_spend
    and coalesce(lapsed.status, '') <> 'lapsed'
