{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_changed_member_rows') }}
-- RESTRICTED. Full member PII as of D (name, mobile, birth date, address), one row per member.
-- Only the outreach extracts read it; it is never part of the BI serving copy.
-- Member-keyed on int_changed_member_rows, as int_members_as_of.
select
    member_id,
    name,
    mobile,
    birth_date,
    address
from {{ ref('int_members_as_of') }}
where {{ in_members_to_refresh(members='int_changed_member_rows') }}
