"""The under-14 rule is one dbt macro (is_under_age), unit-tested on 29 February.

Runs the lapsed_customers unit tests (hand-computed ages around 29 February and
1 March) against a real DuckDB warehouse whose upstream models exist but are empty.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_dbt_rules import DBT_PROJECT, load_default_program, make_warehouse

AGE_TESTS = {
    "lapsed_customers_non_default_threshold_and_leap_day_minor",          # D = 2026-02-28
    "lapsed_customers_minor_age_from_1_march_for_29_february_births",     # D = 2026-03-01
    "lapsed_customers_minor_age_on_29_february_of_a_leap_year",           # D = 2028-02-29
}


def _dbt(data_dir: Path, *args: str):
    from dbt.cli.main import dbtRunner

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOYALTY_DATA_DIR", str(data_dir))
        return dbtRunner().invoke([
            *args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
            "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"),
            "--vars", json.dumps({"as_of_date": "2026-02-04", "program": load_default_program()})])


def test_the_under_age_rule_around_29_february(tmp_path):
    make_warehouse(tmp_path)
    # unit tests read their inputs' column types from the warehouse: build them empty
    built = _dbt(tmp_path, "run", "--select", "+lapsed_customers", "--empty")
    assert built.success, built.exception
    tested = _dbt(tmp_path, "test", "--select", "lapsed_customers,test_type:unit")
    outcomes = {r.node.name: (r.status, r.message) for r in tested.result.results}
    assert AGE_TESTS <= set(outcomes), outcomes
    assert all(outcomes[name][0] == "pass" for name in AGE_TESTS), outcomes
