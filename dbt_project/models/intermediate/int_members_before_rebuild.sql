{{ config(schema='meta') }}
-- depends_on: {{ ref('int_days_to_rebuild') }}
-- The members attributed, by the previous build, on the business days this run rewrites. Read
-- before int_card_day_members rewrites those days (it depends on this model), so a member whose
-- lines move to another member or vanish in a corrected file is still refreshed by the
-- member-keyed models (int_members_to_refresh). Empty on a first build and a full refresh.
{%- set previous = adapter.get_relation(database=warehouse_database(), schema='intermediate',
                                        identifier='int_card_day_members') %}
{%- if previous is not none and not flags.FULL_REFRESH %}
select distinct member_id
from {{ previous }}
where member_id is not null
    and business_day in (
        select business_day from {{ ref('int_days_to_rebuild') }} where has_new_file or is_restated
    )
{%- else %}
select cast(null as {{ dbt.type_string() }}) as member_id
where 1 = 0
{%- endif %}
