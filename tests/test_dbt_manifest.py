"""The CLI prepares the dbt manifest dagster-dbt reads when it is missing or older than the project."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

from dagster_dbt import DbtProject

from orchestration.dbt_manifest import ensure_manifest
from orchestration.settings import DBT_PROJECT_DIR


def test_a_manifest_older_than_a_project_file_is_prepared_again(tmp_path):
    project_dir = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project_dir, ignore=shutil.ignore_patterns("target", "logs"))
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir)
    assert ensure_manifest(project)  # missing
    assert not ensure_manifest(project)  # up to date: no parse

    # a model added after the manifest (as after a `git pull`): the old manifest does not know it
    earlier = time.time() - 60
    os.utime(project.manifest_path, (earlier, earlier))
    model = project_dir / "models" / "marts" / "added_after_the_manifest.sql"
    model.write_text("select 1 as one\n")
    assert ensure_manifest(project)
    nodes = json.loads(Path(project.manifest_path).read_text())["nodes"]
    assert "model.loyalty_warehouse.added_after_the_manifest" in nodes
    assert not ensure_manifest(project)
