-- Replenishment due (next-purchase list): member x category with purchases on at least
-- replenishment.min_purchase_days distinct days; next_due_date = last purchase day + median gap
-- (a half-day median rounds down); listed when next_due_date is within D+1 .. D+horizon_days.
-- Non-cancelled members only.
with rhythm as (

    select
        rhythm.*,
        cast({{ dbt.dateadd('day', 'cast(floor(rhythm.median_gap_days) as integer)', 'rhythm.last_purchase_date') }} as date) as next_due_date
    from {{ ref('int_member_category_rhythm') }} as rhythm
    -- (min_purchase_days >= 2 also skips a refreshed member with no purchase day left)
    where rhythm.purchase_days >= {{ program_number('replenishment.min_purchase_days', min=2) }}

)

select
    rhythm.member_id,
    members.card_no,
    rhythm.category,
    rhythm.purchase_days,
    rhythm.last_purchase_date,
    rhythm.median_gap_days,
    rhythm.next_due_date,
    members.marketing_consent,
    pyramid.segment,
    {{ as_of_date() }} as as_of
from rhythm
inner join {{ ref('int_members_as_of') }} as members
    on members.member_id = rhythm.member_id
left join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = rhythm.member_id
where members.status <> 'cancelled'
    and rhythm.next_due_date >= {{ add_days(as_of_date(), 1) }}
    and rhythm.next_due_date <= {{ add_days(as_of_date(), program_number('replenishment.horizon_days', min=1)) }}
