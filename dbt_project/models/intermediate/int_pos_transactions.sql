-- One row per POS transaction (days <= D) attributed to its member (int_card_day_members:
-- card_no match, join_date <= sales_day, latest such member; else null) and valued in base
-- points. A view over the incremental int_pos_transactions_by_day: the attribution is always
-- that of the members known on D.
{{ config(materialized='view') }}
select
    transactions.txn_id,
    transactions.store_id,
    transactions.sales_day,
    transactions.card_no,
    attribution.member_id,
    transactions.line_count,
    transactions.net_amount,
    transactions.is_purchase,
    transactions.is_return,
    transactions.base_points,
    transactions.business_day
from {{ ref('int_pos_transactions_by_day') }} as transactions
left join {{ ref('int_card_day_members') }} as attribution
    on attribution.card_no = transactions.card_no
    and attribution.sales_day = transactions.sales_day
where transactions.business_day <= {{ as_of_date() }}
