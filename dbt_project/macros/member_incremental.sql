{#
  Member-keyed incremental models (issue 6). A model whose rows are a function of one
  member's inputs (their member versions, their card's daily rows and card candidates,
  their redemptions and adjustments, the program) stores, on every row, the member's
  input_fingerprint from int_member_fingerprints. A daily run rebuilds only the members
  whose fingerprint changed (or who vanished): about the members who bought on the new
  day, instead of the whole history. A first run or --full-refresh builds every member,
  with the same fingerprints, so both give the same table.

  The pattern in a model:
    config(materialized='incremental', incremental_strategy='append',
           pre_hook="{{ delete_members_to_rebuild() }}")
    ... where member_id in ({{ members_to_rebuild() }}) ...
  The pre-hook deletes the rows of the members to rebuild; the model appends their new rows.
  Deleting first keeps members_to_rebuild() stable: a deleted member has no row left, so
  it still counts as to rebuild when the model's select reads {{ this }}.
#}

{# A 64-bit hash of some SQL expressions (dispatched: DuckDB hash(), Spark xxhash64()). #}
{% macro fingerprint_hash(expressions) -%}
    {{ return(adapter.dispatch('fingerprint_hash', 'loyalty_warehouse')(expressions)) }}
{%- endmacro %}

{% macro default__fingerprint_hash(expressions) -%}
    hash({{ expressions | join(', ') }})
{%- endmacro %}

{% macro spark__fingerprint_hash(expressions) -%}
    xxhash64({{ expressions | join(', ') }})
{%- endmacro %}


{# An order-independent fingerprint of a set of rows: the exact sum of their hashes. #}
{% macro fingerprint_sum(expressions) -%}
    cast(sum(cast({{ fingerprint_hash(expressions) }} as decimal(38, 0))) as decimal(38, 0))
{%- endmacro %}


{#
  The keys (member_id, or card_no for card-keyed models) whose rows this run (re)builds, as a
  select of the key: every key of the fingerprint model whose fingerprint is not stored on a
  row of {{ this }} (all keys on a first run or a full refresh).
#}
{% macro keys_to_rebuild(key, fingerprints) -%}
    select fingerprints.{{ key }}
    from {{ fingerprints }} as fingerprints
    {%- if is_incremental() %}
    -- the distinct pairs first (1M, not the 35M rows of the biggest model): an anti-join built
    -- on every stored row ran out of DuckDB's 2GB memory limit at chain scale
    left join (
        select distinct {{ key }}, input_fingerprint from {{ this }}
    ) as built
        on built.{{ key }} = fingerprints.{{ key }}
        and built.input_fingerprint = fingerprints.input_fingerprint
    where built.{{ key }} is null
    {%- endif %}
{%- endmacro %}


{#
  Pre-hook: delete the rows whose key has another fingerprint now, or none (a corrected member
  file, a rebuild of an earlier D). `extra` is an optional SQL condition on the rows of
  {{ this }} to delete as well (e.g. evaluations on or after D).
#}
{% macro delete_keys_to_rebuild(key, fingerprints, extra=none) -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where not exists (
            select 1
            from {{ fingerprints }} as fingerprints
            where fingerprints.{{ key }} = {{ this }}.{{ key }}
                and fingerprints.input_fingerprint = {{ this }}.input_fingerprint
        )
        {%- if extra is not none %} or ({{ extra }}){% endif %}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{# Member-keyed models: the members to rebuild (a select of member_id). #}
{% macro members_to_rebuild() -%}
    {{ keys_to_rebuild('member_id', ref('int_member_fingerprints')) }}
{%- endmacro %}


{# Member-keyed models' pre-hook. #}
{% macro delete_members_to_rebuild(extra=none) -%}
    {{ delete_keys_to_rebuild('member_id', ref('int_member_fingerprints'), extra) }}
{%- endmacro %}


{#
  Condition for models built from the month-end evaluations that record evaluated_through
  (the latest month-end when they were built): true when that latest month-end changed (the
  first run of a month, a rebuild of an earlier D), which rebuilds every member.
#}
{% macro latest_month_end_changed() -%}
    (select max(evaluated_through) from {{ this }})
        is distinct from (select max(month_end) from {{ ref('int_member_month_end_tiers') }})
{%- endmacro %}


{#
  The CTEs `members` (to rebuild), `attribution` (their card-days, from int_card_day_members)
  and `daily` (the rows of the per-card daily model `card_daily`, days <= D, narrowed to those
  cards before any aggregation: DuckDB would otherwise pre-aggregate every daily row below the
  join). For the member-keyed aggregates of per-card daily models.
#}
{% macro rebuilt_members_card_days(card_daily) -%}
members as (

    {{ members_to_rebuild() }}

),

attribution as (

    select card_no, sales_day, member_id
    from {{ ref('int_card_day_members') }}
    where member_id in (select member_id from members)

),

daily as (

    select *
    from {{ card_daily }}
    where card_no in (select card_no from attribution)
        and business_day <= {{ as_of_date() }}

)
{%- endmacro %}
