-- Manual points adjustments landed for days <= D.
select
    adjustment_id,
    member_id,
    adjusted_at,
    cast(adjusted_at as date) as adjusted_day,
    points,
    reason,
    business_day,
    _source_file,
    _row_number
from {{ source('raw', 'adjustments') }}
where business_day <= {{ as_of_date() }}
