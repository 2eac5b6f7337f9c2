"""Helpers of the tests that start real processes or copy the sources."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def stop_process_group(process: subprocess.Popen, timeout: float = 30) -> None:
    """SIGTERM to the group the process leads (servers start children), SIGKILL after `timeout`,
    and SIGKILL to any child that outlived its leader."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def copy_sources_without_manifest(target: Path) -> Path:
    """The sources as `pip install .` leaves them: no dbt manifest prepared."""
    for folder in ("orchestration", "ingestion", "quality", "dbt_project"):
        shutil.copytree(REPO / folder, target / folder,
                        ignore=shutil.ignore_patterns("target", "logs", "__pycache__", "dbt_packages"))
    shutil.copy(REPO / "pyproject.toml", target / "pyproject.toml")  # dagster finds the defs folder by it
    return target
