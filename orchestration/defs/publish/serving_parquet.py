"""The serving copy's tables as Parquet, one folder per mart, swapped in whole (no Dagster here).

Readers use `serving/parquet/<mart>/*.parquet`. `serving/parquet` is a symbolic link to one
complete version, `serving/parquet.versions/<stamp>/`: a run writes a new version beside the
published one and replaces the link with a rename, so a reader sees either the previous run's
folders or the new ones, never a half-written folder. The previous version is kept until the
next run, so a reader that resolved the link just before a swap can finish reading it.
"""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb

PARQUET_LINK = "parquet"
VERSIONS_DIR = "parquet.versions"
# The published version and the one before it (for readers that resolved the link earlier).
VERSIONS_KEPT = 2


def write_parquet_version(con: duckdb.DuckDBPyConnection, database: str, serving_dir: Path) -> Path:
    """Every table of `database`.main as <version>/<table>/part_<i>.parquet; returns the version folder."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    version = serving_dir / VERSIONS_DIR / f"{stamp}-{os.getpid()}"
    version.mkdir(parents=True)
    tables = con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                         "AND schema_name = 'main' ORDER BY table_name", [database]).fetchall()
    for (table,) in tables:
        folder = str(version / table).replace("'", "''")
        # Files of at most ~256 MB; an empty table still gets one file (readers find its schema).
        con.execute(f'COPY (SELECT * FROM "{database}".main."{table}") TO \'{folder}\' '
                    "(FORMAT parquet, FILE_SIZE_BYTES '256MB', FILENAME_PATTERN 'part_{i}')")
    return version


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
