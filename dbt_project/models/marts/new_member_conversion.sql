-- New-to-repeat conversion (复购率; 如何使新顾客变成老顾客): one row per join month, enrolment
-- store, enrolling staff member and conversion window (conversion.window_days, 30/60/90 by
-- default). All members who joined by D count, cancelled ones too. converted_members = those
-- whose second distinct purchase day is at most window_days after their join date (inclusive).
-- A window is reported only once it is closed for the whole join month (last day of the month
-- + window_days <= D); before that converted_members and conversion_rate are null.
-- (conversion.window_days is checked by macro validate_program when the run starts.)
{%- set windows = program('conversion.window_days') %}

with joined as (

    select
        members.member_id,
        members.join_date,
        cast({{ dbt.date_trunc('month', 'members.join_date') }} as date) as join_month,
        members.join_store_id,
        members.enrolled_by,
        rhythm.second_purchase_date
    from {{ ref('int_members_as_of') }} as members
    left join {{ ref('int_member_purchase_rhythm') }} as rhythm
        on rhythm.member_id = members.member_id
    where members.join_date <= {{ as_of_date() }}

),

conversion_windows as (

    {%- for days in windows %}
    select cast({{ days | int }} as integer) as window_days
    {{ 'union all' if not loop.last }}
    {%- endfor %}

),

counted as (

    select
        joined.join_month,
        joined.join_store_id,
        joined.enrolled_by,
        conversion_windows.window_days,
        count(*) as new_members,
        sum(case
            when joined.second_purchase_date <= {{ add_days('joined.join_date', 'conversion_windows.window_days') }}
            then 1 else 0
        end) as converted_members
    from joined
    cross join conversion_windows
    group by joined.join_month, joined.join_store_id, joined.enrolled_by, conversion_windows.window_days

),

closed as (

    select
        *,
        {{ add_days(dbt.last_day('join_month', 'month'), 'window_days') }} <= {{ as_of_date() }} as is_window_closed
    from counted

)

select
    join_month,
    join_store_id,
    enrolled_by,
    window_days,
    cast(new_members as bigint) as new_members,
    cast(case when is_window_closed then converted_members end as bigint) as converted_members,
    cast(case when is_window_closed then converted_members * 1.0 / new_members end as decimal(9, 6)) as conversion_rate,
    {{ as_of_date() }} as as_of
from closed
