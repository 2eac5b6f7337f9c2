-- One row per POS transaction, attributed to a member and valued in base points.
--   member: the member whose card_no matches and whose join_date <= sales_day (else null:
--           no card, unknown card, or a card used before its member joined); if a card
--           was reissued, the latest such member.
--   purchase: net_amount > 0; return: net_amount < 0.
--   base_points: purchase floor(net / yuan_per_point); return -floor(abs(net) / yuan_per_point).
with lines as (

    select * from {{ ref('stg_pos__lines') }}

),

transactions as (

    select
        txn_id,
        min(store_id) as store_id,
        min(sales_day) as sales_day,
        max(card_no) as card_no,
        count(*) as line_count,
        cast(sum(net_amount) as decimal(18, 2)) as net_amount
    from lines
    group by txn_id

),

members as (

    select member_id, card_no, join_date
    from {{ ref('int_members_as_of') }}

),

card_matches as (

    select
        transactions.txn_id,
        members.member_id,
        row_number() over (
            partition by transactions.txn_id
            order by members.join_date desc, members.member_id
        ) as match_rank
    from transactions
    inner join members
        on members.card_no = transactions.card_no
        and members.join_date <= transactions.sales_day

)

select
    transactions.txn_id,
    transactions.store_id,
    transactions.sales_day,
    transactions.card_no,
    card_matches.member_id,
    transactions.line_count,
    transactions.net_amount,
    transactions.net_amount > 0 as is_purchase,
    transactions.net_amount < 0 as is_return,
    case
        when transactions.net_amount > 0 then {{ points_for_amount('transactions.net_amount') }}
        when transactions.net_amount < 0 then -{{ points_for_amount('abs(transactions.net_amount)') }}
        else 0
    end as base_points
from transactions
left join card_matches
    on card_matches.txn_id = transactions.txn_id
    and card_matches.match_rank = 1
