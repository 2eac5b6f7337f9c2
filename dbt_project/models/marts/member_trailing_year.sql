-- One row per non-cancelled member as of D: spend and activity over the trailing window
-- D-(basis_days-1) .. D (the trailing year D-364 .. D by default), from the member-keyed
-- int_member_trailing_sales. Returns reduce spend (and base points) but are not transactions.
with members as (

    select member_id
    from {{ ref('int_members_as_of') }}
    where status <> 'cancelled'

),

window_sales as (

    select * from {{ ref('int_member_trailing_sales') }}

)

select
    members.member_id,
    {{ as_of_date() }} as as_of_date,
    cast(coalesce(window_sales.spend, 0) as decimal(18, 2)) as trailing_spend,
    cast(coalesce(window_sales.purchase_transactions, 0) as bigint) as trailing_transactions,
    cast(coalesce(window_sales.purchase_months, 0) as bigint) as trailing_purchase_months,
    cast(coalesce(window_sales.base_points, 0) as bigint) as trailing_qualifying_points
from members
left join window_sales
    on window_sales.member_id = members.member_id
