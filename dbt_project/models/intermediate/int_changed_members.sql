{{ config(schema='meta') }}
-- The member part of the record of what changed (macros/change_record.sql): one row per member
-- of int_changed_member_rows still known on D, with the card and join date before the change
-- (null: a new member) and now. Empty when there is no previous build (a first build or a full
-- refresh rebuilds every day).
--   attribution_moved  the card or join date changed: the old and new card's lines change member;
--   evaluate_from      month-end evaluations from this day on change: the first changed version
--                      (a back-dated status or consent), or the join date (a new member), or
--                      the earlier join date (a moved attribution), whichever is first.
with changed_member_rows as (

    select member_id, changed_from
    from {{ ref('int_changed_member_rows') }}

),

-- each changed member's card and join date before the change (none: a new member)
before_change as (

    select member_id, card_no, join_date
    from (
        select
            versions.member_id,
            versions.card_no,
            versions.join_date,
            row_number() over (partition by versions.member_id order by versions.valid_from desc) as recency
        from {{ ref('int_member_versions') }} as versions
        inner join changed_member_rows as changed
            on changed.member_id = versions.member_id
        where versions.valid_from < changed.changed_from
    ) as ranked
    where recency = 1

),

now_current as (

    select members.member_id, members.card_no, members.join_date, changed.changed_from
    from {{ ref('int_members_as_of') }} as members
    inner join changed_member_rows as changed
        on changed.member_id = members.member_id

)

select
    now_current.member_id,
    before_change.card_no as card_no_before,
    before_change.join_date as join_date_before,
    now_current.card_no,
    now_current.join_date,
    now_current.changed_from,
    before_change.member_id is null as is_new,
    coalesce(before_change.card_no <> now_current.card_no
        or before_change.join_date <> now_current.join_date, false) as attribution_moved,
    case
        when before_change.member_id is null
            then least(now_current.join_date, cast(now_current.changed_from as date))
        when before_change.card_no <> now_current.card_no or before_change.join_date <> now_current.join_date
            then least(before_change.join_date, now_current.join_date, cast(now_current.changed_from as date))
        else cast(now_current.changed_from as date)
    end as evaluate_from
from now_current
left join before_change
    on before_change.member_id = now_current.member_id
