-- Every vip and key customer (pyramid segment on D) with the store that enrolled them and
-- the enrolling clerk: the store manager's list (流行美: staff turnover must not lose customers).
-- Masked PII only.
select
    members.join_store_id as store_id,
    members.enrolled_by,
    members.member_id,
    members.card_no,
    {{ mask_name('members.name') }} as masked_name,
    {{ mask_mobile('members.mobile') }} as masked_mobile,
    pyramid.segment,
    pyramid.trailing_spend,
    tiers.tier,
    {{ as_of_date() }} as as_of
from {{ ref('customer_pyramid') }} as pyramid
inner join {{ ref('int_members_as_of') }} as members
    on members.member_id = pyramid.member_id
left join {{ ref('loyalty_tiers') }} as tiers
    on tiers.member_id = pyramid.member_id
where pyramid.segment in ('vip', 'key')
