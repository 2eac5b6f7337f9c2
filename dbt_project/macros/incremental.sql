{#
  Incremental models keyed by business day (issue 6). A daily run processes only:
    - business days <= D present in raw.pos_lines but not yet in the target;
    - business days whose POS files were loaded (or corrected) after the load watermark the
      target recorded for the day (column loaded_watermark, auditable);
  and removes the days > D from the target (a rebuild of an earlier D gives exactly its
  days: every model stays a pure function of the raw rows with business_day <= D).
  A full refresh (or the first run) processes every day <= D, so it builds the same rows.
#}

{# The strategy that replaces whole business days: dispatched per adapter. #}
{% macro business_day_incremental_strategy() -%}
    {{ return(adapter.dispatch('business_day_incremental_strategy', 'loyalty_warehouse')()) }}
{%- endmacro %}

{% macro default__business_day_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{% macro duckdb__business_day_incremental_strategy() -%}
    {{ return('delete+insert') }}
{%- endmacro %}

{# Spark/Databricks: overwrite the business_day partitions written by the batch. #}
{% macro spark__business_day_incremental_strategy() -%}
    {{ return('insert_overwrite') }}
{%- endmacro %}


{#
  Per business day with POS lines landed or a POS file recorded (<= D): the load watermark,
  i.e. the latest loaded_at of any of the day's POS file records in raw.ingested_files.
  Rejected records count too: a loaded file re-delivered unreadable takes its rows out of
  raw.pos_lines, and the day must be rebuilt without them. Days with records but no lines
  left are rebuilt empty (delete_days_after_as_of removes their rows). Rows inserted without
  bookkeeping, as in unit fixtures, get 1970-01-01.
#}
{% macro pos_day_watermarks() -%}
    select
        landed.business_day,
        coalesce(max(files.loaded_at), cast('1970-01-01 00:00:00' as timestamp)) as loaded_watermark
    from (
        select distinct business_day
        from {{ source('raw', 'pos_lines') }}
        where business_day <= {{ as_of_date() }}
        union
        select distinct business_day
        from {{ ingested_files_relation() }}
        where source = 'pos_lines' and business_day <= {{ as_of_date() }}
    ) as landed
    left join {{ ingested_files_relation() }} as files
        on files.business_day = landed.business_day
        and files.source = 'pos_lines'
    group by landed.business_day
{%- endmacro %}


{#
  The business days this run (re)builds, with their watermark (a select of business_day,
  loaded_watermark). `extra_days` is an optional select of business_day to rebuild as well
  (e.g. days whose member attribution changed).
#}
{% macro business_days_to_process(extra_days=none) -%}
    select watermarks.business_day, watermarks.loaded_watermark
    from ({{ pos_day_watermarks() }}) as watermarks
    {%- if is_incremental() %}
    where not exists (
        select 1
        from (select distinct business_day, loaded_watermark from {{ this }}) as built
        where built.business_day = watermarks.business_day
            and built.loaded_watermark = watermarks.loaded_watermark
    )
    {%- if extra_days is not none %}
        or watermarks.business_day in ({{ extra_days }})
    {%- endif %}
    {%- endif %}
{%- endmacro %}


{#
  Pre-hook of every business-day incremental model: drop the days after D, and the days whose
  POS files were all rejected or emptied (recorded, no line left: the insert has no row to
  replace them with).
#}
{% macro delete_days_after_as_of() -%}
    {%- if is_incremental() -%}
        delete from {{ this }}
        where business_day > {{ as_of_date() }}
            or business_day in (
                select files.business_day
                from {{ ingested_files_relation() }} as files
                where files.source = 'pos_lines'
                    and files.business_day <= {{ as_of_date() }}
                    and not exists (
                        select 1 from {{ source('raw', 'pos_lines') }} as lines
                        where lines.business_day = files.business_day
                    )
            )
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}


{#
  raw.ingested_files: ingestion's bookkeeping of every landing file (not a lineage asset,
  so not a dbt source: it is written in the same transaction as the raw rows it describes).
#}
{% macro ingested_files_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='raw', identifier='ingested_files')) }}
{%- endmacro %}
