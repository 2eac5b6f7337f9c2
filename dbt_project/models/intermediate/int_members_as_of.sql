{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_changed_member_rows') }}
-- One row per member: what we knew about the member on D, i.e. the current version of
-- int_member_versions (the latest updated_at wins; ties: later business_day, then later
-- _source_file, then higher _row_number). One rule, one place: the history and the as-of
-- view cannot disagree. Member-keyed on int_changed_member_rows, as the versions.
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
    and {{ in_members_to_refresh(members='int_changed_member_rows') }}
