-- Gate: the pyramid's rank segments have exactly the sizes of the floor formulas
-- (vip = floor(vip_share*N), key = floor(key_share*N) - vip, ...), N is the number of
-- members with spend, and segment differs from rank_segment only for one-off capped members.
{{ config(severity='error') }}
{%- set shares = {
    'vip': program('pyramid.vip_share'),
    'key': program('pyramid.key_share'),
    'ordinary': program('pyramid.ordinary_share'),
} %}

with pyramid as (

    select * from {{ ref('customer_pyramid') }}

),

population as (

    select count(*) as n
    from pyramid
    where trailing_spend > 0

),

cumulative as (

    select
        n,
        {%- for name, share in shares.items() %}
        cast(floor(cast(n as decimal(18, 0)) * {{ sql_decimal(share) }}) as bigint) as up_to_{{ name }},
        {%- endfor %}
        n as up_to_small
    from population

),

expected as (

    select 'vip' as rank_segment, up_to_vip as members from cumulative
    union all
    select 'key', up_to_key - up_to_vip from cumulative
    union all
    select 'ordinary', up_to_ordinary - up_to_key from cumulative
    union all
    select 'small', up_to_small - up_to_ordinary from cumulative

),

actual as (

    select rank_segment, count(*) as members
    from pyramid
    where rank_segment <> 'inactive'
    group by rank_segment

),

size_mismatches as (

    select
        expected.rank_segment,
        expected.members as expected_members,
        coalesce(actual.members, 0) as actual_members
    from expected
    left join actual
        on actual.rank_segment = expected.rank_segment
    where expected.members <> coalesce(actual.members, 0)

),

row_mismatches as (

    select
        pyramid.rank_segment,
        cast(null as bigint) as expected_members,
        cast(count(*) as bigint) as actual_members
    from pyramid
    cross join population
    where pyramid.population_size <> population.n
        or (pyramid.trailing_spend > 0) = (pyramid.rank_segment = 'inactive')
        or (pyramid.segment <> pyramid.rank_segment and not (pyramid.one_off_capped and pyramid.segment = 'ordinary'))
        or (pyramid.one_off_capped and pyramid.rank_segment not in ('vip', 'key'))
    group by pyramid.rank_segment

)

select * from size_mismatches
union all
select * from row_mismatches
