"""The code location: loads, has one lineage from landing files to the outbox, pure dbt args."""

from __future__ import annotations

import json
import os
import traceback

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.defs.transform.assets import dbt_build_args, dbt_environment
from orchestration.settings import DBT_PROJECT_DIR, load_program, program_sha256, settings_from_env


def test_every_dependency_is_a_defined_asset_and_only_landing_is_external():
    graph = defs().resolve_asset_graph()
    keys = graph.get_all_asset_keys()
    external = {k.to_user_string() for k in keys if not graph.get(k).is_materializable}
    assert external == {"landing/pos", "landing/members", "landing/redemptions",
                        "landing/adjustments", "landing/reference"}
    for key in keys:
        for parent in graph.get(key).parent_keys:
            assert parent in keys, f"{key.to_user_string()} depends on undefined {parent.to_user_string()}"


def test_lineage_runs_from_landing_files_to_the_published_outbox():
    graph = defs().resolve_asset_graph()
    upstream = graph.upstream_key_iterator(dg.AssetKey(["publish", "outbox"]))
    names = {k.to_user_string() for k in upstream}
    assert {"landing/pos", "raw/pos_lines", "staging/stg_pos__lines",
            "intermediate/int_member_daily_sales", "marts/customer_pyramid",
            "marts/tier_list", "publish/tier_list_staged"} <= names


def test_publishing_is_behind_blocking_checks_and_dbt_tests_are_checks():
    graph = defs().resolve_asset_graph()
    staged_checks = [k for k in graph.asset_check_keys
                     if k.asset_key == dg.AssetKey(["publish", "tier_list_staged"])]
    assert {k.name for k in staged_checks} >= {"tier_list_segments_match_pyramid_check", "tier_list_members_once_check",
                                                "tier_list_expectations_check"}
    assert all(graph.get_check_spec(k).blocking for k in staged_checks)
    assert any(k.asset_key == dg.AssetKey(["marts", "tier_list"]) for k in graph.asset_check_keys)
    # dagster-dbt makes an error-severity dbt test a blocking check, a warn-severity one not
    balances = dg.AssetKey(["marts", "member_points_balances"])
    assert graph.get_check_spec(dg.AssetCheckKey(balances, "assert_points_balances_equal_their_ledger")).blocking
    assert not graph.get_check_spec(dg.AssetCheckKey(balances, "assert_no_negative_points_balances")).blocking


def test_dbt_build_args_carry_the_program_and_the_same_vars_every_day():
    program = load_program(None)
    args = dbt_build_args(program)
    assert args[:2] == ["build", "--vars"]
    # the as-of date is not a var (it travels in LOYALTY_AS_OF_DATE), so the vars do not change
    # from one day to the next and dbt keeps its partial parse
    assert json.loads(args[2]) == {"program": program}
    assert args[3:] == ["--exclude-resource-type", "unit_test"]  # unit tests run in pytest, not daily
    # a build of the whole history runs one node at a time (the profile's daily build runs two)
    assert dbt_build_args(program, whole_build=True)[3:] == ["--exclude-resource-type", "unit_test",
                                                             "--threads", "1"]


def test_dbt_environment_is_restored_after_the_run(monkeypatch):
    monkeypatch.setenv("LOYALTY_AS_OF_DATE", "2020-01-01")
    monkeypatch.delenv("LOYALTY_DATA_DIR", raising=False)
    with dbt_environment(LOYALTY_AS_OF_DATE="2025-04-10", LOYALTY_DATA_DIR="/tmp/w"):
        assert os.environ["LOYALTY_AS_OF_DATE"] == "2025-04-10"
        assert os.environ["LOYALTY_DATA_DIR"] == "/tmp/w"
    assert os.environ["LOYALTY_AS_OF_DATE"] == "2020-01-01"
    assert "LOYALTY_DATA_DIR" not in os.environ
    monkeypatch.delenv("LOYALTY_AS_OF_DATE")
    with dbt_environment(LOYALTY_AS_OF_DATE="2025-04-11"):
        pass
    assert "LOYALTY_AS_OF_DATE" not in os.environ


def test_the_daily_job_covers_every_materializable_asset_in_one_process():
    definitions = defs()
    job = definitions.resolve_job_def("daily_pipeline")
    graph = definitions.resolve_asset_graph()
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    assert set(job.asset_layer.selected_asset_keys) == materializable
    assert job.executor_def.name == "in_process"


def test_the_default_program_lives_in_dbt_project_yml_and_loyalty_program_names_another(tmp_path):
    default = settings_from_env({"LOYALTY_DATA_DIR": str(tmp_path)})
    assert default.program_path is None
    program = load_program(default.program_path)
    assert program["tiers"]["scheme"][0]["name"] == "queen"
    ladder_file = DBT_PROJECT_DIR / "program" / "card_ladder.yml"
    ladder = settings_from_env({"LOYALTY_DATA_DIR": str(tmp_path), "LOYALTY_PROGRAM": str(ladder_file)})
    assert load_program(ladder.program_path)["tiers"]["scheme"][0]["name"] == "diamond"
    # the manifest's fingerprint follows the content, not the file
    assert program_sha256(program) != program_sha256(load_program(ladder.program_path))
    assert program_sha256(program) == program_sha256(dict(reversed(program.items())))


def test_the_schedule_hour_is_read_when_the_definitions_load(monkeypatch):
    monkeypatch.setenv("LOYALTY_SCHEDULE_HOUR", "9")
    schedule = defs().resolve_schedule_def("daily_pipeline_schedule")
    assert schedule.cron_schedule == "0 9 * * *"
    monkeypatch.setenv("LOYALTY_SCHEDULE_HOUR", "25")
    with pytest.raises(Exception) as failure:  # Dagster names the module, the cause names the variable
        defs().resolve_schedule_def("daily_pipeline_schedule")
    assert "LOYALTY_SCHEDULE_HOUR='25'" in "".join(traceback.format_exception(failure.value))


def test_the_dbt_resource_knows_the_version_of_the_dbt_it_runs_without_asking_it():
    """The resource skips dagster-dbt's `dbt --version` subprocess; the version it assumes must
    be what that dbt says (it decides how dagster-dbt reads dbt's events)."""
    import re
    import subprocess

    from orchestration.dbt_manifest import dbt_executable
    from orchestration.defs.resources import resources

    dbt = resources().resources["dbt"]
    reported = subprocess.run([dbt.dbt_executable, "--version"], capture_output=True, text=True, check=True).stdout
    assert dbt.dbt_executable == dbt_executable()
    assert str(dbt._cli_version) == re.search(r"(\d+\.\d+\.\d+)", reported).group(1)
    assert dbt._initialize_dbt_core_adapter(["build"]) is None  # no adapter opened in the Dagster process
