-- Lapsed and at-risk members on D (客户流失与挽回), BI-facing with masked PII: every
-- non-cancelled member with at least one purchase who is
--   lapsed   days_since_last_purchase > lapsed.days;
--   at_risk  not lapsed, purchases on >= lapsed.at_risk_min_purchase_days distinct days and
--            days_since_last_purchase > lapsed.at_risk_gap_factor * median gap between purchase days.
-- winback_priority places the member's spend over the trailing window ending on their last
-- purchase day on TODAY's pyramid cut-offs (lowest trailing spend among today's vip, key and
-- ordinary members; an empty segment has no cut-off): vip/key -> must_win_back, ordinary ->
-- win_back, below -> opportunistic.
-- Outreach flags: marketing_consent, has_valid_mobile (lapsed.valid_mobile_pattern, whole value),
-- is_minor (under privacy.minor_age on D by macro is_under_age; unknown birth date: not a minor).
with members as (

    select * from {{ ref('int_members_as_of') }}
    where status <> 'cancelled'

),

rhythm as (

    select
        rhythm.*,
        {{ dbt.datediff('rhythm.last_purchase_date', as_of_date(), 'day') }} as days_since_last_purchase
    from {{ ref('int_member_purchase_rhythm') }} as rhythm
    where rhythm.purchase_days > 0  -- a refreshed member with no purchase day left

),

classified as (

    select
        rhythm.*,
        case
            when rhythm.days_since_last_purchase > {{ program_number('lapsed.days', min=1) }} then 'lapsed'
            when rhythm.purchase_days >= {{ program_number('lapsed.at_risk_min_purchase_days', min=2) }}
                and rhythm.days_since_last_purchase
                    > {{ sql_decimal(program_number('lapsed.at_risk_gap_factor', min=0), 4) }} * rhythm.median_gap_days
            then 'at_risk'
        end as status
    from rhythm
    inner join members
        on members.member_id = rhythm.member_id

),

still_to_win as (

    select member_id, last_purchase_date
    from classified
    where status is not null

),

value_while_active as (

    {{ trailing_member_sales('still_to_win', 'still_to_win.last_purchase_date') }}

),

cut_offs as (

    {{ pyramid_cut_offs() }}

)

select
    classified.member_id,
    members.card_no,
    {{ mask_name('members.name') }} as masked_name,
    {{ mask_mobile('members.mobile') }} as masked_mobile,
    classified.status,
    cast(classified.days_since_last_purchase as integer) as days_since_last_purchase,
    classified.last_purchase_date,
    classified.purchase_days,
    classified.median_gap_days,
    cast(coalesce(value_while_active.spend, 0) as decimal(18, 2)) as value_spend,
    case
        when value_while_active.spend >= cut_offs.vip_cut_off
            or value_while_active.spend >= cut_offs.key_cut_off then 'must_win_back'
        when value_while_active.spend >= cut_offs.ordinary_cut_off then 'win_back'
        else 'opportunistic'
    end as winback_priority,
    pyramid.segment,
    favourite.favourite_category,
    {{ outreach_flags('members', unknown_age_is_minor=false) }},
    {{ as_of_date() }} as as_of
from classified
inner join members
    on members.member_id = classified.member_id
cross join cut_offs
left join value_while_active
    on value_while_active.member_id = classified.member_id
left join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = classified.member_id
left join {{ ref('int_member_favourite_category') }} as favourite
    on favourite.member_id = classified.member_id
where classified.status is not null
