-- Points redemptions landed for days <= D.
select
    redemption_id,
    card_no,
    redeemed_at,
    cast(redeemed_at as date) as redeemed_day,
    store_id,
    points,
    reason,
    business_day,
    _source_file,
    _row_number
from {{ source('raw', 'redemptions') }}
where business_day <= {{ as_of_date() }}
