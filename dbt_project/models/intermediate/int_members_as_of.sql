-- One row per member: what we knew about the member on D. Member files are upserts:
-- the row with the latest updated_at wins (ties: later business_day, then later
-- _source_file, then higher _row_number).
with member_rows as (

    select
        *,
        row_number() over (
            partition by member_id
            order by updated_at desc, business_day desc, _source_file desc, _row_number desc
        ) as version_rank
    from {{ ref('stg_members__members') }}

)

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
from member_rows
where version_rank = 1
