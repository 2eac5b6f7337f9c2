"""The daemon's side of crash recovery (orchestration/run_guard.py).

A run whose process died keeps the warehouse pool's only slot, and the run queue does not
start a run whose first steps need a slot it sees taken: a queued run would never reach the
recovery a run does at its start. This sensor does it every minute while no run executes.
"""

import dagster as dg

from orchestration.defs.partitions import WAREHOUSE_POOL
from orchestration.run_guard import recover_when_idle
from orchestration.settings import settings_from_env


@dg.sensor(
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Marks failed the runs whose process died (killed, out of memory, reboot) and "
                "frees their slots of the duckdb_warehouse pool, so queued runs can start. "
                "Requests no runs.",
)
def dead_run_recovery(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    outcome = recover_when_idle(context.instance, settings_from_env().data_dir, WAREHOUSE_POOL)
    if outcome.startswith("recovered"):
        context.log.warning(outcome)
    return dg.SkipReason(outcome)


@dg.definitions
def run_recovery_definitions() -> dg.Definitions:
    return dg.Definitions(sensors=[dead_run_recovery])
