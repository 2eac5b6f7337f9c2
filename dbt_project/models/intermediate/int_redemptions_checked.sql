-- Every redemption landed for days <= D with the member of its card (card_no match, join_date
-- on or before the redemption day; the latest such member) and the member version valid at the
-- redemption (SCD2). Only an activated, non-cancelled card may redeem: others are rejected
-- (rejection_reason unknown_card / cancelled / not_activated) and never reach the ledger.
with redemptions as (

    select * from {{ ref('stg_redemptions__redemptions') }}

),

card_matches as (

    select
        redemptions.redemption_id,
        members.member_id,
        row_number() over (
            partition by redemptions.redemption_id
            order by members.join_date desc, members.member_id
        ) as match_rank
    from redemptions
    inner join {{ ref('int_members_as_of') }} as members
        on members.card_no = redemptions.card_no
        and members.join_date <= redemptions.redeemed_day

),

with_member as (

    select
        redemptions.redemption_id,
        redemptions.card_no,
        redemptions.redeemed_at,
        redemptions.redeemed_day,
        redemptions.store_id,
        redemptions.points,
        card_matches.member_id,
        versions.activated,
        versions.status
    from redemptions
    left join card_matches
        on card_matches.redemption_id = redemptions.redemption_id
        and card_matches.match_rank = 1
    left join {{ ref('int_member_versions') }} as versions
        on versions.member_id = card_matches.member_id
        and (versions.effective_from is null or versions.effective_from <= redemptions.redeemed_at)
        and (versions.valid_to is null or redemptions.redeemed_at < versions.valid_to)

)

select
    redemption_id,
    card_no,
    redeemed_at,
    redeemed_day,
    store_id,
    points,
    member_id,
    case
        when member_id is null then 'unknown_card'
        when status = 'cancelled' then 'cancelled'
        when not coalesce(activated, false) then 'not_activated'
    end as rejection_reason,
    member_id is not null and status <> 'cancelled' and coalesce(activated, false) as is_accepted
from with_member
