import dagster as dg

from orchestration.settings import first_business_day

# One partition per business day; the partition key is the as-of date D of a run.
business_days = dg.DailyPartitionsDefinition(start_date=first_business_day())

# Steps that write the single-writer DuckDB file share this pool (limit 1 in dagster.yaml).
WAREHOUSE_POOL = "duckdb_warehouse"

# Each partition is an as-of date with its own dbt build: backfills run one day per run.
ONE_DAY_PER_RUN = dg.BackfillPolicy.multi_run(max_partitions_per_run=1)
