"""Ingest landing files: discover, read, validate, hand to the sink.

A file is identified by its path relative to the landing directory; its
version by the sha256 of its bytes. Same name and hash: nothing to do. Same
name, new hash: a correction that replaces that file's rows. Same hash under
another name: rejected as a re-delivery, so nothing is counted twice.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from ingestion.contract import Source
from ingestion.reader import FileRejected, read_landing_file
from ingestion.sink import FileVersion, WarehouseSink
from ingestion.validate import FileContext, typed_keys, validate

# Sources whose row keys must be unique across all files (members are upserts).
CROSS_FILE_UNIQUE = ("pos_lines", "redemptions", "adjustments")


@dataclass
class LoadOutcome:
    file_label: str
    source: str
    business_day: date | None
    action: str  # loaded | corrected | unchanged | rejected
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str | None = None  # why a file was rejected whole
    reason_counts: dict[str, int] = field(default_factory=dict)
    first_bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (row, reasons)
    extra_columns: list[str] = field(default_factory=list)


def landing_files(landing_dir: Path, source: Source, up_to: date | None) -> list[tuple[Path, str, date | None]]:
    """Delivered files of a source for business days <= up_to, oldest first."""
    folder = landing_dir / source.folder
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not path.is_file() or not source.matches(path.name):
            continue
        day = source.business_day(path.name)
        if up_to is not None and day is not None and day > up_to:
            continue
        found.append((path, path.relative_to(landing_dir).as_posix(), day))
    return sorted(found, key=lambda f: (f[2] or date.min, f[1]))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def ingest_file(
    sink: WarehouseSink, path: Path, file_label: str, source: Source, business_day: date | None,
    *, quarantine_dir: Path, encoding: str = "auto", aliases: dict[str, str] | None = None,
) -> LoadOutcome:
    sha = sha256_of(path)
    version = FileVersion(file_label, source, business_day, sha, path.stat().st_size)
    current = sink.current_version(file_label)
    if current is not None and current.sha256 == sha:
        return LoadOutcome(file_label, source.name, business_day, "unchanged")
    replaces = current.sha256 if current is not None else None
    try:
        read = read_landing_file(path, source, file_label=file_label, encoding=encoding, aliases=aliases)
        # header-only files (a store that sold nothing) legitimately share content
        twin = sink.file_with_content(sha, other_than=file_label) if read.frame.height else None
        if twin is not None:
            raise FileRejected(f"{file_label}: same content as already loaded {twin}")
    except FileRejected as rejected:
        _keep_rejected_file(path, file_label, quarantine_dir, str(rejected))
        sink.replace_file(version, None, None, status="rejected", reason=str(rejected),
                          replaces_sha256=replaces)
        return LoadOutcome(file_label, source.name, business_day, "rejected", reason=str(rejected))
    match = re.fullmatch(source.file_pattern, path.name)
    ctx = FileContext(
        file_label=file_label, business_day=business_day,
        store_id=match.groupdict().get("store"),
        known_stores=sink.known_stores() if source.name in ("pos_lines", "redemptions", "members") else None,
    )
    if source.name in CROSS_FILE_UNIQUE:
        ctx.existing_keys = sink.existing_keys(
            source, typed_keys(read.frame, source), other_than=file_label)
    result = validate(read.frame, source, ctx)
    sink.replace_file(version, result.valid, result.quarantined, status="loaded", reason=None,
                      replaces_sha256=replaces)
    _write_quarantine_file(result.quarantined, file_label, quarantine_dir)
    return LoadOutcome(
        file_label, source.name, business_day, "corrected" if replaces else "loaded",
        rows_read=result.rows_read, rows_loaded=result.valid.height,
        rows_quarantined=result.quarantined.height, reason_counts=result.reason_counts,
        first_bad_rows=[(r, why) for r, why in result.quarantined.select("row_number", "reasons").head(5).iter_rows()],
        extra_columns=read.extra_columns,
    )


def ingest_source(
    sink: WarehouseSink, landing_dir: Path, source: Source, up_to: date | None, *,
    quarantine_dir: Path, encoding: str = "auto", aliases: dict[str, str] | None = None,
) -> list[LoadOutcome]:
    return [
        ingest_file(sink, path, label, source, day, quarantine_dir=quarantine_dir,
                    encoding=encoding, aliases=aliases)
        for path, label, day in landing_files(landing_dir, source, up_to)
    ]


def _restricted_dir(path: Path) -> Path:
    """Quarantine holds raw rows with PII: owner-only."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _keep_rejected_file(path: Path, file_label: str, quarantine_dir: Path, reason: str) -> None:
    target = _restricted_dir(quarantine_dir / "files" / Path(file_label).parent) / path.name
    shutil.copyfile(path, target)
    target.with_name(target.name + ".reason.txt").write_text(reason + "\n", encoding="utf-8")


def _write_quarantine_file(quarantined: pl.DataFrame, file_label: str, quarantine_dir: Path) -> None:
    """A readable per-file quarantine report (file, row, reasons, raw row)."""
    target = _restricted_dir(quarantine_dir / "rows" / Path(file_label).parent) / (
        Path(file_label).name + ".quarantine.csv")
    if quarantined.height == 0:
        target.unlink(missing_ok=True)
        return
    quarantined.select(pl.lit(file_label).alias("file"), "row_number", "reasons", "raw_row").write_csv(target)
