-- One row per member: what we knew about the member on D, i.e. the current version of
-- int_member_versions (the latest updated_at wins; ties: later business_day, then later
-- _source_file, then higher _row_number). One rule, one place: the history and the as-of
-- view cannot disagree.
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
    valid_from as updated_at,
    business_day,
    _source_file,
    _row_number
from {{ ref('int_member_versions') }}
where is_current
