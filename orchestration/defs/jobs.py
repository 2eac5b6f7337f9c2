import os

import dagster as dg

from orchestration.defs.partitions import business_days

# Everything materializable, in one process: DuckDB allows a single writer.
daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=business_days,
    executor_def=dg.in_process_executor,
    description="Ingest landing files -> dbt build -> gates -> publish the outbox, for one business day.",
)

daily_schedule = dg.build_schedule_from_partitioned_job(
    daily_pipeline,
    hour_of_day=int(os.environ.get("LOYALTY_SCHEDULE_HOUR", "6")),
    name="daily_pipeline_schedule",
)


@dg.definitions
def job_definitions() -> dg.Definitions:
    return dg.Definitions(jobs=[daily_pipeline], schedules=[daily_schedule])
