{{ config(
    materialized=member_keyed_materialization(),
    incremental_strategy='delete+insert',
    unique_key='member_id',
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_changed_member_rows') }}
-- SCD type 2 history of every member: one row per member version known on D (member rows
-- landed for days <= D with updated_at on or before D). Versions are ordered by updated_at;
-- several rows with the same updated_at collapse to one (later business_day, later file,
-- higher row wins, as in int_members_as_of). valid_to is the next version's updated_at.
-- effective_from is null for a member's first version, so that facts dated before the first
-- known update (e.g. a sale on join_date before the record's timestamp) still find a version.
-- Member-keyed (macros/change_record.sql): a run recomputes the members of
-- int_changed_member_rows, all their versions at once.
with member_rows as (

    select
        *,
        row_number() over (
            partition by member_id, updated_at
            order by business_day desc, _source_file desc, _row_number desc
        ) as duplicate_rank
    from {{ ref('stg_members__members') }}
    where cast(updated_at as date) <= {{ as_of_date() }}
        and {{ in_members_to_refresh(members='int_changed_member_rows') }}

),

versions as (

    select
        *,
        row_number() over (partition by member_id order by updated_at) as version_number,
        lead(updated_at) over (partition by member_id order by updated_at) as next_updated_at
    from member_rows
    where duplicate_rank = 1

)

select
    member_id,
    cast(version_number as bigint) as version_number,
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
    updated_at as valid_from,
    next_updated_at as valid_to,
    next_updated_at is null as is_current,
    case when version_number = 1 then null else updated_at end as effective_from,
    business_day,
    _source_file,
    _row_number
from versions
