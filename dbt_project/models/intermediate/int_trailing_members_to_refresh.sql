{{ config(schema='meta') }}
-- The members whose figures over the trailing window (tiers.basis_days days ending on D) this
-- run recomputes: those of int_members_to_refresh (a rewritten business day, which includes the
-- days that came into view as D moved, or new member rows) and those with a sales day that
-- left the window as D moved from the last build's as-of date (none on a first build).
-- Not used on a first build or a full refresh (all members).
{%- set basis_days = program_number('tiers.basis_days', min=1) %}

select member_id
from {{ ref('int_members_to_refresh') }}

union

select daily.member_id
from {{ ref('int_member_daily_sales') }} as daily
inner join {{ ref('int_build_scope') }} as scope
    on daily.sales_day >= {{ trailing_window_start(basis_days, 'scope.previous_as_of_date') }}
    and daily.sales_day < {{ trailing_window_start(basis_days, 'scope.as_of_date') }}
