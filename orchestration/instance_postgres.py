"""The team Dagster instance: run, event and schedule storage in PostgreSQL (dagster-postgres).

Everything except the storage comes from the SQLite instance's dagster.yaml
(orchestration.instance), so the warehouse pool's limit is defined once. Connection settings are
read from the environment by Dagster itself ({env: ...}): the file holds no secret and is the same
on every machine.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import yaml

from orchestration.instance import dagster_yaml

PG_ENV_VARS = ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD")
POSTGRES_STORAGE = {
    "postgres": {
        "postgres_db": {
            "hostname": {"env": "DAGSTER_PG_HOST"},
            "port": {"env": "DAGSTER_PG_PORT"},
            "username": {"env": "DAGSTER_PG_USER"},
            "password": {"env": "DAGSTER_PG_PASSWORD"},
            "db_name": "dagster",
            # SQLAlchemy 2.1 maps plain postgresql:// to psycopg 3; dagster-postgres installs psycopg2.
            "scheme": "postgresql+psycopg2",
        }
    }
}
HEADER = """\
# Written by loyalty-warehouse (make dev-postgres): runs, events, schedules and sensor state in
# PostgreSQL; credentials from DAGSTER_PG_HOST/PORT/USER/PASSWORD. Compute logs stay in this
# folder. DuckDB allows one writing process: warehouse-pool steps and queued runs go one at a time.
"""


def postgres_dagster_yaml() -> str:
    shared = yaml.safe_load(dagster_yaml(Path(".")))
    shared.pop("event_log_storage")  # the SQLite event log's; Postgres storage replaces all three
    config = {"storage": POSTGRES_STORAGE, **shared}
    return HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=None)


def ensure_postgres_dagster_home(home: Path) -> Path:
    """Write <home>/dagster.yaml for Postgres storage unless a dagster.yaml is already there."""
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(postgres_dagster_yaml(), encoding="utf-8")
    return config


def main() -> int:
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        print("error: set DAGSTER_HOME (the folder whose dagster.yaml points at PostgreSQL)", file=sys.stderr)
        return 1
    missing = [name for name in PG_ENV_VARS if not os.environ.get(name)]
    if missing:
        print(f"error: dagster.yaml reads {', '.join(missing)} from the environment: set them", file=sys.stderr)
        return 1
    config = ensure_postgres_dagster_home(Path(home).resolve())
    storage = (yaml.safe_load(config.read_text(encoding="utf-8")) or {}).get("storage", {})
    if "postgres" not in storage:
        print(f"error: {config} exists and does not use PostgreSQL storage; point DAGSTER_HOME "
              "elsewhere or remove it", file=sys.stderr)
        return 1
    print(f"Dagster instance: {config} (PostgreSQL storage)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
