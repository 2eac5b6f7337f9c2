-- Store and staff view: one row per enrolling store (join_store_id) and enrolling staff
-- member (enrolled_by; null = unknown clerk), so the store manager knows every key customer
-- even when the clerk leaves (store totals: sum over the store's rows, or store_members).
-- members_enrolled counts all members, active_members the non-cancelled ones with a purchase
-- in the trailing year, and one column per pyramid segment (non-cancelled members).
select
    members.join_store_id as store_id,
    stores.store_name,
    members.enrolled_by,
    cast(count(*) as bigint) as members_enrolled,
    cast(sum(case when members.status = 'cancelled' then 1 else 0 end) as bigint) as members_cancelled,
    cast(sum(case when trailing_year.trailing_transactions > 0 then 1 else 0 end) as bigint) as active_members,
    {%- for segment in ['vip', 'key', 'ordinary', 'small', 'inactive'] %}
    cast(sum(case when pyramid.segment = '{{ segment }}' then 1 else 0 end) as bigint) as {{ segment }}_members,
    {%- endfor %}
    {{ as_of_date() }} as as_of
from {{ ref('int_members_as_of') }} as members
left join {{ ref('stg_reference__stores') }} as stores
    on stores.store_id = members.join_store_id
left join {{ ref('member_trailing_year') }} as trailing_year
    on trailing_year.member_id = members.member_id
left join {{ ref('customer_pyramid') }} as pyramid
    on pyramid.member_id = members.member_id
group by members.join_store_id, stores.store_name, members.enrolled_by
