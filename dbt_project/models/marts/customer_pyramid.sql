-- Customer pyramid (客户金字塔) on D, one row per non-cancelled member.
--   population: members with trailing_spend > 0, N = their count;
--   spend_rank: by trailing_spend desc, ties by member_id asc;
--   rank_segment: vip if rank <= floor(vip_share * N), key if <= floor(key_share * N),
--                 ordinary if <= floor(ordinary_share * N), small otherwise; inactive when no spend;
--   segment: vip/key members with fewer than one_off_min_months distinct purchase months are
--            capped to ordinary (one_off_capped); freed places are not refilled.
-- floor(N * share) is computed in exact decimal arithmetic (floor(100 * 0.01) = 1).
{%- set vip_share = program_number('pyramid.vip_share', min=0, max=1) %}
{%- set key_share = program_number('pyramid.key_share', min=vip_share, max=1) %}
{%- set ordinary_share = program_number('pyramid.ordinary_share', min=key_share, max=1) %}
{%- set one_off_min_months = program_number('pyramid.one_off_min_months', min=0) %}

with trailing_year as (

    select member_id, trailing_spend, trailing_purchase_months
    from {{ ref('member_trailing_year') }}

),

ranked as (

    select
        member_id,
        row_number() over (order by trailing_spend desc, member_id asc) as spend_rank
    from trailing_year
    where trailing_spend > 0

),

places as (

    select
        population_size,
        cast(floor(cast(population_size as decimal(18, 0)) * {{ sql_decimal(vip_share) }}) as bigint) as vip_places,
        cast(floor(cast(population_size as decimal(18, 0)) * {{ sql_decimal(key_share) }}) as bigint) as key_places,
        cast(floor(cast(population_size as decimal(18, 0)) * {{ sql_decimal(ordinary_share) }}) as bigint) as ordinary_places
    from (select count(*) as population_size from ranked) as population

),

segmented as (

    select
        trailing_year.member_id,
        trailing_year.trailing_spend,
        trailing_year.trailing_purchase_months,
        places.population_size,
        ranked.spend_rank,
        case
            when ranked.spend_rank is null then 'inactive'
            when ranked.spend_rank <= places.vip_places then 'vip'
            when ranked.spend_rank <= places.key_places then 'key'
            when ranked.spend_rank <= places.ordinary_places then 'ordinary'
            else 'small'
        end as rank_segment
    from trailing_year
    cross join places
    left join ranked
        on ranked.member_id = trailing_year.member_id

),

capped as (

    select
        *,
        (
            rank_segment in ('vip', 'key')
            and trailing_purchase_months < {{ one_off_min_months }}
        ) as one_off_capped
    from segmented

)

select
    member_id,
    {{ as_of_date() }} as as_of_date,
    trailing_spend,
    trailing_purchase_months,
    cast(population_size as bigint) as population_size,
    cast(spend_rank as bigint) as spend_rank,
    rank_segment,
    case when one_off_capped then 'ordinary' else rank_segment end as segment,
    one_off_capped
from capped
