"""After a Spark build: the marts, restricted and meta tables Spark exported as Parquet
(`export_built_snapshot`, macros/raw_sources.sql) replace their twins in the DuckDB warehouse
file, so the gates, the extracts, the serving copy and the up-to-date checks read what Spark
built with the same code as on DuckDB. No Dagster here.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

SNAPSHOT_SCHEMAS = ("marts", "restricted", "meta")


def clear_snapshot(snapshot_dir: Path) -> None:
    """Before a build: no table of an earlier build can be taken for this one's. The folder is
    the owner's alone (it holds the restricted schema's PII)."""
    shutil.rmtree(snapshot_dir, ignore_errors=True)
    snapshot_dir.mkdir(parents=True, mode=0o700)


def load_snapshot(con: duckdb.DuckDBPyConnection, snapshot_dir: Path) -> dict[str, int]:
    """Replace each exported table in one transaction; rows per `schema.table` loaded."""
    exported = [(schema, folder.name) for schema in SNAPSHOT_SCHEMAS
                for folder in sorted((snapshot_dir / schema).glob("*"))
                if folder.is_dir() and any(folder.glob("*.parquet"))]
    loaded: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for schema in SNAPSHOT_SCHEMAS:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for schema, table in exported:
            files = str(snapshot_dir / schema / table / "*.parquet").replace("'", "''")
            con.execute(f'CREATE OR REPLACE TABLE {schema}."{table}" AS SELECT * FROM read_parquet(\'{files}\')')
            loaded[f"{schema}.{table}"] = con.execute(f'SELECT count(*) FROM {schema}."{table}"').fetchall()[0][0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return loaded
