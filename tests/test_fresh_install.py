"""A new machine: no dbt manifest yet, a virtualenv that is not on PATH, a Dagster home written
by an earlier version."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml
from dagster._core.instance.ref import InstanceRef

from orchestration.instance import PREVIOUS_DAGSTER_YAMLS, dagster_yaml, ensure_dagster_home
from processes import copy_sources_without_manifest

REPO = Path(__file__).resolve().parent.parent

LOAD_DEFINITIONS = """
from orchestration.definitions import defs
graph = defs().resolve_asset_graph()
print("assets:", len(list(graph.get_all_asset_keys())))
"""


def test_dagster_dev_loads_the_definitions_when_the_virtualenv_is_not_on_path(tmp_path):
    """`.venv/bin/dagster dev` without an activated venv: the code server prepares the dbt
    manifest (dagster-dbt's preparer used to look for `dbt` on PATH and fail)."""
    copy = copy_sources_without_manifest(tmp_path / "src")
    env = {**os.environ, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy), "DAGSTER_IS_DEV_CLI": "1",
           "DAGSTER_HOME": str(tmp_path / "home")}
    done = subprocess.run([sys.executable, "-c", LOAD_DEFINITIONS], cwd=copy, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "assets:" in done.stdout
    assert (copy / "dbt_project" / "target" / "manifest.json").exists()


def test_the_generated_dagster_yaml_hides_the_community_dialog_and_monitors_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = ensure_dagster_home(tmp_path)
    config = yaml.safe_load((home / "dagster.yaml").read_text(encoding="utf-8"))
    assert config["telemetry"] == {"enabled": False} and config["nux"] == {"enabled": False}
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        assert instance.run_monitoring_enabled
        assert instance.run_monitoring_settings["free_slots_after_run_end_seconds"] > 0
        assert instance.get_settings("nux") == {"enabled": False}


def test_an_earlier_generated_dagster_yaml_is_upgraded_and_an_edited_one_is_left_alone(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    (home / "dagster.yaml").write_text(PREVIOUS_DAGSTER_YAMLS[0], encoding="utf-8")
    ensure_dagster_home(tmp_path)
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == dagster_yaml(home)

    # a copied home names the folder it was copied from: its event log would be written there
    (home / "dagster.yaml").write_text(dagster_yaml(tmp_path / "elsewhere"), encoding="utf-8")
    ensure_dagster_home(tmp_path)
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == dagster_yaml(home)

    for earlier in (PREVIOUS_DAGSTER_YAMLS[0], dagster_yaml(home)):
        edited = earlier + "run_queue:\n  max_concurrent_runs: 2\n"
        (home / "dagster.yaml").write_text(edited, encoding="utf-8")
        ensure_dagster_home(tmp_path)
        assert (home / "dagster.yaml").read_text(encoding="utf-8") == edited
