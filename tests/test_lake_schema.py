"""The Parquet lake as Spark registers it (ingestion/lake_schema.py): the declared columns are
exactly the files' columns, with types Spark reads them as; the load records are exported beside
the sources."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import duckdb

from ingestion.contract import SOURCES
from ingestion.lake_schema import lake_tables
from ingestion.load import ingest_source
from ingestion.sink import WarehouseSink

# DuckDB's name for a Parquet column's type -> Spark's name for the same
SPARK_NAME = {"VARCHAR": "STRING", "INTEGER": "INT", "BIGINT": "BIGINT", "DATE": "DATE",
              "TIMESTAMP": "TIMESTAMP", "BOOLEAN": "BOOLEAN"}


def _declared(columns_ddl: str) -> dict[str, str]:
    pairs = re.findall(r"(\w+) ([A-Z]+(?:\(\d+,\s*\d+\))?)", columns_ddl)
    return {name: kind.replace(" ", "").replace("INTEGER", "INT") for name, kind in pairs}


def test_the_declared_lake_tables_match_the_files_ingestion_writes(tmp_path, small_landing):
    data_dir = tmp_path / "data"
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        sink = WarehouseSink(con, data_dir / "lake")
        for source in SOURCES:
            ingest_source(sink, small_landing, source, date(2025, 2, 10), quarantine_dir=tmp_path / "q")
        sink.export_load_records()
        loaded = con.execute("select count(*) from raw.ingested_files").fetchall()[0][0]
    tables = lake_tables(data_dir / "lake")
    assert set(tables) == {s.name for s in SOURCES} | {"ingested_files"}

    with duckdb.connect() as con:
        for name, table in tables.items():
            files = sorted(Path(table["location"]).rglob("*.parquet"))
            if not files:  # a source with no file yet (the sample has no adjustments) is an empty table
                continue
            partitioned = "business_day=" in str(files[0])
            assert partitioned == table["partitioned"], name
            written = {column: SPARK_NAME.get(kind, kind.replace(" ", "")) for column, kind, *_ in con.execute(
                f"describe select * from read_parquet('{files[0]}', hive_partitioning = false)").fetchall()}
            declared = _declared(table["columns"])
            if partitioned:
                assert list(declared)[-1] == "business_day", f"{name}: the partition column comes last"
                declared.pop("business_day")
            assert written == declared, f"lake {name}: files have {written}, Spark declares {declared}"

    load_records = data_dir / "lake" / "ingested_files" / "ingested_files.parquet"
    with duckdb.connect() as con:
        assert con.execute(f"select count(*) from '{load_records}'").fetchall()[0][0] == loaded
