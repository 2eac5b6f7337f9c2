"""The Dagster instance home: run history, schedules, sensor cursors (SQLite by default)."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
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
"""

# Earlier generated versions, replaced by the current one; a file that differs from all of
# them was edited by someone and is left alone.
PREVIOUS_DAGSTER_YAMLS = (
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


def ensure_dagster_home(data_dir: Path) -> Path:
    """Use $DAGSTER_HOME if set, else <data_dir>/dagster_home; write dagster.yaml if absent or
    still an earlier generated version (never over someone's edits)."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text(encoding="utf-8") in PREVIOUS_DAGSTER_YAMLS:
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
