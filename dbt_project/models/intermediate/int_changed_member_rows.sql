{{ config(schema='meta') }}
-- The members whose member rows changed since the last successful build (macros/change_record.sql),
-- with the earliest updated_at that changed. Empty when there is no previous build (a first
-- build or a full refresh rebuilds every member). Two ways a member's rows change:
--   new rows      rows loaded since, or come into view as D moved (their day or updated_at);
--   replaced rows versions the previous build took from a member file loaded again since (a
--                 corrected file may drop or change them). Read before int_member_versions
--                 rebuilds these members (it depends on this model). A member left with no row
--                 at all stops the run with FULL_REFRESH_REQUIRED (require_full_refresh_when_needed).
-- The member dimension (versions, as-of, history, PII) recomputes exactly these members.
{%- set previous_versions = adapter.get_relation(database=warehouse_database(), schema='intermediate',
                                                 identifier='int_member_versions') %}
with scope as (

    select * from {{ ref('int_build_scope') }}

),

new_rows as (

    select rows.member_id, min(rows.updated_at) as changed_from
    from {{ ref('stg_members__members') }} as rows
    left join {{ ingested_files_relation() }} as files
        on files.file_name = rows._source_file
        and files.source = 'members'
    cross join scope
    where cast(rows.updated_at as date) <= scope.as_of_date
        and scope.previous_as_of_date is not null
        and (files.loaded_at > scope.previous_loaded_through
            or rows.business_day > scope.previous_as_of_date
            or cast(rows.updated_at as date) > scope.previous_as_of_date)
    group by rows.member_id

),

replaced_rows as (

    {%- if previous_versions is not none and not flags.FULL_REFRESH %}
    select versions.member_id, min(versions.valid_from) as changed_from
    from {{ previous_versions }} as versions
    inner join {{ ingested_files_relation() }} as files
        on files.file_name = versions._source_file
        and files.source = 'members'
    cross join scope
    where scope.previous_as_of_date is not null
        and files.loaded_at > scope.previous_loaded_through
    group by versions.member_id
    {%- else %}
    select cast(null as {{ dbt.type_string() }}) as member_id, cast(null as timestamp) as changed_from
    where 1 = 0
    {%- endif %}

)

select member_id, min(changed_from) as changed_from
from (
    select member_id, changed_from from new_rows
    union all
    select member_id, changed_from from replaced_rows
) as changed
group by member_id
