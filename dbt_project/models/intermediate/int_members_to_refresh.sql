{{ config(schema='meta') }}
-- The members whose member-keyed history (purchase and category rhythms) this run recomputes:
-- the members attributed on the rewritten business days before the rewrite and after it, and
-- the members with new member rows (int_changed_members). Derived from the one record of what
-- changed (int_days_to_rebuild); not used on a first build or a full refresh (all members).
select member_id
from {{ ref('int_members_before_rebuild') }}

union

select member_id
from {{ ref('int_card_day_members') }}
where member_id is not null
    and business_day in (
        select business_day from {{ ref('int_days_to_rebuild') }} where has_new_file or is_restated
    )

union

select member_id
from {{ ref('int_changed_members') }}
