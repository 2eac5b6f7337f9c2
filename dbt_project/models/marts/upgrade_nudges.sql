-- Upgrade nudges (刺激潛在客戶向上層升級) on D, BI-facing with masked PII: non-cancelled members close
-- to the next loyalty tier or pyramid segment (the within share is nudge.gap_share).
--   tier nudge: below the top tier, and the next tier's (the one immediately above) spend or
--     transactions threshold is at most gap_share x that threshold away (spend_gap =
--     threshold - trailing spend, transactions_gap likewise; null where the next tier has no
--     such threshold). Gaps are > 0: a member below a tier meets none of its thresholds.
--   segment nudge: small, ordinary or key, with trailing spend below the next segment's cut-off
--     (macro pyramid_cut_offs) by at most gap_share x the cut-off (segment_gap; null when
--     the next segment is empty or the spend is not below its cut-off, e.g. a capped one-off).
-- Outreach flags as the lapsed list's, except that an unknown birth date counts as a minor.
{%- set gap_share = sql_decimal(program_number('nudge.gap_share', min=0, max=1)) %}

with members as (

    select member_id, card_no, name, mobile, birth_date, marketing_consent
    from {{ ref('int_members_as_of') }}
    where status <> 'cancelled'

),

tier_gaps as (

    select
        member_id,
        tier as current_tier,
        case when tier_rank > 1 then {{ tier_attribute('tier_rank - 1', 'name') }} end as next_tier,
        {{ tier_threshold('tier_rank - 1', 'spend') }} as next_spend_threshold,
        {{ tier_threshold('tier_rank - 1', 'transactions') }} as next_transactions_threshold,
        trailing_spend,
        trailing_transactions
    from {{ ref('loyalty_tiers') }}

),

cut_offs as (

    {{ pyramid_cut_offs() }}

),

segment_gaps as (

    select
        member_id,
        segment,
        case segment when 'small' then 'ordinary' when 'ordinary' then 'key' when 'key' then 'vip' end as next_segment,
        case segment
            when 'small' then cut_offs.ordinary_cut_off
            when 'ordinary' then cut_offs.key_cut_off
            when 'key' then cut_offs.vip_cut_off
        end as next_cut_off,
        trailing_spend
    from {{ ref('customer_pyramid') }}
    cross join cut_offs

),

gaps as (

    select
        tier_gaps.member_id,
        tier_gaps.current_tier,
        tier_gaps.next_tier,
        tier_gaps.next_spend_threshold - tier_gaps.trailing_spend as spend_gap,
        tier_gaps.next_transactions_threshold - tier_gaps.trailing_transactions as transactions_gap,
        coalesce(
            tier_gaps.next_spend_threshold - tier_gaps.trailing_spend
                <= {{ gap_share }} * tier_gaps.next_spend_threshold
            or tier_gaps.next_transactions_threshold - tier_gaps.trailing_transactions
                <= {{ gap_share }} * tier_gaps.next_transactions_threshold,
            false
        ) as is_tier_nudge,
        segment_gaps.segment,
        segment_gaps.next_segment,
        case
            when segment_gaps.trailing_spend < segment_gaps.next_cut_off
            then segment_gaps.next_cut_off - segment_gaps.trailing_spend
        end as segment_gap,
        coalesce(
            segment_gaps.trailing_spend < segment_gaps.next_cut_off
            and segment_gaps.next_cut_off - segment_gaps.trailing_spend <= {{ gap_share }} * segment_gaps.next_cut_off,
            false
        ) as is_segment_nudge
    from tier_gaps
    inner join segment_gaps
        on segment_gaps.member_id = tier_gaps.member_id

)

select
    gaps.member_id,
    members.card_no,
    {{ mask_name('members.name') }} as masked_name,
    {{ mask_mobile('members.mobile') }} as masked_mobile,
    gaps.current_tier,
    gaps.next_tier,
    cast(gaps.spend_gap as decimal(18, 2)) as spend_gap,
    cast(gaps.transactions_gap as bigint) as transactions_gap,
    gaps.is_tier_nudge,
    gaps.segment,
    case when gaps.segment_gap is not null then gaps.next_segment end as next_segment,
    cast(gaps.segment_gap as decimal(18, 2)) as segment_gap,
    gaps.is_segment_nudge,
    {{ outreach_flags('members', unknown_age_is_minor=true) }},
    {{ as_of_date() }} as as_of
from gaps
inner join members
    on members.member_id = gaps.member_id
where gaps.is_tier_nudge or gaps.is_segment_nudge
