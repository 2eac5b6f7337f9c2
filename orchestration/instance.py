"""The Dagster instance home: run history, schedules, sensor cursors (SQLite by default)."""

from __future__ import annotations

import json
import os
from pathlib import Path

DAGSTER_YAML_TEMPLATE = """\
# Written by loyalty-warehouse. Storage is SQLite under this folder; for a team,
# see README "Operations" for Postgres.
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  pools:
    # DuckDB allows one writing process: steps in the warehouse pool run one at a time.
    default_limit: 1
  runs:
    # Queued runs (schedule, sensor, backfills, UI) one at a time, oldest first: a backfill's
    # days run in order and no run's checks read the file while another run's step writes it.
    max_concurrent_runs: 1
run_monitoring:
  # The daemon fails runs stuck STARTING for 180 s and frees the pool slots a finished run
  # still holds. A run whose process died while STARTED is failed by the run guard
  # (orchestration/run_guard.py) at the next run or dead_run_recovery sensor tick.
  enabled: true
  free_slots_after_run_end_seconds: 60
event_log_storage:
  # Dagster's SQLite event log (same files under history/runs), each database's engine kept
  # instead of rebuilt for every write: about a third of the time per event.
  module: orchestration.event_log_storage
  class: KeptEngineSqliteEventLogStorage
  config:
    base_dir: {event_log_dir}
"""

# Earlier generated versions, replaced by the current one; a file that differs from all of
# them was edited by someone and is left alone.
PREVIOUS_DAGSTER_YAMLS = (
    """\
# Written by loyalty-warehouse. Storage is SQLite under this folder; for a team,
# see README "Operations" for Postgres.
telemetry:
  enabled: false
nux:
  enabled: false
concurrency:
  pools:
    # DuckDB allows one writing process: steps in the warehouse pool run one at a time.
    default_limit: 1
  runs:
    # Queued runs (schedule, sensor, backfills, UI) one at a time, oldest first: a backfill's
    # days run in order and no run's checks read the file while another run's step writes it.
    max_concurrent_runs: 1
run_monitoring:
  # The daemon fails runs stuck STARTING for 180 s and frees the pool slots a finished run
  # still holds. A run whose process died while STARTED is failed by the run guard
  # (orchestration/run_guard.py) at the next run or dead_run_recovery sensor tick.
  enabled: true
  free_slots_after_run_end_seconds: 60
""",
    """\
# Written by loyalty-warehouse. Storage is SQLite under this folder; for a team,
# see README "Operations" for Postgres.
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB allows one writing process: steps in the warehouse pool run one at a time.
    default_limit: 1
""",
)


def dagster_yaml(home: Path) -> str:
    """The generated dagster.yaml of the Dagster home `home` (the event log's folder is in it:
    Dagster gives a configured storage class no other way to find its home)."""
    return DAGSTER_YAML_TEMPLATE.format(event_log_dir=json.dumps(str(home / "history" / "runs")))


def _is_generated(text: str) -> bool:
    """Written by this module: an earlier version, or the current one for any home (a home
    folder that was copied or moved still names the old folder)."""
    before, after = DAGSTER_YAML_TEMPLATE.split("{event_log_dir}")
    if text in PREVIOUS_DAGSTER_YAMLS:
        return True
    middle = text[len(before):len(text) - len(after)] if text.startswith(before) and text.endswith(after) else ""
    return middle.startswith('"') and "\n" not in middle


def ensure_dagster_home(data_dir: Path) -> Path:
    """Use $DAGSTER_HOME if set, else <data_dir>/dagster_home; write dagster.yaml if absent or
    still an earlier generated version or one for another folder (never over someone's edits)."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config, wanted = home / "dagster.yaml", dagster_yaml(home)
    current = config.read_text(encoding="utf-8") if config.exists() else None
    if current is None or current != wanted and _is_generated(current):
        config.write_text(wanted, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
