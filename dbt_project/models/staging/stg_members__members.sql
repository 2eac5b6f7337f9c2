-- Every member row of the member files landed for days <= D (upsert history, not deduplicated).
select
    member_id,
    card_no,
    name,
    gender,
    birth_date,
    mobile,
    city,
    address,
    join_date,
    join_store_id,
    enrolled_by,
    activated,
    status,
    marketing_consent,
    bonus_category,
    updated_at,
    business_day,
    _source_file,
    _row_number
from {{ source('raw', 'members') }}
where business_day <= {{ as_of_date() }}
