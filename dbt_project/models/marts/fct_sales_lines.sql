-- The sales fact: every staged POS line (days <= D) with its transaction's member.
-- Non-member lines (no card, unknown card, card used before joining) keep member_id null.
select
    lines.txn_id,
    lines.line_no,
    lines.store_id,
    lines.txn_ts,
    lines.sales_day,
    lines.card_no,
    transactions.member_id,
    lines.sku,
    lines.category,
    lines.qty,
    lines.unit_price,
    lines.discount,
    lines.net_amount,
    lines.original_txn_id,
    lines.business_day
from {{ ref('stg_pos__lines') }} as lines
left join {{ ref('int_pos_transactions') }} as transactions
    on transactions.txn_id = lines.txn_id
