-- POS lines landed for days <= D; sales_day is the local calendar day of the transaction.
select
    txn_id,
    line_no,
    store_id,
    txn_ts,
    cast(txn_ts as date) as sales_day,
    card_no,
    sku,
    category,
    qty,
    unit_price,
    discount,
    net_amount,
    original_txn_id,
    business_day,
    _source_file,
    _row_number
from {{ source('raw', 'pos_lines') }}
where business_day <= {{ as_of_date() }}
