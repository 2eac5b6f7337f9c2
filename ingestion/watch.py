"""Which landing files are delivered, new or changed: the sensor's logic, without Dagster.

A file counts as delivered once its size and mtime are the same at two
consecutive looks (two sensor ticks), or as soon as a `<name>.done` marker sits
next to it. A delivered version (size, mtime) that differs from the version that
last triggered a run is checked by content hash: a new hash requests the file's
business day (snapshot files without a day request the latest partition); the
same hash (a `touch`, a copy) only updates the cursor. So each file version
triggers exactly once.

The cursor is JSON: {"seen": {file: [size, mtime_ns]}, "done": {file: [size, mtime_ns, sha256]}}.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ingestion.contract import SOURCES, Source
from ingestion.fingerprint import file_sha256
from ingestion.load import require_landing_dir

DONE_SUFFIX = ".done"


@dataclass
class WatchResult:
    partitions: dict[str, list[str]] = field(default_factory=dict)  # partition key -> changed files
    waiting: list[str] = field(default_factory=list)  # still being written (not stable yet)
    ignored: dict[str, str] = field(default_factory=dict)  # file -> why no run (outside the partitions)
    cursor: str = "{}"


def _files(landing_dir: Path) -> list[tuple[Path, str, Source]]:
    require_landing_dir(landing_dir)
    out = []
    for folder in sorted({s.folder for s in SOURCES}):
        base = landing_dir / folder
        if not base.is_dir():
            continue
        names = {p.name for p in base.iterdir()}
        for name in sorted(names):
            source = next((s for s in SOURCES if s.folder == folder and s.matches(name)), None)
            if source is not None:
                out.append((base / name, f"{folder}/{name}", source))
    return out


def scan_landing(
    landing_dir: Path, cursor: str | None, *, first_day: date, latest_day: date | None,
) -> WatchResult:
    """Compare the landing directory with the cursor; say which partitions to run."""
    state = json.loads(cursor) if cursor else {}
    seen: dict[str, list] = state.get("seen", {})
    done: dict[str, list] = state.get("done", {})
    result = WatchResult()
    new_seen: dict[str, list] = {}
    for path, label, source in _files(landing_dir):
        try:
            stat = path.stat()
        except FileNotFoundError:  # moved away between listing and stat
            continue
        version = [stat.st_size, stat.st_mtime_ns]
        new_seen[label] = version
        previous = done.get(label)
        if previous is not None and previous[:2] == version:
            continue  # this version already triggered (or was found unchanged)
        marker = path.with_name(path.name + DONE_SUFFIX).exists()
        if not marker and seen.get(label) != version:
            result.waiting.append(label)  # first look at this version: wait one tick
            continue
        sha = file_sha256(path)
        if previous is not None and previous[2] == sha:
            done[label] = [*version, sha]  # same content, new mtime: nothing to run
            continue
        day = source.business_day(path.name)
        if day is None:
            day = latest_day
        if day is None or day < first_day or (latest_day is not None and day > latest_day):
            result.ignored[label] = f"business day {day} is outside the partitions"
            if day is not None and latest_day is not None and day > latest_day:
                continue  # a future day: keep looking, it triggers once its partition exists
            done[label] = [*version, sha]
            continue
        result.partitions.setdefault(day.isoformat(), []).append(label)
        done[label] = [*version, sha]
    # files that disappeared are forgotten; if they come back they trigger again
    done = {k: v for k, v in done.items() if k in new_seen}
    result.cursor = json.dumps({"seen": new_seen, "done": done}, separators=(",", ":"), sort_keys=True)
    return result


def run_key(partition: str, files: list[str], cursor_done: dict) -> str:
    """Stable id of 'these file versions for this partition' (a retried tick does not run twice)."""
    digest = hashlib.sha256()
    for label in sorted(files):
        digest.update(f"{label}:{cursor_done.get(label)}".encode())
    return f"landing:{partition}:{digest.hexdigest()[:16]}"
