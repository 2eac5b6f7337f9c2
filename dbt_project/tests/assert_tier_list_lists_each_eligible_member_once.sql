-- Gate: the tier list holds every non-cancelled member exactly once and no cancelled member.
{{ config(severity='error', meta={'dagster': {'ref': {'name': 'tier_list'}}}) }}

with eligible as (

    select member_id
    from {{ ref('int_members_as_of') }}
    where status <> 'cancelled'

),

listed as (

    select member_id, count(*) as times_listed
    from {{ ref('tier_list') }}
    group by member_id

)

select
    coalesce(eligible.member_id, listed.member_id) as member_id,
    eligible.member_id is not null as is_eligible,
    coalesce(listed.times_listed, 0) as times_listed
from eligible
full outer join listed
    on listed.member_id = eligible.member_id
where eligible.member_id is null
    or listed.member_id is null
    or listed.times_listed <> 1
