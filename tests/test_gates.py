"""Each gate, broken in exactly its way: it blocks, and the outbox is unchanged."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.cli import main as loyalty
from orchestration.definitions import defs

EARLIER, DAY = "2025-04-05", "2025-04-06"


def _outbox_state(data_dir: Path) -> dict[str, bytes]:
    outbox = data_dir / "outbox"
    return {str(p.relative_to(outbox)): p.read_bytes()
            for p in sorted(outbox.rglob("*")) if p.is_file() and ".staging" not in p.parts}


def _keys(publish: bool) -> list[dg.AssetKey]:
    graph = defs().resolve_asset_graph()
    return [k for k in graph.get_all_asset_keys()
            if graph.get(k).is_materializable and (graph.get(k).group_name == "publish") == publish]


@pytest.fixture(scope="module")
def published_earlier(tmp_path_factory, small_landing) -> Path:
    """A data dir where EARLIER was published by a full run."""
    data_dir = tmp_path_factory.mktemp("gates") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOYALTY_DATA_DIR", str(data_dir))
        mp.setenv("LOYALTY_LANDING_DIR", str(small_landing))
        mp.delenv("LOYALTY_PROGRAM", raising=False)
        result = defs().resolve_job_def("daily_pipeline").execute_in_process(partition_key=EARLIER)
        assert result.success
    return data_dir


@pytest.fixture(scope="module")
def built_day(tmp_path_factory, published_earlier, small_landing) -> Path:
    """EARLIER published, and DAY built up to the marts (not published)."""
    data_dir = tmp_path_factory.mktemp("built") / "data"
    shutil.copytree(published_earlier, data_dir)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOYALTY_DATA_DIR", str(data_dir))
        mp.setenv("LOYALTY_LANDING_DIR", str(small_landing))
        result = defs().resolve_job_def("daily_pipeline").execute_in_process(
            partition_key=DAY, asset_selection=_keys(publish=False))
        assert result.success
    return data_dir


@pytest.fixture
def env_from(tmp_path, monkeypatch, small_landing):
    """Copy a prepared data dir (and optionally the landing dir) and point LOYALTY_* at the copies."""

    def make(template: Path, copy_landing: bool = False) -> tuple[Path, Path]:
        data_dir = tmp_path / "data"
        shutil.copytree(template, data_dir)
        landing = small_landing
        if copy_landing:
            landing = tmp_path / "landing"
            shutil.copytree(small_landing, landing)
        monkeypatch.setenv("LOYALTY_DATA_DIR", str(data_dir))
        monkeypatch.setenv("LOYALTY_LANDING_DIR", str(landing))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
        monkeypatch.delenv("LOYALTY_PROGRAM", raising=False)
        return data_dir, landing

    return make


def _run_cli_expecting_block(data_dir: Path, capsys) -> str:
    before = _outbox_state(data_dir)
    assert loyalty(["run", "--as-of", DAY]) == 1
    assert not (data_dir / "outbox" / DAY).exists()
    assert _outbox_state(data_dir) == before and f"{EARLIER}/tier_list.csv" in before
    return capsys.readouterr().err


def _trading_stores(landing: Path, day: str) -> list[Path]:
    return sorted((landing / "pos").glob(f"pos_{day.replace('-', '')}_*.csv"))


def test_missing_store_file_blocks(env_from, published_earlier, capsys):
    data_dir, landing = env_from(published_earlier, copy_landing=True)
    missing = _trading_stores(landing, DAY)[0]
    missing.unlink()
    err = _run_cli_expecting_block(data_dir, capsys)
    assert "GATE FAILED raw/pos_lines:store_completeness (1 failing)" in err
    assert missing.name.split("_")[-1].removesuffix(".csv") in err  # the sample names the store


def test_small_store_file_cut_to_two_lines_blocks(env_from, published_earlier, capsys):
    """S001 sells about 14 lines a day (its trailing median on DAY): below the old 20-line
    exemption, so a file cut to 2 lines used to publish."""
    data_dir, landing = env_from(published_earlier, copy_landing=True)
    cut = landing / "pos" / f"pos_{DAY.replace('-', '')}_S001.csv"
    lines = cut.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) > 8
    cut.write_text("".join(lines[:3]), encoding="utf-8")  # header and two lines survive
    err = _run_cli_expecting_block(data_dir, capsys)
    assert "GATE FAILED raw/pos_lines:store_volume (1 failing)" in err
    assert '"store_id": "S001", "lines": "2", "median_lines": "14.0"' in err and "too few lines" in err


def test_header_only_file_of_an_open_store_blocks(env_from, published_earlier, capsys):
    """S001 (median 14 lines, so the old volume band did not judge it) sends only the header."""
    data_dir, landing = env_from(published_earlier, copy_landing=True)
    empty = landing / "pos" / f"pos_{DAY.replace('-', '')}_S001.csv"
    empty.write_text(empty.read_text(encoding="utf-8").splitlines(keepends=True)[0], encoding="utf-8")
    err = _run_cli_expecting_block(data_dir, capsys)
    assert "GATE FAILED raw/pos_lines:store_completeness (1 failing)" in err
    assert ('{"store_id": "S001", "problem": "header-only POS file (no lines)", '
            f'"files": "pos/{empty.name}"}}') in err


def test_a_warning_is_printed_as_a_warning_and_the_day_publishes_with_the_lost_store_days_counted(
        data_env, private_landing, monkeypatch, capsys):
    """The issue's run, from an empty warehouse: a store's file for D-4 is rejected whole
    (no sku column) and another store never sent its file for D-17. Warnings, not gate
    failures; exit 0; the manifest counts every open store-day of the trailing year
    without lines (the generated chain's header-only days included)."""
    monkeypatch.setenv("LOYALTY_LANDING_DIR", str(private_landing))
    broken = private_landing / "pos" / "pos_20250402_S002.csv"
    broken.write_text(broken.read_text(encoding="utf-8").replace(",sku,", ",item,", 1), encoding="utf-8")
    (private_landing / "pos" / "pos_20250320_S001.csv").unlink()
    assert loyalty(["run", "--as-of", DAY]) == 0
    out, err = capsys.readouterr()
    assert "GATE FAILED" not in err
    assert "WARNING raw/pos_lines:no_rejected_files (1 failing)" in err and broken.name in err
    from tests.test_store_gates import _expected_store_days_without_lines

    first_day, last_day = "2025-01-01", EARLIER  # the trailing year, from the first POS day
    expected = _expected_store_days_without_lines(
        private_landing, *(date.fromisoformat(d) for d in (first_day, last_day))) | {("S002", "2025-04-02")}
    assert ("S001", "2025-03-20") in expected and len(expected) > 2  # header-only days count too
    assert f"WARNING raw/pos_lines:store_days_without_lines ({len(expected)} failing)" in err
    assert ('{"store_id": "S002", "business_day": "2025-04-02", "problem": "POS file rejected whole", '
            f'"files": "pos/{broken.name}"}}') in err
    assert ('{"store_id": "S001", "business_day": "2025-03-20", "problem": "no POS file delivered", '
            '"files": null}') in err
    assert f"published: {data_env / 'outbox' / DAY}" in out
    manifest = json.loads((data_env / "outbox" / DAY / "manifest.json").read_text())
    assert manifest["store_days_without_lines"] == {
        "count": len(expected), "first_day": first_day, "last_day": last_day}


def test_unknown_product_blocks(env_from, published_earlier, capsys):
    data_dir, landing = env_from(published_earlier, copy_landing=True)
    sold = duckdb.sql(f"SELECT sku, count(*) FROM read_csv('{landing}/pos/pos_2025040*.csv', all_varchar=true) "
                      "GROUP BY sku ORDER BY 2 DESC LIMIT 1").fetchall()[0][0]
    products = landing / "reference" / "products.csv"
    kept = [line for line in products.read_text(encoding="utf-8").splitlines(keepends=True)
            if not line.startswith(sold + ",")]
    products.write_text("".join(kept), encoding="utf-8")
    err = _run_cli_expecting_block(data_dir, capsys)
    # the dbt relationships test (error severity) stops the dbt step
    assert "fct_sales_lines" in err


def _publish_after(tamper_sql: str, data_dir: Path,
                   extra_checks: tuple[dg.AssetCheckKey, ...] = ()) -> dg.ExecuteInProcessResult:
    """Tamper with the built warehouse, then run the publish steps (plus the given gates)."""
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        con.execute(tamper_sql)
    before = _outbox_state(data_dir)
    definitions = defs()
    publish_keys = set(_keys(publish=True))
    checks = {k for k in definitions.resolve_asset_graph().asset_check_keys if k.asset_key in publish_keys}
    job = definitions.resolve_job_def("daily_pipeline").get_subset(
        asset_selection=publish_keys, asset_check_selection=checks | set(extra_checks))
    result = job.execute_in_process(partition_key=DAY, raise_on_error=False)
    assert not result.success
    assert not (data_dir / "outbox" / DAY).exists()
    assert _outbox_state(data_dir) == before
    return result


def _failed_checks(result) -> dict[str, int]:
    return {e.check_name: e.metadata["failing_count"].value
            for e in result.get_asset_check_evaluations() if not e.passed}


def test_cancelled_member_in_the_tier_list_blocks(env_from, built_day):
    data_dir, _ = env_from(built_day)
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        cancelled = con.execute("SELECT count(*) FROM marts.dim_members WHERE status = 'cancelled'").fetchall()[0][0]
    assert cancelled > 0
    result = _publish_after("""
        INSERT INTO marts.tier_list (member_id, card_no, tier, segment, trailing_spend,
                                     trailing_transactions, points_balance, as_of)
        SELECT member_id, card_no, 'charm', 'inactive', 0, 0, 0, DATE '2025-04-06'
        FROM marts.dim_members WHERE status = 'cancelled' ORDER BY member_id LIMIT 1""", data_dir)
    assert _failed_checks(result).get("tier_list_members_once_check") == 1


def test_duplicated_member_blocks(env_from, built_day):
    data_dir, _ = env_from(built_day)
    result = _publish_after("""
        INSERT INTO marts.tier_list
        SELECT * FROM marts.tier_list ORDER BY member_id LIMIT 1""", data_dir)
    failed = _failed_checks(result)
    assert failed.get("tier_list_members_once_check") == 1
    assert failed.get("tier_list_expectations_check", 0) >= 1


def test_serving_copy_readers_keep_the_old_data_until_they_reconnect(env_from, built_day):
    data_dir, _ = env_from(built_day)
    serving = data_dir / "serving" / "marts.duckdb"
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        assert reader.execute("SELECT max(as_of) FROM marts.tier_list").fetchall()[0][0].isoformat() == EARLIER
        result = defs().resolve_job_def("daily_pipeline").execute_in_process(
            partition_key=DAY, asset_selection=_keys(publish=True))
        assert result.success
        assert reader.execute("SELECT max(as_of) FROM marts.tier_list").fetchall()[0][0].isoformat() == EARLIER
    finally:
        reader.close()
    with duckdb.connect(str(serving), read_only=True) as fresh:
        assert fresh.execute("SELECT max(as_of) FROM marts.tier_list").fetchall()[0][0].isoformat() == DAY
        schemas = {r[0] for r in fresh.execute("SELECT DISTINCT schema_name FROM duckdb_tables()").fetchall()}
        tables = {r[0] for r in fresh.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert schemas == {"main"}  # only the marts: no raw, staging or restricted data in the BI copy
    assert {"tier_list", "customer_pyramid", "dim_members"} <= tables


def test_non_consented_member_in_the_lapsed_extract_blocks(env_from, built_day):
    data_dir, _ = env_from(built_day)
    result = _publish_after("""
        INSERT INTO restricted.lapsed_customers_extract
        SELECT l.member_id, l.card_no, p.name, '13800000000', l.status, l.days_since_last_purchase,
               l.last_purchase_date, l.winback_priority, l.segment, l.favourite_category, l.as_of
        FROM marts.lapsed_customers l JOIN restricted.member_pii p USING (member_id)
        WHERE NOT l.marketing_consent ORDER BY l.member_id LIMIT 1""", data_dir)
    failed = _failed_checks(result)
    assert failed.get("lapsed_extract_rules_check") == 1
    sample = next(e for e in result.get_asset_check_evaluations()
                  if e.check_name == "lapsed_extract_rules_check").metadata["failing_sample"].value
    assert sample[0]["problem"] == "no marketing consent"


def test_a_minor_in_the_upgrade_nudge_extract_blocks(env_from, built_day):
    """The nudge extract's gate reads the mart's minor flag (an unknown birth date counts as a
    minor there): a listed member the mart flags blocks publishing."""
    data_dir, _ = env_from(built_day)
    result = _publish_after("""
        UPDATE marts.upgrade_nudges SET is_minor = true
        WHERE member_id = (SELECT min(member_id) FROM restricted.upgrade_nudges_extract)""", data_dir)
    assert _failed_checks(result) == {"upgrade_nudges_rules_check": 1}
    [row] = _evaluation(result, "upgrade_nudges_rules_check").metadata["failing_sample"].value
    assert row["problem"] == "minor or unknown age"


def test_a_nudge_gap_that_differs_from_the_mart_blocks_and_a_bad_segment_fails_the_suite(env_from, built_day):
    data_dir, _ = env_from(built_day)
    result = _publish_after("""
        UPDATE restricted.upgrade_nudges_extract SET segment_gap = coalesce(segment_gap, 0) + 1, segment = 'gold'
        WHERE member_id = (SELECT min(member_id) FROM restricted.upgrade_nudges_extract)""", data_dir)
    assert _failed_checks(result) == {"upgrade_nudges_rules_check": 1, "upgrade_nudges_expectations_check": 1}
    [row] = _evaluation(result, "upgrade_nudges_rules_check").metadata["failing_sample"].value
    assert row["problem"] == "gaps differ from marts.upgrade_nudges"
    failed = _evaluation(result, "upgrade_nudges_expectations_check").metadata["failed_expectations"].value
    assert failed == [{"expectation": "expect_column_values_to_be_in_set", "column": "segment",
                       "unexpected_count": 1}]


def _dbt_test_failures(data_dir: Path, tamper_sql: str, select: str) -> dict[str, int]:
    """Tamper with the built warehouse, then run the dbt tests of `select` as the day's build
    would: the failing tests and their failing row counts. (An error-severity dbt test is a
    blocking check of the asset it tests: tests/test_definitions.py.)"""
    from tests.test_dbt_rules import load_default_program, run_dbt

    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        con.execute(tamper_sql)
    result = run_dbt("test", data_dir, load_default_program(), DAY, "--select", select)
    return {r.node.name: r.failures for r in result.result.results if r.status == "fail"}


def test_balance_that_disagrees_with_its_ledger_fails_its_dbt_test(env_from, built_day):
    data_dir, _ = env_from(built_day)
    failed = _dbt_test_failures(data_dir, """
        UPDATE marts.member_points_balances SET points_balance = points_balance + 20
        WHERE member_id = (SELECT min(member_id) FROM marts.member_points_balances)""",
                                "assert_points_balances_equal_their_ledger")
    assert failed == {"assert_points_balances_equal_their_ledger": 1}


def test_ledger_entries_of_a_member_without_a_balance_fail_the_same_test(env_from, built_day):
    data_dir, _ = env_from(built_day)
    failed = _dbt_test_failures(data_dir, """
        DELETE FROM marts.member_points_balances
        WHERE member_id = (SELECT min(member_id) FROM marts.fct_points_ledger)""",
                                "assert_points_balances_equal_their_ledger")
    assert failed == {"assert_points_balances_equal_their_ledger": 1}


def test_money_that_differs_between_raw_lines_and_the_sales_fact_fails_its_dbt_test(env_from, built_day):
    data_dir, _ = env_from(built_day)
    failed = _dbt_test_failures(data_dir, """
        UPDATE marts.fct_sales_lines SET net_amount = net_amount + 1
        WHERE rowid = (SELECT rowid FROM marts.fct_sales_lines
                       WHERE business_day = DATE '2025-04-06' ORDER BY txn_id, line_no LIMIT 1)""",
                                "assert_sales_fact_reconciles_with_raw_lines")
    assert failed == {"assert_sales_fact_reconciles_with_raw_lines": 1}


def test_unknown_store_and_product_in_the_sales_fact_fail_the_relationships_tests(env_from, built_day):
    data_dir, _ = env_from(built_day)
    failed = _dbt_test_failures(data_dir, """
        UPDATE marts.fct_sales_lines SET sku = 'NO-SUCH-SKU'
        WHERE rowid = (SELECT rowid FROM marts.fct_sales_lines ORDER BY txn_id, line_no LIMIT 1);
        UPDATE marts.fct_sales_lines SET store_id = 'S999'
        WHERE rowid = (SELECT rowid FROM marts.fct_sales_lines ORDER BY txn_id DESC, line_no DESC LIMIT 1)""",
                                "fct_sales_lines,test_name:relationships")
    assert sorted(failed.values()) == [1, 1] and all(name.startswith("relationships_fct_sales_lines") for name in failed)
    assert any("sku" in name for name in failed) and any("store_id" in name for name in failed)


def test_days_since_last_purchase_that_differ_from_the_mart_block(env_from, built_day):
    data_dir, _ = env_from(built_day)
    result = _publish_after("""
        UPDATE restricted.lapsed_customers_extract SET days_since_last_purchase = days_since_last_purchase + 1
        WHERE member_id = (SELECT min(member_id) FROM restricted.lapsed_customers_extract)""", data_dir)
    assert _failed_checks(result) == {"lapsed_extract_rules_check": 1}
    [row] = _evaluation(result, "lapsed_extract_rules_check").metadata["failing_sample"].value
    assert row["problem"] == "days since last purchase differ from marts.lapsed_customers"


def test_a_bad_value_in_the_lapsed_extract_fails_its_expectation_suite(env_from, built_day):
    data_dir, _ = env_from(built_day)
    result = _publish_after("""
        UPDATE restricted.lapsed_customers_extract SET winback_priority = 'maybe'
        WHERE member_id = (SELECT min(member_id) FROM restricted.lapsed_customers_extract)""", data_dir)
    assert _failed_checks(result) == {"lapsed_extract_expectations_check": 1}
    failed = _evaluation(result, "lapsed_extract_expectations_check").metadata["failed_expectations"].value
    assert failed == [{"expectation": "expect_column_values_to_be_in_set", "column": "winback_priority",
                       "unexpected_count": 1}]


def test_the_extract_gate_takes_minors_from_the_marts_own_flag(env_from, built_day):
    """One under-age rule (dbt macro is_under_age): the gate blocks a member the mart flags
    as a minor, whatever the birth date says."""
    data_dir, _ = env_from(built_day)
    result = _publish_after("""
        UPDATE marts.lapsed_customers SET is_minor = true
        WHERE member_id = (SELECT min(member_id) FROM restricted.lapsed_customers_extract)""", data_dir)
    assert _failed_checks(result) == {"lapsed_extract_rules_check": 1}
    [row] = _evaluation(result, "lapsed_extract_rules_check").metadata["failing_sample"].value
    assert row["problem"] == "minor"


def _evaluation(result, check_name: str) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == check_name)


def test_an_earlier_file_re_delivered_broken_drops_its_lines_from_the_marts_and_publishes(
        env_from, published_earlier, capsys):
    """A POS file of an earlier day, loaded before, is re-delivered unreadable: its rows leave
    raw.pos_lines (the current version of that file has none), so that day must be rebuilt
    without them. The day publishes with warnings; the sales fact equals the raw lines."""
    data_dir, landing = env_from(published_earlier, copy_landing=True)
    resent = landing / "pos" / "pos_20250402_S002.csv"
    resent.write_text(resent.read_text(encoding="utf-8").replace(",sku,", ",item,", 1), encoding="utf-8")
    assert loyalty(["run", "--as-of", DAY]) == 0
    err = capsys.readouterr().err
    assert "GATE FAILED" not in err
    assert ('{"store_id": "S002", "business_day": "2025-04-02", "problem": "POS file rejected whole", '
            f'"files": "pos/{resent.name}"}}') in err
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        fact_lines = con.execute("SELECT count(*) FROM marts.fct_sales_lines WHERE business_day = '2025-04-02' "
                                 "AND store_id = 'S002'").fetchone()[0]
    assert fact_lines == 0


def test_a_p_alive_in_the_staged_extract_that_is_not_the_marts_blocks(built_day, tmp_path):
    """The extract's p_alive comes from marts.member_clv at staging; a file whose p_alive
    differs (an edited file, a staging query joining the wrong table) is held back."""
    from orchestration.outbox import LAPSED_SQL, stage_extract
    from quality.gates import lapsed_extract_rules

    with duckdb.connect(str(built_day / "warehouse.duckdb"), read_only=True) as con:
        staged, rows = stage_extract(con, LAPSED_SQL, tmp_path, DAY, "lapsed_customers")
        assert rows > 0 and lapsed_extract_rules(con, str(staged), 90, "1[0-9]{10}").passed
        lines = staged.read_text(encoding="utf-8").splitlines()
        header = lines[0].split(",")
        first = lines[1].split(",")
        first[header.index("p_alive")] = "0.0001"
        staged.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8")
        gate = lapsed_extract_rules(con, str(staged), 90, "1[0-9]{10}")
    assert not gate.passed and gate.failing_count == 1
    assert gate.sample[0]["problem"] == "p_alive differs from marts.member_clv"
