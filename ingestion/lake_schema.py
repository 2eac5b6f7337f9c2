"""The Parquet lake as tables for an engine that reads it (Spark): name, columns with their types
from the contract, and whether the table is partitioned by business day (Hive folders
`business_day=YYYY-MM-DD`). The load records (`ingested_files`) sit beside the sources.

The types are the contract's (never inferred from the files): a source with no file yet is an
empty table of the right shape, and a file cannot change a column's type.
"""

from __future__ import annotations

from pathlib import Path

from ingestion.contract import SOURCES, Column, Source

# raw.ingested_files as the sink writes it (contract.BOOKKEEPING_DDL), in the export's column order
LOAD_RECORD_COLUMNS = (
    ("file_name", "STRING"), ("source", "STRING"), ("business_day", "DATE"), ("sha256", "STRING"),
    ("size_bytes", "BIGINT"), ("status", "STRING"), ("reason", "STRING"), ("rows_read", "BIGINT"),
    ("rows_loaded", "BIGINT"), ("rows_quarantined", "BIGINT"), ("replaces_sha256", "STRING"),
    ("loaded_at", "TIMESTAMP"), ("encoding", "STRING"), ("extra_columns", "STRING"), ("mtime_ns", "BIGINT"),
)


def spark_type(column: Column) -> str:
    """The contract's portable type in Spark's spelling (VARCHAR has no length there)."""
    return "STRING" if column.sql_type.upper() == "VARCHAR" else column.sql_type.upper()


def lake_tables(lake_dir: Path) -> dict[str, dict]:
    """`raw.<name>` -> {location, columns (DDL), partitioned}: the argument of the dbt operation
    `register_lake_tables` (macros/raw_sources.sql)."""
    tables = {source.name: _source_table(lake_dir, source) for source in SOURCES}
    tables["ingested_files"] = {
        "location": str(lake_dir / "ingested_files"),
        "columns": ", ".join(f"{name} {kind}" for name, kind in LOAD_RECORD_COLUMNS),
        "partitioned": False,
    }
    return tables


def _source_table(lake_dir: Path, source: Source) -> dict:
    partitioned = not source.snapshot
    # a partitioned table lists its partition column last; a snapshot's files have no
    # business_day column (the dbt operation adds it as null)
    columns = [c for c in source.lake_column_defs if c.name != "business_day"]
    ddl = [f"{c.name} {spark_type(c)}" for c in columns]
    if partitioned:
        ddl.append("business_day DATE")
    return {"location": str(lake_dir / source.name), "columns": ", ".join(ddl), "partitioned": partitioned}
