"""Restricted data (member PII, raw rows) is owner-only wherever it lives, whatever the umask.

Explicit modes for what we create ourselves (0700 folders, 0600 files), and an owner-only
umask around code that makes files we do not name: DuckDB's write-ahead log and spill files
(`warehouse.duckdb.wal`, `warehouse.duckdb.tmp/`) appear and vanish during a write, and a
child process (dbt) inherits the umask it was started with.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
_UMASK = 0o077


@contextmanager
def owner_only_umask() -> Iterator[None]:
    """Files and folders created inside (by this process or a child started inside) are owner-only."""
    previous = os.umask(_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def make_owner_only(path: Path) -> None:
    """0700 for a folder, 0600 for a file; nothing if it is not there."""
    try:
        path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
    except FileNotFoundError:
        pass


def make_tree_owner_only(root: Path) -> None:
    """`root` and everything below it (restricted data written before this rule existed)."""
    if not root.exists():
        return
    make_owner_only(root)
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            make_owner_only(Path(folder) / name)


def owner_only_dir(path: Path, root: Path) -> Path:
    """Create `path` with every missing folder from `root` down as 0700 (mkdir -p would give
    the parents the umask's mode), and make the existing ones owner-only too."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    below = path.relative_to(root)
    for folder in (below, *below.parents):  # ..., then "." (root itself)
        make_owner_only(root / folder)
    return path
