-- RESTRICTED. Full member PII as of D (name, mobile, birth date, address), one row per member.
-- Only the outreach extracts read it; it is never part of the BI serving copy.
select
    member_id,
    name,
    mobile,
    birth_date,
    address
from {{ ref('int_members_as_of') }}
