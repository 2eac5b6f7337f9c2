"""Write -> audit -> publish of one as-of day's extracts (no Dagster here).

Extracts are written to `outbox/.staging/<D>/`, audited by blocking checks,
then moved to `outbox/<D>/` with a rename, so a reader never sees a half
written folder and a failed audit leaves earlier days untouched.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb

from ingestion.fingerprint import file_sha256

TIER_LIST_SQL = """
SELECT member_id, card_no, tier, segment, trailing_spend, trailing_transactions,
       points_balance, as_of
FROM marts.tier_list
ORDER BY member_id
"""


# Each win-back priority (must_win_back first), the members most likely still alive first: the
# ones a call can still bring back; unscored members (null p_alive) last in their priority.
LAPSED_SQL = """
SELECT extract.member_id, extract.card_no, extract.name, extract.mobile, extract.status,
       extract.days_since_last_purchase, extract.last_purchase_date, extract.winback_priority,
       clv.p_alive, extract.segment, extract.favourite_category, extract.as_of
FROM restricted.lapsed_customers_extract AS extract
LEFT JOIN marts.member_clv AS clv USING (member_id)
ORDER BY CASE extract.winback_priority WHEN 'must_win_back' THEN 1 WHEN 'win_back' THEN 2 ELSE 3 END,
         clv.p_alive DESC NULLS LAST, extract.member_id
"""

UPGRADE_NUDGES_SQL = """
SELECT member_id, card_no, name, mobile, current_tier, next_tier, spend_gap, transactions_gap,
       segment, next_segment, segment_gap, as_of
FROM restricted.upgrade_nudges_extract
ORDER BY member_id
"""


def left_out_by_reason(con: duckdb.DuckDBPyConnection, extract: str) -> dict:
    """An outreach extract's members left out, by reason (restricted.<extract>_excluded, counts
    only), with their total: what the manifest records instead of listing them."""
    by_reason = dict(con.execute(
        f"SELECT reason, members FROM restricted.{extract}_excluded ORDER BY reason").fetchall())
    return {"by_reason": by_reason, "total": sum(by_reason.values())}


def staging_dir(outbox_dir: Path, as_of: str) -> Path:
    return outbox_dir / ".staging" / as_of


def write_csv(con: duckdb.DuckDBPyConnection, sql: str, target: Path) -> int:
    """Deterministic CSV (ordered rows, fixed formats): same data, same bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    escaped = str(target).replace("'", "''")
    # COPY returns the number of rows it wrote: no second run of the query to count them
    return con.execute(f"COPY ({sql}) TO '{escaped}' (FORMAT csv, HEADER true, DELIMITER ',')").fetchall()[0][0]


def stage_extract(con: duckdb.DuckDBPyConnection, sql: str, outbox_dir: Path, as_of: str,
                  name: str) -> tuple[Path, int]:
    """Write <name>.csv (and a Parquet copy) into the day's staging folder."""
    folder = staging_dir(outbox_dir, as_of)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    csv_path = folder / f"{name}.csv"
    rows = write_csv(con, sql, csv_path)
    escaped = str(folder / f"{name}.parquet").replace("'", "''")
    con.execute(f"COPY ({sql}) TO '{escaped}' (FORMAT parquet)")
    return csv_path, rows


def write_manifest(folder: Path, as_of: str, files: dict[str, int], checks_passed: list[str],
                   program_sha256: str, extra: dict | None = None) -> dict:
    manifest = {
        "as_of": as_of,
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "files": {name: {"rows": rows, "sha256": file_sha256(folder / name)}
                  for name, rows in sorted(files.items())},
        "checks_passed": sorted(checks_passed),
        "program_sha256": program_sha256,
        **(extra or {}),
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
    return manifest


def publish(folder: Path, outbox_dir: Path, as_of: str) -> Path:
    """Owner-only permissions, then one atomic swap into outbox/<as_of>: a reader, or a crash
    at any moment, finds either the previous complete folder or the new one, never none."""
    for path in folder.iterdir():
        path.chmod(0o600)
        _fsync(path)  # the files' bytes reach the disk before the folder becomes visible
    folder.chmod(0o700)
    target = outbox_dir / as_of
    retired = outbox_dir / ".staging" / f"{as_of}.replaced"
    if retired.exists() and not target.exists():
        os.rename(retired, target)  # put back what a crash in the fallback below left aside
    if not target.exists():
        os.rename(folder, target)
    else:
        try:
            _exchange(folder, target)
            previous = folder  # the staging path now holds the previous version
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
            # A filesystem (or OS) that cannot swap folders: move the old one aside first; a
            # crash between the two renames leaves it at `retired`, put back by the next publish.
            if retired.exists():
                shutil.rmtree(retired)
            os.rename(target, retired)
            os.rename(folder, target)
            previous = retired
        _fsync(outbox_dir)
        shutil.rmtree(previous)
    if retired.exists():
        shutil.rmtree(retired)
    _fsync(outbox_dir)  # the rename itself survives a power cut
    return target


RENAME_EXCHANGE = 2  # linux/fs.h
AT_FDCWD = -100


def _exchange(first: Path, second: Path) -> None:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE)."""
    renameat2 = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "renameat2 is not available in this C library")
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), str(first), None, str(second))


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
