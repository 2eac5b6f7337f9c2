{{ config(schema='meta') }}
-- The one record of what changed (macros/change_record.sql): the business days <= D this run
-- rewrites in the day-partitioned models, derived once from the load records.
--   has_new_file     a POS file of the day was loaded (or corrected, or rejected) since the
--                    last successful build, or the day came into view (D moved forward):
--                    every day-partitioned model rewrites it;
--   is_restated      the day holds lines whose member attribution or points multipliers may
--                    have changed: lines of a card whose member changed (a late or corrected
--                    member file, a new member, new attributes since their update), lines of
--                    a card after a corrected day (its month-end tiers move), and returns of
--                    those lines (their multiplier is the original's): the member-dependent
--                    models rewrite it too.
-- evaluate_from: the earliest sales day whose member spend may have changed (a correction, an
-- attribution that moved); month-end tiers from there on are re-evaluated (null: none; the
-- member part is int_changed_members.evaluate_from).
--   moves_ledger     the points ledger (partitioned by entry day) rewrites the day: the returns
--                    of a rewritten day are posted `return_posting_delay_days` later, and
--                    welcome, redemption and adjustment entries come into view as D moves, with a
--                    new or corrected redemption or adjustment file, or with a changed member
--                    (a moved join date or card, a new member, a change of activation or status).
-- No previous build: every day <= D has_new_file.
{%- set delay = program_number('points.return_posting_delay_days', min=0) %}
{%- set built_card_days = adapter.get_relation(database=warehouse_database(), schema='intermediate',
                                               identifier='int_card_daily_sales') %}

with scope as (

    select * from {{ ref('int_build_scope') }}

),

file_days as (

    select distinct files.business_day
    from {{ ingested_files_relation() }} as files
    cross join scope
    where files.source = 'pos_lines'
        and files.business_day <= scope.as_of_date
        and (scope.previous_as_of_date is null
            or files.loaded_at > scope.previous_loaded_through
            or files.business_day > scope.previous_as_of_date)

    union

    select distinct lines.business_day
    from {{ source('raw', 'pos_lines') }} as lines
    cross join scope
    where lines.business_day <= scope.as_of_date
        and (scope.previous_as_of_date is null or lines.business_day > scope.previous_as_of_date)

),

-- days built before whose files changed
corrected_days as (

    select file_days.business_day
    from file_days
    cross join scope
    where file_days.business_day <= scope.previous_as_of_date

),

-- (card, first sales day, whether spend moves between members): the card lines to restate
restated_cards as (

    -- the attribution moved (another card or join date): every line of the old and new card
    select card_no_before as card_no, cast('1900-01-01' as date) as from_day, true as moves_spend
    from {{ ref('int_changed_members') }}
    where attribution_moved

    union all

    select card_no, cast('1900-01-01' as date), true
    from {{ ref('int_changed_members') }}
    where attribution_moved

    union all

    -- a new member: the card's lines from the join date
    select card_no, join_date, true
    from {{ ref('int_changed_members') }}
    where is_new

    union all

    -- new attributes (activation, birth date, bonus category): lines from the change on
    select card_no, cast(changed_from as date), false
    from {{ ref('int_changed_members') }}

    union all

    -- a corrected day: its cards' lines from the day's first sales day (later month-end tiers)
    select lines.card_no, min(lines.sales_day), true
    from {{ ref('stg_pos__lines') }} as lines
    where lines.business_day in (select business_day from corrected_days)
        and lines.card_no is not null
    group by lines.card_no

    {%- if built_card_days is not none %}

    union all

    -- ... and the cards it held before the correction (lines may have gone)
    select built.card_no, min(built.sales_day), true
    from {{ built_card_days }} as built
    where built.business_day in (select business_day from corrected_days)
    group by built.card_no
    {%- endif %}

),

card_starts as (

    select card_no, min(from_day) as from_day, max(case when moves_spend then 1 else 0 end) = 1 as moves_spend
    from restated_cards
    where card_no is not null
    group by card_no

),

-- the restated lines are never materialised (a correction restates millions): each use below
-- reduces them to days, or to a first sales day, on its own
restated_days as (

    select distinct lines.business_day
    from {{ ref('stg_pos__lines') }} as lines
    inner join card_starts
        on card_starts.card_no = lines.card_no
        and lines.sales_day >= card_starts.from_day

    union

    -- returns of restated lines: a return's multiplier is its original line's
    select distinct returns.business_day
    from {{ ref('stg_pos__lines') }} as returns
    inner join {{ ref('stg_pos__lines') }} as originals
        on originals.txn_id = returns.original_txn_id
    inner join card_starts
        on card_starts.card_no = originals.card_no
        and originals.sales_day >= card_starts.from_day
    where returns.original_txn_id is not null

),

evaluate_from as (

    select min(lines.sales_day) as sales_day
    from {{ ref('stg_pos__lines') }} as lines
    inner join card_starts
        on card_starts.card_no = lines.card_no
        and lines.sales_day >= card_starts.from_day
    where card_starts.moves_spend

),

-- redemption and adjustment rows new since the last build (a new or corrected file, or come into view)
new_redemptions as (

    select redemptions.redeemed_day as entry_day, redemptions.business_day
    from {{ ref('stg_redemptions__redemptions') }} as redemptions
    left join {{ ingested_files_relation() }} as files
        on files.file_name = redemptions._source_file
        and files.source = 'redemptions'
    cross join scope
    where scope.previous_as_of_date is null
        or files.loaded_at > scope.previous_loaded_through
        or redemptions.business_day > scope.previous_as_of_date

),

new_adjustments as (

    select adjustments.adjusted_day as entry_day, adjustments.business_day
    from {{ ref('stg_adjustments__adjustments') }} as adjustments
    left join {{ ingested_files_relation() }} as files
        on files.file_name = adjustments._source_file
        and files.source = 'adjustments'
    cross join scope
    where scope.previous_as_of_date is null
        or files.loaded_at > scope.previous_loaded_through
        or adjustments.business_day > scope.previous_as_of_date
        or adjustments.adjusted_day > scope.previous_as_of_date

),

-- the entry days of the points ledger that change beyond the rewritten POS days
ledger_days as (

    -- returns of a rewritten day are posted later
    select {{ add_days('business_day', delay) }} as business_day from file_days
    union
    select {{ add_days('business_day', delay) }} from restated_days
    union
    -- returns coming due as D moves
    select {{ add_days('files.business_day', delay) }}
    from {{ ingested_files_relation() }} as files
    cross join scope
    where files.source = 'pos_lines'
        and (scope.previous_as_of_date is null
            or {{ add_days('files.business_day', delay) }} > scope.previous_as_of_date)
    union
    -- welcome entries come into view
    select members.join_date
    from {{ ref('int_members_as_of') }} as members
    cross join scope
    where scope.previous_as_of_date is null or members.join_date > scope.previous_as_of_date
    union
    select entry_day from new_redemptions
    union
    select business_day from new_redemptions
    union
    select entry_day from new_adjustments
    union
    -- a corrected adjustment file: its day (rows may have gone)
    select business_day from new_adjustments
    union
    -- changed members: a moved or new join date moves the welcome entry ...
    select join_date from {{ ref('int_changed_members') }} where is_new or attribution_moved
    union
    select join_date_before from {{ ref('int_changed_members') }} where attribution_moved
    union
    -- ... their adjustments (an adjustment counts for a known member only) ...
    select adjustments.adjusted_day
    from {{ ref('stg_adjustments__adjustments') }} as adjustments
    inner join {{ ref('int_changed_members') }} as changed
        on changed.member_id = adjustments.member_id
    union
    -- ... and the redemptions of their cards (matched by card; accepted by the member version
    -- valid then), from the change on, or all of them when the attribution moved
    select redemptions.redeemed_day
    from {{ ref('stg_redemptions__redemptions') }} as redemptions
    inner join {{ ref('int_changed_members') }} as changed
        on changed.card_no = redemptions.card_no
        and (changed.attribution_moved or changed.is_new
            or redemptions.redeemed_day >= cast(changed.changed_from as date))
    union
    select redemptions.redeemed_day
    from {{ ref('stg_redemptions__redemptions') }} as redemptions
    inner join {{ ref('int_changed_members') }} as changed
        on changed.card_no_before = redemptions.card_no
        and changed.attribution_moved

),

flagged_days as (

    select business_day, 1 as has_new_file, 0 as is_restated, 0 as moves_ledger from file_days
    union all
    select business_day, 0, 1, 0 from restated_days
    union all
    select business_day, 0, 0, 1 from ledger_days

)

select
    flagged_days.business_day,
    max(flagged_days.has_new_file) = 1 as has_new_file,
    max(flagged_days.is_restated) = 1 as is_restated,
    max(flagged_days.moves_ledger) = 1 as moves_ledger,
    (select sales_day from evaluate_from) as evaluate_from
from flagged_days
cross join scope
where flagged_days.business_day is not null
    and flagged_days.business_day <= scope.as_of_date
group by flagged_days.business_day
