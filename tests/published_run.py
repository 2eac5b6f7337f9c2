"""One published day in its own data dir and DAGSTER_HOME, run once per test session by
`loyalty run` in a subprocess (as a user would), shared by the BI-client and UI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from conftest import REPO_ROOT, SMALL_CHAIN

AS_OF = (SMALL_CHAIN["start"] + timedelta(days=SMALL_CHAIN["days"] - 1)).isoformat()  # the last day


@dataclass(frozen=True)
class PublishedRun:
    data_dir: Path
    dagster_home: Path
    landing: Path
    as_of: str

    @property
    def env(self) -> dict[str, str]:
        return {"LOYALTY_DATA_DIR": str(self.data_dir), "LOYALTY_LANDING_DIR": str(self.landing),
                "DAGSTER_HOME": str(self.dagster_home)}


_RUNS: dict[Path, PublishedRun] = {}


def published_run(tmp_path_factory, landing: Path, as_of: str = AS_OF, name: str = "published_run") -> PublishedRun:
    base = tmp_path_factory.getbasetemp() / name
    if base not in _RUNS:
        run = PublishedRun(base / "data", base / "dagster_home", landing, as_of)
        env = {**os.environ, **run.env, "DAGSTER_TELEMETRY_ENABLED": "false"}
        env.pop("LOYALTY_PROGRAM", None)
        env.pop("LOYALTY_SERVING_STORAGE_VERSION", None)
        done = subprocess.run([str(Path(sys.executable).with_name("loyalty")), "run", "--as-of", as_of],
                              cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        _RUNS[base] = run
    return _RUNS[base]
