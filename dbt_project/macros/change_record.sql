{#
  The one record of what changed (issue 11). Every incremental model reads it; none scans its
  own table to find what is stale.

    meta.build_log            one row per SUCCESSFUL build: the as-of date, the latest load
                              record it saw (loaded_through) and the program configuration.
                              Written by the on-run-end hook only when every node of the run
                              succeeded and the run built every incremental model, so a run that
                              fails half-way leaves the previous row in place: the next run sees
                              the same changes again and rebuilds them (every incremental model
                              replaces whole partitions, so building a change twice is harmless).
    meta.build_attempts       one row per build started (its as-of date and program), written by
                              the on-run-start hook: a build that started after the last
                              successful one and did not finish may have written partitions of a
                              later as-of date or under another program; a run that would not
                              rewrite them stops (below).
    int_build_scope           one row: this run's as-of date and load horizon, the previous
                              successful build's, and the first month-end to re-evaluate.
    int_days_to_rebuild       the business days this run rewrites, with why.

  What needs a full rebuild instead (the as-of date moved back, the program changed, a built day
  lost all its lines) stops the run at its start with FULL_REFRESH_REQUIRED: the orchestrator
  then runs the same build with --full-refresh (orchestration/defs/transform/assets.py).
#}

{# The database part of a relation the project names itself: per adapter. #}
{% macro warehouse_database() -%}
    {{ return(adapter.dispatch('warehouse_database', 'loyalty_warehouse')()) }}
{%- endmacro %}

{% macro default__warehouse_database() -%}
    {{ exceptions.raise_compiler_error('no warehouse database for adapter ' ~ adapter.type() ~ ': add one in macros/change_record.sql') }}
{%- endmacro %}

{# DuckDB: the warehouse file's catalog. #}
{% macro duckdb__warehouse_database() -%}
    {{ return(target.database) }}
{%- endmacro %}

{# Spark: a relation has a schema (= database) and a name, no catalog part. #}
{% macro spark__warehouse_database() -%}
    {{ return(none) }}
{%- endmacro %}


{% macro build_log_relation() -%}
    {{ return(api.Relation.create(database=warehouse_database(), schema='meta', identifier='build_log')) }}
{%- endmacro %}

{% macro build_attempts_relation() -%}
    {{ return(api.Relation.create(database=warehouse_database(), schema='meta', identifier='build_attempts')) }}
{%- endmacro %}


{# The program configuration as stored in the build log (compared as JSON by the orchestrator). #}
{% macro program_json() -%}
    {{ return(tojson(var('program'), sort_keys=true)) }}
{%- endmacro %}


{# on-run-start: the build log exists (an empty one means: no successful build yet). #}
{% macro create_build_log() -%}
    {%- if execute %}
        {%- do run_query('create schema if not exists meta') %}
        {%- set create_attempts -%}
            create table if not exists {{ build_attempts_relation() }} (
                as_of_date date,
                program_json {{ dbt.type_string() }},
                started_at timestamp
            )
        {%- endset %}
        {%- do run_query(create_attempts) %}
    {%- endif %}
    create table if not exists {{ build_log_relation() }} (
        as_of_date date,
        loaded_through timestamp,
        program_json {{ dbt.type_string() }},
        finished_at timestamp
    )
{%- endmacro %}


{#
  The latest successful build (a select of one row at most); none on a full refresh, which
  rebuilds everything: its record of what changed is then every day <= D.
#}
{% macro previous_build() -%}
    select as_of_date, loaded_through, program_json
    from {{ build_log_relation() }}
    where finished_at = (select max(finished_at) from {{ build_log_relation() }})
    {%- if flags.FULL_REFRESH %}
        and false
    {%- endif %}
{%- endmacro %}


{#
  on-run-start: an incremental run that cannot be right stops here, naming why:
    - the as-of date is before the last successful build's (days after it would stay);
    - the program configuration changed (every point and tier depends on it);
    - a business day built before has POS file records loaded since and no line left (a
      partition overwrite has no row to replace the day's rows with);
    - a member built before has no member row left after a member file was loaded again (the
      member-keyed member dimension replaces a member's rows only with new ones);
    - a build started since the last successful one did not finish, and it was for a later
      as-of date or under another program (what it wrote this run would not rewrite).
  Then a run or build records itself in meta.build_attempts (a full refresh too: it may stop
  half-way; `dbt test` writes no model and is not recorded).
#}
{% macro require_full_refresh_when_needed() -%}
    {%- if execute and not flags.FULL_REFRESH -%}
        {%- set as_of = run_query('select ' ~ as_of_date()).columns[0].values()[0] -%}
        {%- set reasons = [] -%}
        {%- set unfinished -%}
            select distinct as_of_date, program_json
            from {{ build_attempts_relation() }}
            where started_at > coalesce(
                (select max(finished_at) from {{ build_log_relation() }}), {{ sql_timestamp('1900-01-01 00:00:00') }}
            )
        {%- endset -%}
        {%- for attempt in run_query(unfinished).rows -%}
            {%- if attempt['as_of_date'] > as_of -%}
                {%- do reasons.append('a build for ' ~ attempt['as_of_date'] ~ ' started since the last successful '
                                      ~ 'build and did not finish (it may have written days after ' ~ as_of ~ ')') -%}
            {%- endif -%}
            {%- if fromjson(attempt['program_json']) != var('program') -%}
                {%- do reasons.append('a build under another program configuration started since the last '
                                      ~ 'successful build and did not finish') -%}
            {%- endif -%}
        {%- endfor -%}
        {%- set previous = run_query(previous_build()) -%}
        {%- if previous.rows | length > 0 -%}
            {%- set last = previous.rows[0] -%}
            {%- if as_of < last['as_of_date'] -%}
                {%- do reasons.append('the as-of date ' ~ as_of ~ ' is before the last build (' ~ last['as_of_date'] ~ ')') -%}
            {%- endif -%}
            {%- if fromjson(last['program_json']) != var('program') -%}
                {%- do reasons.append('the program configuration changed since the last build') -%}
            {%- endif -%}
            {%- set emptied -%}
                select min(files.business_day)
                from {{ ingested_files_relation() }} as files
                where files.source = 'pos_lines'
                    and files.business_day <= {{ sql_date(last['as_of_date']) }}
                    and files.loaded_at > {{ sql_timestamp(last['loaded_through']) }}
                    and not exists (
                        select 1 from {{ source('raw', 'pos_lines') }} as lines
                        where lines.business_day = files.business_day
                    )
            {%- endset -%}
            {%- set emptied_day = run_query(emptied).columns[0].values()[0] -%}
            {%- if emptied_day is not none -%}
                {%- do reasons.append('business day ' ~ emptied_day ~ ' lost all its POS lines') -%}
            {%- endif -%}
            {%- set previous_versions = adapter.get_relation(database=warehouse_database(), schema='intermediate',
                                                             identifier='int_member_versions') -%}
            {%- if previous_versions is not none -%}
                {%- set vanished -%}
                    select min(versions.member_id), min(versions._source_file)
                    from {{ previous_versions }} as versions
                    inner join {{ ingested_files_relation() }} as files
                        on files.file_name = versions._source_file
                        and files.source = 'members'
                    where files.loaded_at > {{ sql_timestamp(last['loaded_through']) }}
                        and not exists (
                            select 1 from {{ source('raw', 'members') }} as member_rows
                            where member_rows.member_id = versions.member_id
                                and member_rows.business_day <= {{ as_of_date() }}
                                and cast(member_rows.updated_at as date) <= {{ as_of_date() }}
                        )
                {%- endset -%}
                {%- set vanished_member = run_query(vanished).rows[0] -%}
                {%- if vanished_member[0] is not none -%}
                    {%- do reasons.append('member ' ~ vanished_member[0] ~ ' has no member row left after '
                                          ~ vanished_member[1] ~ ' was loaded again') -%}
                {%- endif -%}
            {%- endif -%}
        {%- endif -%}
        {%- if reasons -%}
            {{ exceptions.raise_compiler_error('FULL_REFRESH_REQUIRED: ' ~ reasons | join('; ') ~ ' (run again with --full-refresh)') }}
        {%- endif -%}
    {%- endif -%}
    {%- if flags.WHICH in ['run', 'build'] %}
    insert into {{ build_attempts_relation() }} (as_of_date, program_json, started_at)
    select {{ as_of_date() }}, {{ sql_string(program_json()) }}, {{ dbt.current_timestamp() }}
    {%- else %}
    select 1
    {%- endif %}
{%- endmacro %}


{#
  on-run-end: record the build when every node succeeded and every incremental model ran
  (a run of a subset of models must not mark changes as built for the models it skipped). The
  month-end history tables (macros/month_end_history.sql) count as incremental: they too rebuild
  only for the changes the log has not recorded yet.
#}
{% macro record_successful_build(results) -%}
    {%- if execute -%}
        {%- set failed = results | rejectattr('status', 'in', ['success', 'pass', 'warn']) | list -%}
        {%- set ran = results | map(attribute='node') | map(attribute='unique_id') | list -%}
        {%- set incremental = graph.nodes.values()
            | selectattr('resource_type', 'equalto', 'model')
            | selectattr('config.materialized', 'in', ['incremental', 'month_end_history'])
            | map(attribute='unique_id') | list -%}
        {%- set missing = incremental | reject('in', ran) | list -%}
        {%- if not failed and not missing -%}
            insert into {{ build_log_relation() }} (as_of_date, loaded_through, program_json, finished_at)
            select as_of_date, loaded_through, {{ sql_string(program_json()) }}, {{ dbt.current_timestamp() }}
            from {{ api.Relation.create(database=warehouse_database(), schema='meta', identifier='int_build_scope') }}
        {%- else -%}
            select 1
        {%- endif -%}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#
  Filter of a day-partitioned model: the business days this run rewrites (all days <= D on a
  first build or a full refresh). `member_dependent`: the model's rows also depend on member
  attribution or points multipliers, so the restated days count too. `ledger`: the points
  ledger, partitioned by entry day, rewrites every day of the record (moves_ledger too).
#}
{% macro in_days_to_rebuild(column='business_day', member_dependent=false, ledger=false) -%}
    {%- if is_incremental() -%}
        {{ column }} in (
            select business_day from {{ ref('int_days_to_rebuild') }}
            {%- if ledger %}
            {%- elif member_dependent %} where has_new_file or is_restated
            {%- else %} where has_new_file
            {%- endif %}
        )
    {%- else -%}
        {{ column }} <= {{ as_of_date() }}
    {%- endif -%}
{%- endmacro %}


{#
  Filter of a member-keyed model (member_keyed_materialization): the members this run
  recomputes (all of them on a first build or a full refresh). `members`: the meta model that
  lists them (int_members_to_refresh, or int_trailing_members_to_refresh for figures over the
  trailing window, whose edge moves with D).
#}
{% macro in_members_to_refresh(column='member_id', members='int_members_to_refresh') -%}
    {%- if is_incremental() -%}
        {{ column }} in (select member_id from {{ ref(members) }})
    {%- else -%}
        1 = 1
    {%- endif -%}
{%- endmacro %}


{#
  Member-keyed models (one or more rows per member, recomputed for int_members_to_refresh): per
  adapter. DuckDB: incremental delete+insert on member_id (a member's rows are replaced whole;
  a refreshed member with no row left is kept as a row with purchase_days = 0, which readers
  skip, because a delete needs a key in the batch). Spark on Parquet has no row-level replace
  (merge needs Delta or Iceberg): a whole table.
#}
{% macro member_keyed_materialization() -%}
    {{ return(adapter.dispatch('member_keyed_materialization', 'loyalty_warehouse')()) }}
{%- endmacro %}

{% macro default__member_keyed_materialization() -%}
    {{ exceptions.raise_compiler_error('no member-keyed materialization for adapter ' ~ adapter.type() ~ ': add one in macros/change_record.sql') }}
{%- endmacro %}

{% macro duckdb__member_keyed_materialization() -%}
    {{ return('incremental') }}
{%- endmacro %}

{% macro spark__member_keyed_materialization() -%}
    {{ return('table') }}
{%- endmacro %}


{# The strategy that replaces whole partitions (business days, month-ends): per adapter. #}
{% macro partition_overwrite_strategy() -%}
    {{ return(adapter.dispatch('partition_overwrite_strategy', 'loyalty_warehouse')()) }}
{%- endmacro %}

{% macro default__partition_overwrite_strategy() -%}
    {{ exceptions.raise_compiler_error('no partition overwrite strategy for adapter ' ~ adapter.type() ~ ': add one in macros/change_record.sql') }}
{%- endmacro %}

{# DuckDB: delete the partitions present in the batch, insert the batch (one transaction). #}
{% macro duckdb__partition_overwrite_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{# Spark on Parquet: dynamic partition overwrite of the partitions written by the batch. #}
{% macro spark__partition_overwrite_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}


{#
  Member attribution of card-days: for each (card_no, sales_day) of the select `card_days`, the
  member whose card_no matches and whose join_date <= sales_day (the latest such member if a
  card was reissued; ties by member_id); no row when none (an unknown card, a card used before
  its member joined). Members as known on D.
#}
{% macro attributed_members(card_days) -%}
    select card_no, sales_day, member_id
    from (
        select
            card_days.card_no,
            card_days.sales_day,
            members.member_id,
            row_number() over (
                partition by card_days.card_no, card_days.sales_day
                order by members.join_date desc, members.member_id
            ) as match_rank
        from (select distinct card_no, sales_day from ({{ card_days }}) as wanted) as card_days
        inner join {{ ref('int_members_as_of') }} as members
            on members.card_no = card_days.card_no
            and members.join_date <= card_days.sales_day
    ) as matches
    where match_rank = 1
{%- endmacro %}


{#
  raw.ingested_files: ingestion's bookkeeping of every landing file (not a lineage asset,
  so not a dbt source: it is written in the same transaction as the raw rows it describes).
#}
{% macro ingested_files_relation() -%}
    {{ return(api.Relation.create(database=warehouse_database(), schema='raw', identifier='ingested_files')) }}
{%- endmacro %}


{# Literals of values read back from the warehouse (a date, a timestamp). #}
{% macro sql_date(value) -%}
    cast('{{ value }}' as date)
{%- endmacro %}

{% macro sql_timestamp(value) -%}
    cast('{{ value }}' as timestamp)
{%- endmacro %}


{#
  The first month-end a month-end-partitioned model (int_member_month_end_tiers,
  member_segment_history, segment_migrations) evaluates again in an incremental run: the
  month-ends reached since the last build (previous as-of date), and every month-end from the
  earliest day whose member spend may have changed (int_days_to_rebuild.evaluate_from: a
  corrected day, a moved attribution; int_changed_members: a changed member). A scalar subquery.
#}
{% macro first_month_end_to_evaluate() -%}
    (
        select least(
            coalesce(scope.previous_as_of_date, cast('1900-01-01' as date)),
            coalesce((select min(evaluate_from) from {{ ref('int_days_to_rebuild') }}), scope.as_of_date),
            coalesce((select min(evaluate_from) from {{ ref('int_changed_members') }}), scope.as_of_date)
        )
        from {{ ref('int_build_scope') }} as scope
    )
{%- endmacro %}
