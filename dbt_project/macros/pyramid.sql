{#
  The customer pyramid rule (客户金字塔, loyalty-rules section 5), one place for every day it is
  evaluated on: D (customer_pyramid) and each month-end (member_segment_history).
  `members`: a CTE with member_id, trailing_spend, trailing_purchase_months and the `keys`
  the pyramid is drawn per (none for D; month_end for the history), holding the non-cancelled
  members of each key. Per key:
    population: members with trailing_spend > 0, N = their count;
    spend_rank: by trailing_spend desc, ties by member_id asc;
    rank_segment: vip if rank <= floor(vip_share * N), key if <= floor(key_share * N),
                  ordinary if <= floor(ordinary_share * N), small otherwise; inactive when no spend;
    segment: vip/key members with fewer than one_off_min_months distinct purchase months are
             capped to ordinary (one_off_capped); freed places are not refilled.
  floor(N * share) is computed in exact decimal arithmetic (floor(100 * 0.01) = 1).
  Emits CTEs to follow a `with ... ,`: pyramid_ranked, pyramid_places, pyramid_rank_segments
  and pyramid_segments, the one the model reads (its columns: the keys, member_id, trailing_spend,
  trailing_purchase_months, population_size, spend_rank, rank_segment, segment, one_off_capped).
#}
{% macro pyramid_segments_ctes(members, keys=[]) -%}
    {%- set vip_share = program_number('pyramid.vip_share', min=0, max=1) -%}
    {%- set key_share = program_number('pyramid.key_share', min=vip_share, max=1) -%}
    {%- set ordinary_share = program_number('pyramid.ordinary_share', min=key_share, max=1) -%}
    {%- set one_off_min_months = program_number('pyramid.one_off_min_months', min=0) -%}
    {%- set key_list = keys | join(', ') -%}
pyramid_ranked as (

    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        member_id,
        row_number() over ({{ ('partition by ' ~ key_list) if keys }} order by trailing_spend desc, member_id asc) as spend_rank
    from {{ members }}
    where trailing_spend > 0

),

pyramid_places as (

    -- one row per key with a population (without keys: exactly one row, N = 0 if nobody spent)
    select
        {%- for key in keys %}
        {{ key }},
        {%- endfor %}
        count(*) as population_size,
        cast(floor(cast(count(*) as decimal(18, 0)) * {{ sql_decimal(vip_share) }}) as bigint) as vip_places,
        cast(floor(cast(count(*) as decimal(18, 0)) * {{ sql_decimal(key_share) }}) as bigint) as key_places,
        cast(floor(cast(count(*) as decimal(18, 0)) * {{ sql_decimal(ordinary_share) }}) as bigint) as ordinary_places
    from pyramid_ranked
    {{ ('group by ' ~ key_list) if keys }}

),

pyramid_rank_segments as (

    select
        {%- for key in keys %}
        population.{{ key }},
        {%- endfor %}
        population.member_id,
        population.trailing_spend,
        population.trailing_purchase_months,
        coalesce(places.population_size, 0) as population_size,
        ranked.spend_rank,
        case
            when ranked.spend_rank is null then 'inactive'
            when ranked.spend_rank <= places.vip_places then 'vip'
            when ranked.spend_rank <= places.key_places then 'key'
            when ranked.spend_rank <= places.ordinary_places then 'ordinary'
            else 'small'
        end as rank_segment
    from {{ members }} as population
    {%- if keys %}
    left join pyramid_places as places
        on {% for key in keys %}{{ 'and ' if not loop.first }}places.{{ key }} = population.{{ key }}{% endfor %}
    {%- else %}
    cross join pyramid_places as places
    {%- endif %}
    left join pyramid_ranked as ranked
        on ranked.member_id = population.member_id
        {%- for key in keys %}
        and ranked.{{ key }} = population.{{ key }}
        {%- endfor %}

),

pyramid_segments as (

    select
        *,
        case when one_off_capped then 'ordinary' else rank_segment end as segment
    from (
        select
            *,
            (
                rank_segment in ('vip', 'key')
                and trailing_purchase_months < {{ one_off_min_months }}
            ) as one_off_capped
        from pyramid_rank_segments
    ) as capped

)
{%- endmacro %}


{#
  Today's pyramid cut-offs (section 6): the lowest trailing-year spend among today's vip, key
  and ordinary members (null for an empty segment), as a one-row select. Read by the lapsed
  list's win-back priority and the upgrade nudges.
#}
{% macro pyramid_cut_offs() -%}
    select
        min(case when segment = 'vip' then trailing_spend end) as vip_cut_off,
        min(case when segment = 'key' then trailing_spend end) as key_cut_off,
        min(case when segment = 'ordinary' then trailing_spend end) as ordinary_cut_off
    from {{ ref('customer_pyramid') }}
{%- endmacro %}
