import dagster as dg

from orchestration.defs.partitions import business_days
from orchestration.settings import schedule_hour

# Everything materializable, in one process: DuckDB allows a single writer.
daily_pipeline = dg.define_asset_job(
    "daily_pipeline",
    selection=dg.AssetSelection.all(),
    partitions_def=business_days,
    executor_def=dg.in_process_executor,
    description="Ingest landing files -> dbt build -> gates -> publish the outbox, for one business day.",
)


@dg.definitions
def job_definitions() -> dg.Definitions:
    # the hour is read when the definitions load (LOYALTY_SCHEDULE_HOUR), not at import
    daily_schedule = dg.build_schedule_from_partitioned_job(
        daily_pipeline, hour_of_day=schedule_hour(), name="daily_pipeline_schedule")
    return dg.Definitions(jobs=[daily_pipeline], schedules=[daily_schedule])
