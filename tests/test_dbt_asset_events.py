"""The dbt asset records each model while dbt runs, with its row count, also when the run has
to rebuild everything (going back a day: FULL_REFRESH_REQUIRED, then a full rebuild)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._core.instance.ref import InstanceRef

from conftest import REPO_ROOT
from published_run import published_run


def _dbt_events(instance: dg.DagsterInstance, run_id: str) -> list:
    records = instance.get_records_for_run(run_id).records
    return [r.event_log_entry for r in records if r.event_log_entry.step_key == "loyalty_dbt_models"]


@pytest.mark.slow  # its own CI step (make test-slow): two pipeline runs, the second a full rebuild
def test_models_are_recorded_with_their_row_counts_while_dbt_runs_and_after_a_full_rebuild(
        tmp_path_factory, small_landing):
    run = published_run(tmp_path_factory, small_landing, name="dbt_events_run")
    day_before = (date.fromisoformat(run.as_of) - timedelta(days=1)).isoformat()
    env = {**os.environ, **run.env, "DAGSTER_TELEMETRY_ENABLED": "false"}
    env.pop("LOYALTY_PROGRAM", None)
    back = subprocess.run([str(Path(sys.executable).with_name("loyalty")), "run", "--as-of", day_before],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert back.returncode == 0, back.stderr[-3000:]

    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(run.dagster_home))) as instance:
        [latest] = instance.get_runs(limit=1)
        events = _dbt_events(instance, latest.run_id)
    warnings = [e.user_message for e in events if e.level == 30 and "rebuilding everything" in e.user_message]
    assert warnings and "FULL_REFRESH_REQUIRED" in warnings[0], "going back a day is a full rebuild"

    materialized = [e for e in events if e.dagster_event and e.dagster_event.is_step_materialization]
    metadata = {e.dagster_event.asset_key: e.dagster_event.event_specific_data.materialization.metadata
                for e in materialized}
    manifest = json.loads((run.data_dir / "dbt_target" / "manifest.json").read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]
    assert len(metadata) == len(models)
    with duckdb.connect(str(run.data_dir / "warehouse.duckdb"), read_only=True) as con:
        for key, entries in metadata.items():
            relation = manifest["nodes"][entries["unique_id"].value]["relation_name"]
            rows = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
            assert entries["dagster/row_count"].value == rows, key

    # streamed: the first model is recorded before dbt's last node finished, not after dbt exits
    results = json.loads((run.data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    last_node_done = max(datetime.fromisoformat(t["completed_at"].replace("Z", "+00:00")).timestamp()
                         for result in results for t in result["timing"] if t["name"] == "execute")
    assert min(e.timestamp for e in materialized) < last_node_done
