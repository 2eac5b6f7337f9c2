-- Every POS line of a member transaction (days <= D) with its points multipliers.
-- line_multiplier (m_line) is the HIGHEST applicable one, they never stack:
--   tier_multiplier      tier of the member at the last month-end strictly before the day (none: 1);
--   birthday_multiplier  points.birthday_multiplier if the member is activated and the day is in the birth month;
--   bonus_multiplier     points.bonus_category_multiplier if the line's category is the member's bonus_category;
--   member_day_multiplier the configured multiplier of a member day (points.member_days);
-- the member attributes (activated, birth date, bonus category) are those of the member version
-- valid at the transaction (SCD2), so a later change never rewrites earned points.
-- points_multiplier is what the points use: line_multiplier on purchases, and on return
-- transactions the multiplier of the matching line (same sku) of the original transaction
-- (original_txn_id), or 1 when it cannot be found; original_member_id is the member of
-- that original transaction (null when not found).
-- Partitioned by business day: a run rewrites the days with a new or corrected file and the
-- days whose attribution or multipliers may have changed (int_days_to_rebuild).
{{ config(
    materialized='incremental',
    incremental_strategy=partition_overwrite_strategy(),
    unique_key='business_day',
    partition_by=['business_day'],
    on_schema_change='fail'
) }}
-- depends_on: {{ ref('int_days_to_rebuild') }}

with transactions as (

    select transactions.txn_id, transactions.business_day, transactions.card_no, transactions.sales_day,
        transactions.is_purchase, transactions.is_return
    from {{ ref('int_pos_transactions_by_day') }} as transactions
    where {{ in_days_to_rebuild('transactions.business_day', member_dependent=true) }}
        and transactions.card_no is not null

),

member_transactions as (

    select transactions.*, attribution.member_id
    from transactions
    inner join {{ ref('int_card_day_members') }} as attribution
        on attribution.business_day = transactions.business_day
        and attribution.card_no = transactions.card_no
        and attribution.sales_day = transactions.sales_day
    where {{ in_days_to_rebuild('attribution.business_day', member_dependent=true) }}
        and attribution.member_id is not null

),

members as (

    select distinct member_id from member_transactions

),

lines as (

    select
        lines.txn_id,
        lines.line_no,
        transactions.member_id,
        lines.store_id,
        lines.txn_ts,
        lines.sales_day,
        lines.sku,
        lines.category,
        lines.qty,
        lines.net_amount,
        lines.original_txn_id,
        lines.business_day,
        transactions.is_purchase,
        transactions.is_return
    from {{ ref('stg_pos__lines') }} as lines
    inner join member_transactions as transactions
        on transactions.txn_id = lines.txn_id
        and transactions.business_day = lines.business_day
    where {{ in_days_to_rebuild('lines.business_day', member_dependent=true) }}

),

with_member as (

    select
        lines.*,
        versions.activated,
        versions.birth_date,
        versions.bonus_category
    from lines
    left join (
        select * from {{ ref('int_member_versions') }}
        where member_id in (select member_id from members)
    ) as versions
        on versions.member_id = lines.member_id
        and (versions.effective_from is null or versions.effective_from <= lines.txn_ts)
        and (versions.valid_to is null or lines.txn_ts < versions.valid_to)

),

multipliers as (

    select
        with_member.txn_id,
        with_member.line_no,
        with_member.member_id,
        with_member.store_id,
        with_member.sales_day,
        with_member.sku,
        with_member.category,
        with_member.qty,
        with_member.net_amount,
        with_member.original_txn_id,
        with_member.business_day,
        with_member.is_purchase,
        with_member.is_return,
        coalesce(month_end_tiers.points_multiplier, {{ sql_decimal(1, 2, 9) }}) as tier_multiplier,
        case
            when with_member.activated
                and extract(month from with_member.birth_date) = extract(month from with_member.sales_day)
            then {{ sql_decimal(program_number('points.birthday_multiplier', min=0), 2, 9) }}
            else {{ sql_decimal(1, 2, 9) }}
        end as birthday_multiplier,
        case
            when with_member.bonus_category is not null and with_member.category = with_member.bonus_category
            then {{ sql_decimal(program_number('points.bonus_category_multiplier', min=0), 2, 9) }}
            else {{ sql_decimal(1, 2, 9) }}
        end as bonus_multiplier,
        {{ member_day_multiplier('with_member.sales_day') }} as member_day_multiplier
    from with_member
    left join (
        select member_id, month_end, points_multiplier
        from {{ ref('int_member_month_end_tiers') }}
        where member_id in (select member_id from members)
    ) as month_end_tiers
        on month_end_tiers.member_id = with_member.member_id
        and month_end_tiers.month_end = {{ month_end_before('with_member.sales_day') }}

),

applied as (

    select
        *,
        greatest(tier_multiplier, birthday_multiplier, bonus_multiplier, member_day_multiplier) as line_multiplier
    from multipliers

),

returned_transactions as (

    -- only the originals of return lines are needed (a small set; grouping every line by
    -- transaction and sku ran out of memory at chain scale)
    select distinct original_txn_id as txn_id
    from lines
    where is_return and original_txn_id is not null

),

known_lines as (

    -- the lines built now, and (incremental) the lines of the days kept from earlier runs
    select txn_id, sku, member_id, line_multiplier from applied
    {%- if is_incremental() %}
    union all
    select txn_id, sku, member_id, line_multiplier from {{ this }}
    where txn_id in (select txn_id from returned_transactions)
        and not ({{ in_days_to_rebuild(member_dependent=true) }})
    {%- endif %}

),

original_lines as (

    select
        known_lines.txn_id,
        known_lines.sku,
        max(known_lines.line_multiplier) as line_multiplier,
        max(known_lines.member_id) as member_id
    from known_lines
    inner join returned_transactions
        on returned_transactions.txn_id = known_lines.txn_id
    group by known_lines.txn_id, known_lines.sku

)

select
    applied.txn_id,
    applied.line_no,
    applied.member_id,
    applied.store_id,
    applied.sales_day,
    applied.sku,
    applied.category,
    applied.qty,
    applied.net_amount,
    applied.original_txn_id,
    applied.is_purchase,
    applied.is_return,
    applied.tier_multiplier,
    applied.birthday_multiplier,
    applied.bonus_multiplier,
    applied.member_day_multiplier,
    applied.line_multiplier,
    case
        when applied.is_return then coalesce(original_lines.line_multiplier, {{ sql_decimal(1, 2, 9) }})
        else applied.line_multiplier
    end as points_multiplier,
    case when applied.is_return then original_lines.member_id end as original_member_id,
    applied.business_day
from applied
left join original_lines
    on original_lines.txn_id = applied.original_txn_id
    and original_lines.sku = applied.sku
