{#
  The raw sources on an engine that reads the Parquet lake (Spark), and the snapshot of the
  built marts that the gates, extracts and serving copy read after a Spark build.

  register_lake_tables (on-run-start, before anything reads raw): DuckDB needs nothing, ingestion
  writes the raw tables into the warehouse file itself. Spark: each table of var `lake_tables`
  (ingestion.lake_schema.lake_tables(): the contract's columns and types, never inferred from the
  files; the orchestrator passes it with the program) becomes an external Parquet table over its
  lake folder, re-declared every run (dropping an external table keeps its files) with its
  business-day partitions recovered from the folders, so new and corrected days are seen. A
  snapshot source (stores, products) has no business_day in its files: its raw name is a view
  adding it as null.
#}
{% macro register_lake_tables(tables) -%}
    {{ return(adapter.dispatch('register_lake_tables', 'loyalty_warehouse')(tables)) }}
{%- endmacro %}

{% macro default__register_lake_tables(tables) -%}
    {{ exceptions.raise_compiler_error('no lake registration for adapter ' ~ adapter.type() ~ ': add one in macros/raw_sources.sql') }}
{%- endmacro %}

{% macro duckdb__register_lake_tables(tables) -%}
    select 1
{%- endmacro %}

{% macro spark__register_lake_tables(tables) -%}
    {%- if execute -%}
        {%- if not tables -%}
            {{ exceptions.raise_compiler_error("LOYALTY_ENGINE=spark reads the Parquet lake: pass var lake_tables (ingestion.lake_schema.lake_tables(); `loyalty run` does, see README 'Scale-out on Spark')") }}
        {%- endif -%}
        {%- do run_query('create database if not exists raw') -%}
        {%- for name, table in tables.items() -%}
            {%- set stored = name if table.partitioned or name == 'ingested_files' else name ~ '__files' -%}
            {%- if stored != name %}{% do run_query('drop view if exists raw.' ~ name) %}{% endif -%}
            {%- do run_query('drop table if exists raw.' ~ stored) -%}
            {%- set ddl -%}
                create table raw.{{ stored }} ({{ table.columns }}) using parquet
                {% if table.partitioned %}partitioned by (business_day){% endif %}
                location '{{ table.location }}'
            {%- endset -%}
            {%- do run_query(ddl) -%}
            {%- if table.partitioned %}{% do run_query('msck repair table raw.' ~ stored) %}{% endif -%}
            {%- if stored != name -%}
                {%- do run_query('create view raw.' ~ name ~ ' as select *, cast(null as date) as business_day from raw.' ~ stored) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}


{#
  export_built_snapshot (on-run-end of a build or run): DuckDB needs nothing (the marts are in
  the warehouse file). Spark: every table of the marts, restricted and meta schemas is written
  as Parquet to var `snapshot_dir`/<schema>/<table> (the orchestrator loads it into the DuckDB
  file the gates, extracts and serving copy read; restricted folders are the warehouse owner's,
  as Spark runs as that user). Without the var nothing is exported (a hand-run dbt build).
#}
{% macro export_built_snapshot(snapshot_dir) -%}
    {{ return(adapter.dispatch('export_built_snapshot', 'loyalty_warehouse')(snapshot_dir)) }}
{%- endmacro %}

{% macro default__export_built_snapshot(snapshot_dir) -%}
    {{ exceptions.raise_compiler_error('no snapshot export for adapter ' ~ adapter.type() ~ ': add one in macros/raw_sources.sql') }}
{%- endmacro %}

{% macro duckdb__export_built_snapshot(snapshot_dir) -%}
    select 1
{%- endmacro %}

{% macro spark__export_built_snapshot(snapshot_dir) -%}
    {%- if execute and snapshot_dir and flags.WHICH in ('build', 'run') -%}
        {%- for schema in ('marts', 'restricted', 'meta') -%}
            {%- for row in run_query('show tables in ' ~ schema) -%}
                {%- set name = row[1] -%}
                {%- if not row[2] -%}
                    {%- do run_query("insert overwrite directory '" ~ snapshot_dir ~ "/" ~ schema ~ "/" ~ name
                                     ~ "' using parquet select * from " ~ schema ~ "." ~ name) -%}
                {%- endif -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endif -%}
    select 1
{%- endmacro %}
