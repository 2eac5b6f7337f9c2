"""The serving copy's tables as Parquet, one folder per mart, swapped in whole (no Dagster here).

Readers use `serving/parquet/<mart>/**/*.parquet`. `serving/parquet` is a symbolic link to one
complete version, `serving/parquet.versions/<stamp>/`: a run writes a new version beside the
published one and replaces the link with a rename, so a reader sees either the previous run's
folders or the new ones, never a half-written folder. The previous version is kept until the
next run, so a reader that resolved the link just before a swap can finish reading it.

A table the serving copy kept as it was (same content fingerprint) hard-links the published
version's files when that version mirrors the same build.

Tables with a `business_day` column are written one folder per day (`business_day=YYYY-MM-DD/`,
Hive layout: readers get the column from the path). A version written after the one it
follows writes only the re-copied days and hard-links the other days' files from that version:
files are never changed once written, so two versions can share them, and a daily run writes
the day it brings instead of the whole 50M-line fact.
"""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb

PARQUET_LINK = "parquet"
VERSIONS_DIR = "parquet.versions"
BUILD_FILE = "_build.json"  # the warehouse build a version mirrors (its day folders are that build's)
DAY_COLUMN = "business_day"
# The published version and the one before it (for readers that resolved the link earlier).
VERSIONS_KEPT = 2


def write_parquet_version(con: duckdb.DuckDBPyConnection, database: str, serving_dir: Path,
                          build: dict | None, previous_build: dict | None = None,
                          days_recopied: dict[str, list] | None = None,
                          tables_unchanged: list[str] | None = None) -> Path:
    """Every table of `database`.main under <version>/<table>/; returns the version folder.

    days_recopied (table -> business days) lists what changed since previous_build: a day table in
    it reuses the published version's other days when that version mirrors previous_build;
    a table in tables_unchanged reuses that version's files."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    version = serving_dir / VERSIONS_DIR / f"{stamp}-{os.getpid()}"
    version.mkdir(parents=True)
    published = published_version(serving_dir)
    reusable = published if (published is not None and previous_build is not None
                             and _mirrored_build(published) == previous_build) else None
    tables = con.execute(
        "SELECT t.table_name, bool_or(c.column_name = ?) FROM duckdb_tables() t "
        "JOIN duckdb_columns() c USING (database_name, schema_name, table_name) "
        "WHERE t.database_name = ? AND t.schema_name = 'main' GROUP BY 1 ORDER BY 1",
        [DAY_COLUMN, database]).fetchall()
    for table, by_day in tables:
        source = f'"{database}".main."{table}"'
        if not by_day:
            previous_files = reusable / table if reusable is not None else None
            if table in (tables_unchanged or []) and previous_files is not None and previous_files.is_dir():
                _link_files(previous_files, version / table)
            else:
                _copy(con, f"SELECT * FROM {source}", version / table)
            continue
        changed = (days_recopied or {}).get(table)
        previous_days = reusable / table if reusable is not None else None
        if changed is not None and previous_days is not None and previous_days.is_dir():
            _link_days(previous_days, version / table, skip={str(day) for day in changed})
            _copy_days(con, source, version / table, days=[str(day) for day in changed])
        else:
            _copy_days(con, source, version / table, days=None)
    (version / BUILD_FILE).write_text(json.dumps(build, sort_keys=True))
    return version


def _copy(con: duckdb.DuckDBPyConnection, select: str, folder: Path) -> None:
    """COPY a query to a folder, in files of at most ~256 MB (an empty table still gets one file:
    readers find its schema)."""
    escaped = str(folder).replace("'", "''")
    con.execute(f"COPY ({select}) TO '{escaped}' "
                "(FORMAT parquet, FILE_SIZE_BYTES '256MB', FILENAME_PATTERN 'part_{i}')")


def _copy_days(con: duckdb.DuckDBPyConnection, source: str, folder: Path, days: list[str] | None) -> None:
    """COPY the given business days of a day table (None: all of them) to one folder per day.

    One COPY per calendar month of days: a partitioned write keeps a file open per day, and one
    over a whole year (380 day folders, 51M lines at 1M members) took 48 s against 25 s by month.
    """
    folder.mkdir(exist_ok=True)  # a day table with no rows still gets its folder
    if days is None:
        months = con.execute(
            f"SELECT DISTINCT CAST(date_trunc('month', {DAY_COLUMN}) AS DATE) AS first_day, "
            f"CAST(date_trunc('month', {DAY_COLUMN}) + INTERVAL 1 MONTH AS DATE) FROM {source} "
            "ORDER BY 1").fetchall()
        chunks = [(f"{DAY_COLUMN} >= ? AND {DAY_COLUMN} < ?", [first_day, next_first_day])
                  for first_day, next_first_day in months if first_day is not None]
        if any(first_day is None for first_day, _ in months):  # a row with no day: its own folder
            chunks.append((f"{DAY_COLUMN} IS NULL", []))
    else:
        by_month: dict[str, list[str]] = {}
        for day in sorted(days):
            by_month.setdefault(day[:7], []).append(day)
        chunks = [(f"{DAY_COLUMN} IN ({', '.join('?' for _ in month_days)})", month_days)
                  for month_days in by_month.values()]
    escaped = str(folder).replace("'", "''")
    for where, parameters in chunks:
        # OVERWRITE_OR_IGNORE: the folder holds the other chunks' days and the linked days (none
        # of them is written again)
        con.execute(f"COPY (SELECT * FROM {source} WHERE {where}) TO '{escaped}' (FORMAT parquet, "
                    f"PARTITION_BY ({DAY_COLUMN}), OVERWRITE_OR_IGNORE, FILENAME_PATTERN 'part_{{i}}')",
                    parameters)


def _link_days(previous: Path, folder: Path, skip: set[str]) -> None:
    """Hard-link the day folders of a previous version, except the days in skip."""
    folder.mkdir(exist_ok=True)
    for day_folder in previous.iterdir():
        if not day_folder.is_dir() or day_folder.name.split("=", 1)[-1] in skip:
            continue
        _link_files(day_folder, folder / day_folder.name)


def _link_files(previous: Path, folder: Path) -> None:
    """Hard-link the files of a previous version's folder into a new folder."""
    folder.mkdir()
    for file in previous.iterdir():
        os.link(file, folder / file.name)


def _mirrored_build(version: Path) -> dict | None:
    try:
        return json.loads((version / BUILD_FILE).read_text())
    except (OSError, ValueError):
        return None


def published_build(serving_dir: Path) -> dict | None:
    """The build the published version mirrors (None before the first run or if unknown)."""
    version = published_version(serving_dir)
    return _mirrored_build(version) if version is not None else None


def publish_parquet_version(serving_dir: Path, version: Path) -> Path:
    """Point serving/parquet at `version` (one rename) and drop versions no reader needs."""
    link = serving_dir / PARQUET_LINK
    if link.is_dir() and not link.is_symlink():
        # A data dir copied without keeping links (cp -r, copytree) has a real folder here: it
        # becomes the oldest version (a rename cannot replace a folder by a link in one step).
        os.rename(link, serving_dir / VERSIONS_DIR / f"0-copied-{os.getpid()}")
    next_link = serving_dir / f"{PARQUET_LINK}.next-{os.getpid()}"
    next_link.unlink(missing_ok=True)
    next_link.symlink_to(version.relative_to(serving_dir), target_is_directory=True)
    os.replace(next_link, link)
    older = sorted((path for path in (serving_dir / VERSIONS_DIR).iterdir() if path.name < version.name),
                   key=lambda path: path.name)
    for old in older[:len(older) - (VERSIONS_KEPT - 1)]:
        shutil.rmtree(old, ignore_errors=True)
    return link


def published_version(serving_dir: Path) -> Path | None:
    """The version folder serving/parquet points at (None before the first run)."""
    link = serving_dir / PARQUET_LINK
    return link.resolve() if link.is_symlink() else None
