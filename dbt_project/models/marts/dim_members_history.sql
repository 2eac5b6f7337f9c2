{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_changed_member_rows') }}
-- SCD type 2 member history without PII: one row per member version known on D (member
-- rows with updated_at on or before D). valid_from = the version's updated_at, valid_to = the
-- next version's updated_at (null for the current version). Built from the raw upserts, not a
-- dbt snapshot, so that a rebuild for an earlier D gives exactly the history known that day.
-- Member-keyed on int_changed_member_rows, as the versions it reads.
select
    member_id,
    version_number,
    card_no,
    gender,
    city,
    join_date,
    join_store_id,
    enrolled_by,
    activated,
    status,
    marketing_consent,
    bonus_category,
    {{ mask_mobile('mobile') }} as masked_mobile,
    valid_from,
    valid_to,
    is_current
from {{ ref('int_member_versions') }}
where {{ in_members_to_refresh(members='int_changed_member_rows') }}
