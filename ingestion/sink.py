"""Where validated rows go: the one seam between ingestion and storage.

`WarehouseSink` writes a *batch* of files - their rows, quarantined rows, kept-aside
extra cells and load records - to DuckDB in one transaction, then refreshes the
Parquet copy of the touched business days under
`<data_dir>/lake/<source>/business_day=YYYY-MM-DD/` so Spark can read the same
validated raw data. Another engine means another class with
these methods. The lake of a restricted source (members: PII) is owner-only and
carries only the columns the models read (`Source.lake_columns`).
"""

from __future__ import annotations

import os
import shutil
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import duckdb
import polars as pl

from ingestion.contract import LINEAGE_COLUMNS, SOURCES, Source, create_raw_schema
from ingestion.owner_only import make_tree_owner_only, owner_only_umask


@dataclass(frozen=True)
class FileVersion:
    file_label: str  # path relative to the landing directory
    source: Source
    business_day: date | None
    sha256: str
    size_bytes: int
    mtime_ns: int | None = None


@dataclass(frozen=True)
class LoadedVersion:
    sha256: str
    status: str
    size_bytes: int | None = None
    mtime_ns: int | None = None


@dataclass
class FileRecord:
    """One file's line in raw.ingested_files, written with its rows."""
    version: FileVersion
    status: str  # loaded | rejected
    reason: str | None = None
    replaces_sha256: str | None = None
    had_record: bool = False  # earlier rows/records of this name must be replaced
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    encoding: str | None = None
    extra_columns: list[str] = field(default_factory=list)


INGESTED_FILES_COLUMNS = (
    "file_name", "source", "business_day", "sha256", "size_bytes", "status", "reason",
    "rows_read", "rows_loaded", "rows_quarantined", "replaces_sha256", "loaded_at",
    "encoding", "extra_columns", "mtime_ns",
)


def _fault_point(stage: str) -> None:
    """No-op; tests replace it to crash the process at a given stage of a load."""


def current_versions(con: duckdb.DuckDBPyConnection, source: Source) -> dict[str, LoadedVersion]:
    """file_name -> its current (not superseded) version, for one source (reads only)."""
    rows = con.execute(
        "SELECT file_name, sha256, status, size_bytes, mtime_ns FROM raw.ingested_files "
        "WHERE source = ? AND status <> 'superseded' ORDER BY loaded_at", [source.name]).fetchall()
    return {name: LoadedVersion(sha, status, size, mtime) for name, sha, status, size, mtime in rows}


class WarehouseSink:
    def __init__(self, con: duckdb.DuckDBPyConnection, lake_dir: Path):
        self.con = con
        self.lake_dir = lake_dir
        create_raw_schema(con)
        for source in SOURCES:  # including files written before the lake was restricted
            if source.restricted:
                make_tree_owner_only(lake_dir / source.name)

    # -- what is there already -------------------------------------------------
    def current_version(self, file_label: str) -> LoadedVersion | None:
        row = self._first_row(
            "SELECT sha256, status, size_bytes, mtime_ns FROM raw.ingested_files WHERE file_name = ? "
            "AND status <> 'superseded' ORDER BY loaded_at DESC LIMIT 1", [file_label])
        return LoadedVersion(*row) if row else None

    def current_versions(self, source: Source) -> dict[str, LoadedVersion]:
        """file_name -> its current (not superseded) version, for one source."""
        return current_versions(self.con, source)

    def loaded_contents(self) -> dict[str, str]:
        """sha256 -> a file name, for every loaded file with at least one row."""
        rows = self.con.execute(
            "SELECT sha256, min(file_name) FROM raw.ingested_files "
            "WHERE status = 'loaded' AND rows_read > 0 GROUP BY sha256").fetchall()
        return dict(rows)

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

    def has_rows(self, table: str) -> bool:
        return bool(self.con.execute(f"SELECT EXISTS (SELECT 1 FROM {table})").fetchall()[0][0])

    def existing_keys(
        self, source: Source, incoming: pl.DataFrame, other_than: str | list[str],
        days: tuple[date, date] | None = None, window_days: int = 0,
    ) -> pl.DataFrame:
        """Keys of `incoming` already loaded from other files of the same source.

        With `days`, only rows of business days within `window_days` of that range
        are looked at (the table is in day order, so DuckDB skips the rest).
        """
        key = list(source.key)
        candidates = incoming.select(key).drop_nulls().unique()
        if candidates.height == 0:
            return candidates
        others = [other_than] if isinstance(other_than, str) else list(other_than)
        cols = ", ".join(key)
        where = ""
        params: dict = {"files": others}
        if days is not None:
            where = "AND t.business_day BETWEEN $lo AND $hi"
            params |= {"lo": days[0] - timedelta(days=window_days), "hi": days[1] + timedelta(days=window_days)}
        self.con.register("incoming_keys", candidates.to_arrow())
        try:
            return pl.from_arrow(self.con.sql(
                f"SELECT DISTINCT {', '.join('k.' + k for k in key)} FROM {source.table} t "
                f"JOIN incoming_keys k USING ({cols}) "
                f"WHERE NOT list_contains($files, t._source_file) {where}",
                params=params,
            ).to_arrow_table())
        finally:
            self.con.unregister("incoming_keys")

    def keys_of_days(self, source: Source, first: date, last: date) -> pl.DataFrame:
        """Key columns, business_day and _source_file of the rows of these days."""
        cols = ", ".join(source.key)
        return pl.from_arrow(self.con.sql(
            f"SELECT {cols}, business_day, _source_file FROM {source.table} "
            f"WHERE business_day BETWEEN $lo AND $hi", params={"lo": first, "hi": last}).to_arrow_table())

    def card_states(self, incoming: pl.DataFrame) -> pl.DataFrame:
        """For (_file, _row_number, card_no, redeemed_at): the card's latest member row
        with updated_at <= redeemed_at -> activated, status, found."""
        rows = incoming.drop_nulls(["card_no", "redeemed_at"])
        schema = {"_file": pl.UInt32, "_row_number": pl.UInt32, "_card_activated": pl.Boolean,
                  "_card_status": pl.String, "_card_found": pl.Boolean}
        if rows.height == 0:
            return pl.DataFrame(schema=schema)
        self.con.register("incoming_cards", rows.to_arrow())
        try:
            found = pl.from_arrow(self.con.sql(
                """
                WITH m AS (SELECT card_no, updated_at, activated, status FROM raw.members
                           WHERE card_no IN (SELECT card_no FROM incoming_cards))
                SELECT r._file, r._row_number, m.activated AS _card_activated,
                       m.status AS _card_status, m.card_no IS NOT NULL AS _card_found
                FROM incoming_cards r ASOF LEFT JOIN m
                  ON r.card_no = m.card_no AND r.redeemed_at >= m.updated_at
                """).to_arrow_table())
        finally:
            self.con.unregister("incoming_cards")
        return found.cast(schema)

    # -- writing ------------------------------------------------------------------
    def write_batch(
        self, source: Source, records: list[FileRecord], valid: pl.DataFrame | None,
        quarantined: pl.DataFrame | None, extra: pl.DataFrame | None = None,
    ) -> None:
        """Atomically, for every file of the batch: replace whatever that name loaded
        before, insert its valid rows, quarantined rows, extra cells and load record.

        `valid` has the contract columns + lineage columns; `quarantined` has
        file_name, row_number, reasons, raw_row; `extra` file_name, row_number, cells.
        """
        columns = [c.name for c in source.columns + LINEAGE_COLUMNS]
        replaced = [r.version.file_label for r in records if r.had_record]
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        files = pl.DataFrame(
            {
                "file_name": [r.version.file_label for r in records],
                "source": [source.name] * len(records),
                "business_day": [r.version.business_day for r in records],
                "sha256": [r.version.sha256 for r in records],
                "size_bytes": [r.version.size_bytes for r in records],
                "status": [r.status for r in records],
                "reason": [r.reason for r in records],
                "rows_read": [r.rows_read for r in records],
                "rows_loaded": [r.rows_loaded for r in records],
                "rows_quarantined": [r.rows_quarantined for r in records],
                "replaces_sha256": [r.replaces_sha256 for r in records],
                "loaded_at": [now] * len(records),
                "encoding": [r.encoding for r in records],
                "extra_columns": [_json_list(r.extra_columns) for r in records],
                "mtime_ns": [r.version.mtime_ns for r in records],
            },
            schema={"file_name": pl.String, "source": pl.String, "business_day": pl.Date,
                    "sha256": pl.String, "size_bytes": pl.Int64, "status": pl.String,
                    "reason": pl.String, "rows_read": pl.Int64, "rows_loaded": pl.Int64,
                    "rows_quarantined": pl.Int64, "replaces_sha256": pl.String,
                    "loaded_at": pl.Datetime("us"), "encoding": pl.String,
                    "extra_columns": pl.String, "mtime_ns": pl.Int64},
        )
        con = self.con
        batch_days = sorted({r.version.business_day for r in records if r.version.business_day is not None})
        # days with no rows yet get their lake file straight from `valid` (no read-back)
        fresh: set[date] = set()
        if batch_days and valid is not None and valid.height:
            had = con.execute(
                f"SELECT DISTINCT business_day FROM {source.table} WHERE business_day BETWEEN ? AND ? "
                f"AND list_contains(?, business_day)", [batch_days[0], batch_days[-1], batch_days]).fetchall()
            fresh = set(batch_days) - {d for (d,) in had}
        con.execute("BEGIN TRANSACTION")
        try:
            if replaced:
                for table in (source.table,):
                    con.execute(f"DELETE FROM {table} WHERE list_contains(?, _source_file)", [replaced])
                for table in ("raw.quarantined_rows", "raw.extra_columns"):
                    con.execute(f"DELETE FROM {table} WHERE list_contains(?, file_name)", [replaced])
                con.execute(
                    "UPDATE raw.ingested_files SET status = 'superseded' "
                    "WHERE list_contains(?, file_name) AND status <> 'superseded'", [replaced])
            if valid is not None and valid.height:
                con.register("incoming_rows", valid.select(columns).to_arrow(compat_level=pl.CompatLevel.newest()))
                con.execute(f"INSERT INTO {source.table} ({', '.join(columns)}) "
                            f"SELECT {', '.join(columns)} FROM incoming_rows")
                con.unregister("incoming_rows")
            for table, frame in (("raw.quarantined_rows", quarantined), ("raw.extra_columns", extra)):
                if frame is None or not frame.height:
                    continue
                value = "reasons, raw_row" if table == "raw.quarantined_rows" else "cells"
                con.register("incoming_side", frame.to_arrow())
                con.register("incoming_files", files.select("file_name", "sha256", "source", "business_day").to_arrow())
                con.execute(
                    f"INSERT INTO {table} SELECT f.file_name, f.sha256, f.source, f.business_day, "
                    f"s.row_number, {', '.join('s.' + v.strip() for v in value.split(','))} "
                    f"FROM incoming_side s JOIN incoming_files f USING (file_name)")
                con.unregister("incoming_side")
                con.unregister("incoming_files")
            _fault_point("rows_inserted")
            con.register("incoming_records", files.to_arrow())
            con.execute(
                f"INSERT INTO raw.ingested_files ({', '.join(INGESTED_FILES_COLUMNS)}) "
                f"SELECT {', '.join(INGESTED_FILES_COLUMNS)} FROM incoming_records")
            con.unregister("incoming_records")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        with owner_only_umask() if source.restricted else nullcontext():
            if fresh:
                self._write_fresh_days(source, valid, fresh)
            self.refresh_lake(source, {r.version.business_day for r in records} - fresh)

    def export_load_records(self) -> None:
        """The load records beside the lake (`ingested_files/ingested_files.parquet`), written before
        each Spark build: its record of what changed reads them as DuckDB's models read
        raw.ingested_files."""
        target = self.lake_dir / "ingested_files" / "ingested_files.parquet"
        self._copy_to(f"SELECT {', '.join(INGESTED_FILES_COLUMNS)} FROM raw.ingested_files", target)

    def replace_file(
        self, version: FileVersion, valid: pl.DataFrame | None, quarantined: pl.DataFrame | None,
        *, status: str, reason: str | None, replaces_sha256: str | None,
    ) -> None:
        """Atomically replace everything `version.file_label` loaded before (one file)."""
        valid = valid if valid is not None and valid.height else None
        quarantined = quarantined if quarantined is not None and quarantined.height else None
        n_valid = valid.height if valid is not None else 0
        n_bad = quarantined.height if quarantined is not None else 0
        record = FileRecord(version, status, reason, replaces_sha256, had_record=True,
                            rows_read=n_valid + n_bad, rows_loaded=n_valid, rows_quarantined=n_bad)
        if quarantined is not None:
            quarantined = quarantined.select(pl.lit(version.file_label).alias("file_name"),
                                             "row_number", "reasons", "raw_row")
        self.write_batch(version.source, [record], valid, quarantined)

    # -- the Parquet copy ---------------------------------------------------------
    def parquet_path(self, version: FileVersion) -> Path:
        """The lake file holding this file's rows (one file per source and business day)."""
        return self.lake_path(version.source, version.business_day)

    def lake_path(self, source: Source, day: date | None) -> Path:
        folder = self.lake_dir / source.name
        if day is None:
            return folder / f"{source.name}.parquet"
        return folder / f"business_day={day.isoformat()}" / f"{source.name}_{day:%Y%m%d}.parquet"

    def _write_fresh_days(self, source: Source, valid: pl.DataFrame, days: set[date]) -> None:
        """Lake files of days whose only rows are this batch's, written from polars."""
        columns = [c for c in source.lake_column_defs if c.name != "business_day"]
        types = {"VARCHAR": pl.String, "INTEGER": pl.Int32, "BIGINT": pl.Int64, "DATE": pl.Date,
                 "TIMESTAMP": pl.Datetime("us"), "BOOLEAN": pl.Boolean}
        rows = valid.filter(pl.col("business_day").is_in(sorted(days)))
        for (day,), part in rows.partition_by("business_day", as_dict=True, maintain_order=True).items():
            target = self.lake_path(source, day)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            part.select(pl.col(c.name).cast(types.get(c.sql_type) or pl.Decimal(*map(int, c.sql_type[8:-1].split(","))))
                        for c in columns).write_parquet(tmp, compression="snappy")
            os.replace(tmp, target)

    def refresh_lake(self, source: Source, days: set[date | None]) -> None:
        """Rewrite the lake files of these days from the committed warehouse rows.

        Each file is written to a temporary name and renamed into place, so a
        reader sees the old or the new day, never half of it. A day without rows
        has no file.
        """
        columns = ", ".join(c.name for c in source.lake_column_defs if c.name != "business_day")
        order = ""  # rows are stored in file and row order; a sort would cost more than the write
        if None in days:
            self._copy_to(f"SELECT {columns} FROM {source.table} WHERE business_day IS NULL {order}",
                          self.lake_path(source, None))
        dated = sorted(d for d in days if d is not None)
        if not dated:
            return
        staging = self.lake_dir / source.name / f".refresh.{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.parent.mkdir(parents=True, exist_ok=True)
        escaped = str(staging).replace("'", "''")
        self.con.execute(
            f"COPY (SELECT {columns}, business_day FROM {source.table} "
            f"WHERE business_day BETWEEN DATE '{dated[0]}' AND DATE '{dated[-1]}' "
            f"AND list_contains($days, business_day) {order}) "
            f"TO '{escaped}' (FORMAT parquet, PARTITION_BY (business_day), FILENAME_PATTERN 'part')",
            {"days": dated}).fetchall()
        try:
            for day in dated:
                written = list((staging / f"business_day={day.isoformat()}").glob("*.parquet"))
                target = self.lake_path(source, day)
                if written:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(written[0], target)
                else:
                    target.unlink(missing_ok=True)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _copy_to(self, query: str, target: Path) -> None:
        if not self.con.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]:
            target.unlink(missing_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        escaped = str(tmp).replace("'", "''")
        self.con.execute(f"COPY ({query}) TO '{escaped}' (FORMAT parquet)").fetchall()
        os.replace(tmp, target)


def _json_list(items: list[str]) -> str | None:
    import json

    return json.dumps(items, ensure_ascii=False) if items else None
