"""The engine switch: LOYALTY_ENGINE and LOYALTY_SPARK_METHOD are checked when settings load,
and every Spark method the settings accept has its output in dbt's profiles.yml."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestration.settings import SPARK_METHODS, settings_from_env

PROFILES = Path(__file__).resolve().parents[1] / "dbt_project" / "profiles.yml"


def test_the_engine_defaults_to_duckdb_and_spark_is_chosen_by_one_variable(tmp_path):
    assert settings_from_env({"LOYALTY_DATA_DIR": str(tmp_path)}).engine == "duckdb"
    assert settings_from_env({"LOYALTY_DATA_DIR": str(tmp_path), "LOYALTY_ENGINE": "spark"}).engine == "spark"


@pytest.mark.parametrize(("variable", "value"), [("LOYALTY_ENGINE", "sparkk"), ("LOYALTY_SPARK_METHOD", "odbc")])
def test_an_unknown_engine_or_method_is_refused_by_name(tmp_path, variable, value):
    env = {"LOYALTY_DATA_DIR": str(tmp_path), "LOYALTY_ENGINE": "spark", variable: value}
    with pytest.raises(ValueError, match=f"{variable}='{value}'"):
        settings_from_env(env)


def test_every_spark_method_has_a_dbt_output():
    outputs = yaml.safe_load(PROFILES.read_text(encoding="utf-8"))["loyalty_warehouse"]["outputs"]
    assert {f"spark_{method}" for method in SPARK_METHODS} <= set(outputs)
    assert all(outputs[f"spark_{method}"]["type"] == "spark" for method in SPARK_METHODS)
