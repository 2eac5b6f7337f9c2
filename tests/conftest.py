"""Shared fixtures: the dbt manifest is prepared once, each test gets its own data dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("DAGSTER_TELEMETRY_ENABLED", "false")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

# A small chain: enough members for a non-empty pyramid, enough days for returns,
# month-ends and a store that opens and one that closes.
SMALL_CHAIN = dict(members=400, days=120, stores=4, start=date(2025, 1, 1), seed=11)


def pytest_configure(config):
    """dagster-dbt needs the manifest at import time of the definitions: build it once."""
    project_file = REPO_ROOT / "orchestration" / "defs" / "transform" / "project.py"
    dagster_dbt = Path(sys.executable).with_name("dagster-dbt")
    env = {**os.environ, "PATH": f"{dagster_dbt.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(
        [str(dagster_dbt), "project", "prepare-and-package", "--file", str(project_file)],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise pytest.UsageError(f"preparing the dbt manifest failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory) -> Path:
    """A generated landing directory shared read-only by the tests."""
    from sample_chain import generate_landing

    out = tmp_path_factory.mktemp("landing")
    generate_landing(out, **SMALL_CHAIN)
    return out


@pytest.fixture
def data_env(tmp_path, monkeypatch, small_landing) -> Path:
    """LOYALTY_* pointed at a fresh data dir (and the shared landing dir)."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("LOYALTY_LANDING_DIR", str(small_landing))
    monkeypatch.delenv("LOYALTY_PROGRAM", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return data_dir


@pytest.fixture
def private_landing(tmp_path, small_landing) -> Path:
    """A copy of the landing dir that a test may modify."""
    target = tmp_path / "landing"
    shutil.copytree(small_landing, target)
    return target
