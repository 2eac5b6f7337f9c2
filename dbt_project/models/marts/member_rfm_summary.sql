-- The members' purchase summary on D that the buy-till-you-die models read (the member_clv
-- asset, orchestration/clv.py): one row per non-cancelled member with a purchase day <= D.
--   frequency            distinct purchase days after the first
--   recency_days         last minus first purchase day
--   age_days             D minus first purchase day
--   average_spend        lifetime spend net of returns / purchase days (returns count on their
--                        own day, so a return of a first-day purchase is netted too); null with
--                        no repeat purchase day; may be <= 0, which Gamma-Gamma cannot score
with rhythm as (

    select member_id, first_purchase_date, last_purchase_date, purchase_days
    from {{ ref('int_member_purchase_rhythm') }}
    where purchase_days > 0  -- a refreshed member with no purchase day left

),

members as (

    select member_id
    from {{ ref('int_members_as_of') }}
    where status <> 'cancelled'

)

select
    rhythm.member_id,
    cast(rhythm.purchase_days - 1 as integer) as frequency,
    cast({{ dbt.datediff('rhythm.first_purchase_date', 'rhythm.last_purchase_date', 'day') }} as integer) as recency_days,
    cast({{ dbt.datediff('rhythm.first_purchase_date', as_of_date(), 'day') }} as integer) as age_days,
    case
        when rhythm.purchase_days > 1
        -- a double, not a rounded decimal: the models read floats, and IEEE division gives the
        -- same value on DuckDB and Spark where rounding a half-cent could differ
        then cast(coalesce(lifetime.lifetime_spend, 0) as double) / rhythm.purchase_days
    end as average_spend,
    {{ as_of_date() }} as as_of_date
from rhythm
inner join members
    on members.member_id = rhythm.member_id
left join {{ ref('int_member_lifetime_sales') }} as lifetime
    on lifetime.member_id = rhythm.member_id
