-- Member attribution, one row per card and sales day with card transactions (days <= D):
-- the member whose card_no matches and whose join_date <= sales_day (the latest such member
-- if a card was reissued); member_id null for an unknown card or a card used before its
-- member joined. Rebuilt every run from the members known on D (cheap: cards x days), so
-- the incremental daily aggregates never carry a stale attribution.
with card_days as (

    select distinct card_no, sales_day
    from {{ ref('int_card_daily_sales') }}
    where business_day <= {{ as_of_date() }}

),

card_matches as (

    select
        card_days.card_no,
        card_days.sales_day,
        members.member_id,
        row_number() over (
            partition by card_days.card_no, card_days.sales_day
            order by members.join_date desc, members.member_id
        ) as match_rank
    from card_days
    inner join {{ ref('int_members_as_of') }} as members
        on members.card_no = card_days.card_no
        and members.join_date <= card_days.sales_day

)

select
    card_days.card_no,
    card_days.sales_day,
    card_matches.member_id
from card_days
left join card_matches
    on card_matches.card_no = card_days.card_no
    and card_matches.sales_day = card_days.sales_day
    and card_matches.match_rank = 1
