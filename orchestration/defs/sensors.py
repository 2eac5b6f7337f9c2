"""Sensor on the landing directory: a run of daily_pipeline for each business day
with new or corrected files, once per file version (logic in ingestion.watch)."""

from __future__ import annotations

import json
from datetime import date

import dagster as dg

from ingestion.watch import run_key, scan_landing
from orchestration.defs.jobs import daily_pipeline
from orchestration.defs.partitions import business_days
from orchestration.settings import first_business_day, settings_from_env


@dg.sensor(
    job=daily_pipeline,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Requests the daily partition of every landing file that is new or changed and "
                "delivered (size and mtime stable across two ticks, or a <name>.done marker); "
                "snapshot files (reference/) request the latest partition.",
)
def landing_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    settings = settings_from_env()
    latest = business_days.get_last_partition_key()
    result = scan_landing(
        settings.landing_dir, context.cursor,
        first_day=date.fromisoformat(first_business_day()),
        latest_day=date.fromisoformat(latest) if latest else None,
    )
    done = json.loads(result.cursor)["done"]
    requests = [
        dg.RunRequest(
            run_key=run_key(partition, files, done), partition_key=partition,
            tags={"loyalty/trigger": "landing_sensor", "loyalty/files": ",".join(sorted(files))[:2000]},
        )
        for partition, files in sorted(result.partitions.items())
    ]
    if result.waiting:
        context.log.info(f"{len(result.waiting)} file(s) not stable yet, e.g. {result.waiting[:3]}")
    for label, why in result.ignored.items():
        context.log.warning(f"{label}: {why}")
    return dg.SensorResult(run_requests=requests, cursor=result.cursor)


@dg.definitions
def sensor_definitions() -> dg.Definitions:
    return dg.Definitions(sensors=[landing_sensor])
