{{ config(schema='meta') }}
-- One row: the scope of this run (macros/change_record.sql): D and the latest load record this
-- run sees (loaded_through), and the same two of the last successful build (null when there is
-- none: everything is new).
with previous as (

    {{ previous_build() }}

)

select
    {{ as_of_date() }} as as_of_date,
    (select max(loaded_at) from {{ ingested_files_relation() }}) as loaded_through,
    (select max(as_of_date) from previous) as previous_as_of_date,
    (select max(loaded_through) from previous) as previous_loaded_through
