-- Customer pyramid (客户金字塔) on D, one row per non-cancelled member: the rule of section 5
-- (macro pyramid_segments_ctes, which the month-end history draws with too) on the trailing year
-- to D.
with trailing_year as (

    select member_id, trailing_spend, trailing_purchase_months
    from {{ ref('member_trailing_year') }}

),

{{ pyramid_segments_ctes('trailing_year') }}

select
    member_id,
    {{ as_of_date() }} as as_of_date,
    trailing_spend,
    trailing_purchase_months,
    cast(population_size as bigint) as population_size,
    cast(spend_rank as bigint) as spend_rank,
    rank_segment,
    segment,
    one_off_capped
from pyramid_segments
