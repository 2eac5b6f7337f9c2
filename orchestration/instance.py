"""The Dagster instance home: run history, schedules, sensor cursors (SQLite by default)."""

from __future__ import annotations

import os
from pathlib import Path

DAGSTER_YAML = """\
# Written by loyalty-warehouse. Storage is SQLite under this folder; for a team,
# see README "Operations" for Postgres.
telemetry:
  enabled: false
concurrency:
  pools:
    # DuckDB allows one writing process: steps in the warehouse pool run one at a time.
    default_limit: 1
"""


def ensure_dagster_home(data_dir: Path) -> Path:
    """Use $DAGSTER_HOME if set, else <data_dir>/dagster_home; create dagster.yaml if absent."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML, encoding="utf-8")
    os.environ["DAGSTER_HOME"] = str(home)
    return home
