"""The BI serving copy: marts only (masked PII), refreshed atomically (no Dagster here).

DuckDB lets one process write a database file, and a dashboard holding the
warehouse open would block the morning run. BI tools open
`serving/marts.duckdb` instead: a fresh file is built beside it and renamed over
it, so an open reader keeps the old file until it reconnects.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb

# Only the warehouse's `marts` schema is served (never raw, staging, intermediate or
# restricted: they hold full PII). Its tables land in the copy's `main` schema: the file
# is named marts.duckdb, so `marts.tier_list` resolves to them without ambiguity.
SERVED_SCHEMA = "marts"


def refresh_serving_copy(warehouse_path: Path, serving_dir: Path) -> dict[str, int]:
    """Copy every table of the served schemas; returns rows per table."""
    serving_dir.mkdir(parents=True, exist_ok=True)
    target = serving_dir / "marts.duckdb"
    tmp = serving_dir / f"next_copy_{os.getpid()}.duckdb"
    tmp.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    con = duckdb.connect(str(tmp))
    try:
        local = con.execute("SELECT current_database()").fetchall()[0][0]
        escaped = str(warehouse_path).replace("'", "''")
        con.execute(f"ATTACH '{escaped}' AS warehouse (READ_ONLY)")
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = 'warehouse' "
            "AND schema_name = ? ORDER BY table_name", [SERVED_SCHEMA]).fetchall()]
        for table in tables:
            con.execute(f'CREATE TABLE "{local}".main.{table} AS '
                        f"SELECT * FROM warehouse.{SERVED_SCHEMA}.{table}")
            counts[table] = con.execute(f'SELECT count(*) FROM "{local}".main.{table}').fetchall()[0][0]
        con.execute("DETACH warehouse")
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(tmp, target)
    return counts
