"""The dbt manifest dagster-dbt reads when the definitions load, prepared with this
environment's dbt: an unactivated virtualenv has no `dbt` on PATH, and dagster-dbt's own
preparer (DbtProject.prepare_if_dev under `dagster dev`) looks for it there."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dagster._utils import run_with_concurrent_update_guard
from dagster_dbt import DbtCliResource, DbtProject

# `dbt parse` of this project takes seconds; a machine busy with other work may take minutes.
PREPARE_TIMEOUT_SECONDS = 600


def dbt_executable() -> str:
    """dbt from this interpreter's environment, so an unactivated virtualenv works."""
    for folder in (Path(sys.executable).parent, Path(sys.prefix) / "bin"):
        if (folder / "dbt").exists():
            return str(folder / "dbt")
    return shutil.which("dbt") or "dbt"


def prepare_manifest(project: DbtProject) -> None:
    """`dbt parse` into the project's target folder, as `dagster-dbt project prepare-and-package`."""
    DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
        ["parse", "--quiet"], target_path=project.target_path).wait()


def prepare_if_dev(project: DbtProject) -> None:
    """DbtProject.prepare_if_dev with this environment's dbt: re-parse under `dagster dev`."""
    if os.getenv("DAGSTER_IS_DEV_CLI"):
        run_with_concurrent_update_guard(project.manifest_path, prepare_manifest, project=project,
                                         guard_timeout_seconds=PREPARE_TIMEOUT_SECONDS)


def newest_source_change(project_dir: Path) -> float:
    """The latest modification time of the files dbt parses (models, macros, tests, the
    project file); not its target or log folders."""
    newest = (project_dir / "dbt_project.yml").stat().st_mtime
    for folder in ("models", "macros", "tests", "seeds", "snapshots", "analyses", "program"):
        for path in (project_dir / folder).rglob("*"):
            if path.is_file():
                newest = max(newest, path.stat().st_mtime)
    return newest


def ensure_manifest(project: DbtProject) -> bool:
    """Prepare the manifest if it is missing (`pip install .` without `make manifest`) or older
    than a file of the project (a manifest that does not know a model or test the run builds
    fails the dbt step). True if it had to. Concurrent callers wait for the first one."""
    if (project.manifest_path.exists()
            and project.manifest_path.stat().st_mtime >= newest_source_change(Path(project.project_dir))):
        return False
    run_with_concurrent_update_guard(project.manifest_path, prepare_manifest, project=project,
                                     guard_timeout_seconds=PREPARE_TIMEOUT_SECONDS)
    if not project.manifest_path.exists():
        raise RuntimeError(f"`{dbt_executable()} parse` did not write {project.manifest_path}")
    return True
