"""Where validated rows go: the one seam between ingestion and storage.

`WarehouseSink` writes a file's rows, its quarantined rows and its load record
to DuckDB in one transaction, and a Parquet copy per landed file under
`<data_dir>/lake/<source>/business_day=YYYY-MM-DD/` so Spark can read the same
validated raw data. Another engine means another class with these methods.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path

import duckdb
import polars as pl

from ingestion.contract import LINEAGE_COLUMNS, Source, create_raw_schema


@dataclass(frozen=True)
class FileVersion:
    file_label: str  # path relative to the landing directory
    source: Source
    business_day: date | None
    sha256: str
    size_bytes: int


@dataclass(frozen=True)
class LoadedVersion:
    sha256: str
    status: str


class WarehouseSink:
    def __init__(self, con: duckdb.DuckDBPyConnection, lake_dir: Path):
        self.con = con
        self.lake_dir = lake_dir
        create_raw_schema(con)

    # -- what is there already -------------------------------------------------
    def current_version(self, file_label: str) -> LoadedVersion | None:
        row = self._first_row(
            "SELECT sha256, status FROM raw.ingested_files WHERE file_name = ? "
            "AND status <> 'superseded' ORDER BY loaded_at DESC LIMIT 1", [file_label])
        return LoadedVersion(*row) if row else None

    def file_with_content(self, sha256: str, other_than: str) -> str | None:
        row = self._first_row(
            "SELECT file_name FROM raw.ingested_files WHERE sha256 = ? AND file_name <> ? "
            "AND status = 'loaded' ORDER BY file_name LIMIT 1", [sha256, other_than])
        return row[0] if row else None

    def _first_row(self, sql: str, params: list) -> tuple | None:
        # fetchall drains the result: DuckDB 2 refuses new work on a half-read one
        rows = self.con.execute(sql, params).fetchall()
        return rows[0] if rows else None

    def known_stores(self) -> frozenset[str] | None:
        rows = self.con.execute("SELECT DISTINCT store_id FROM raw.stores").fetchall()
        return frozenset(r[0] for r in rows) if rows else None

    def existing_keys(self, source: Source, incoming: pl.DataFrame, other_than: str) -> pl.DataFrame:
        """Keys of `incoming` already loaded from other files of the same source."""
        key = list(source.key)
        candidates = incoming.select(key).drop_nulls().unique()
        if candidates.height == 0:
            return candidates
        self.con.register("incoming_keys", candidates.to_arrow())
        try:
            cols = ", ".join(key)
            return pl.from_arrow(self.con.sql(
                f"SELECT DISTINCT {cols} FROM {source.table} "
                f"WHERE ({cols}) IN (SELECT ({cols}) FROM incoming_keys) AND _source_file <> $file",
                params={"file": other_than},
            ).to_arrow_table())
        finally:
            self.con.unregister("incoming_keys")

    # -- writing ------------------------------------------------------------------
    def replace_file(
        self, version: FileVersion, valid: pl.DataFrame | None, quarantined: pl.DataFrame | None,
        *, status: str, reason: str | None, replaces_sha256: str | None,
    ) -> None:
        """Atomically replace everything `version.file_label` loaded before."""
        source = version.source
        valid = valid if valid is not None else pl.DataFrame()
        quarantined = quarantined if quarantined is not None else pl.DataFrame()
        columns = [c.name for c in source.columns + LINEAGE_COLUMNS]
        parquet_tmp = self._write_parquet_tmp(version, valid) if valid.height else None
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM {source.table} WHERE _source_file = ?", [version.file_label])
            con.execute("DELETE FROM raw.quarantined_rows WHERE file_name = ?", [version.file_label])
            con.execute(
                "UPDATE raw.ingested_files SET status = 'superseded' "
                "WHERE file_name = ? AND status <> 'superseded'", [version.file_label])
            if valid.height:
                con.register("incoming_rows", valid.select(columns).to_arrow())
                con.execute(f"INSERT INTO {source.table} ({', '.join(columns)}) "
                            f"SELECT {', '.join(columns)} FROM incoming_rows")
                con.unregister("incoming_rows")
            if quarantined.height:
                con.register("incoming_quarantine", quarantined.to_arrow())
                con.execute(
                    "INSERT INTO raw.quarantined_rows "
                    "SELECT ?, ?, ?, ?, row_number, reasons, raw_row FROM incoming_quarantine",
                    [version.file_label, version.sha256, source.name, version.business_day])
                con.unregister("incoming_quarantine")
            con.execute(
                "INSERT INTO raw.ingested_files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [version.file_label, source.name, version.business_day, version.sha256,
                 version.size_bytes, status, reason, valid.height + quarantined.height,
                 valid.height, quarantined.height, replaces_sha256,
                 datetime.now(timezone.utc).replace(tzinfo=None)])
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            if parquet_tmp is not None:
                parquet_tmp.unlink(missing_ok=True)
            raise
        self._publish_parquet(version, parquet_tmp)

    # -- the Parquet copy ---------------------------------------------------------
    def parquet_path(self, version: FileVersion) -> Path:
        folder = self.lake_dir / version.source.name
        if version.business_day is not None:
            folder = folder / f"business_day={version.business_day.isoformat()}"
        return folder / (Path(version.file_label).name.split(".")[0] + ".parquet")

    def _write_parquet_tmp(self, version: FileVersion, valid: pl.DataFrame) -> Path:
        target = self.parquet_path(version)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        valid.drop("business_day").write_parquet(tmp)
        return tmp

    def _publish_parquet(self, version: FileVersion, tmp: Path | None) -> None:
        target = self.parquet_path(version)
        if tmp is None:
            target.unlink(missing_ok=True)
        else:
            os.replace(tmp, target)
