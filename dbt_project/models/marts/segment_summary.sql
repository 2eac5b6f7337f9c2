-- Segment and store summary on D (客户金字塔 by store, the 80/20 check), chain-wide and per
-- enrolment store: the rule in macro segment_summary_ctes, on customer_pyramid's members.
with members as (

    select
        {{ as_of_date() }} as period_end,
        pyramid.member_id,
        members.join_store_id,
        pyramid.segment,
        pyramid.trailing_spend
    from {{ ref('customer_pyramid') }} as pyramid
    inner join {{ ref('int_members_as_of') }} as members
        on members.member_id = pyramid.member_id

),

{{ segment_summary_ctes('members') }}

select * from segment_summary_rows
