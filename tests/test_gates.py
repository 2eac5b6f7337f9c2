"""Each gate, broken in exactly its way: it blocks, and the outbox is unchanged."""

from __future__ import annotations

import shutil
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


def test_truncated_store_file_blocks(env_from, published_earlier, capsys, tmp_path, monkeypatch):
    data_dir, landing = env_from(published_earlier, copy_landing=True)
    config = tmp_path / "gates.yml"
    config.write_text(Path(__file__).parent.parent.joinpath("quality", "gates.yml").read_text()
                      .replace("min_median_lines: 20", "min_median_lines: 3"))
    monkeypatch.setenv("LOYALTY_GATES_CONFIG", str(config))
    biggest = max(_trading_stores(landing, DAY), key=lambda p: p.stat().st_size)
    lines = biggest.read_text(encoding="utf-8").splitlines(keepends=True)
    assert len(lines) > 8
    biggest.write_text("".join(lines[:2]), encoding="utf-8")  # header and one line survive
    err = _run_cli_expecting_block(data_dir, capsys)
    assert "GATE FAILED raw/pos_lines:store_volume (1 failing)" in err
    assert "too few lines" in err


def test_unknown_product_blocks(env_from, published_earlier, capsys):
    data_dir, landing = env_from(published_earlier, copy_landing=True)
    sold = duckdb.sql(f"SELECT sku, count(*) FROM read_csv('{landing}/pos/pos_2025040*.csv', all_varchar=true) "
                      "GROUP BY sku ORDER BY 2 DESC LIMIT 1").fetchall()[0][0]
    products = landing / "reference" / "products.csv"
    kept = [line for line in products.read_text(encoding="utf-8").splitlines(keepends=True)
            if not line.startswith(sold + ",")]
    products.write_text("".join(kept), encoding="utf-8")
    err = _run_cli_expecting_block(data_dir, capsys)
    # the dbt relationships test and the referential gate both guard this; either must stop it
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


def test_balance_that_disagrees_with_its_ledger_blocks(env_from, built_day):
    data_dir, _ = env_from(built_day)
    gate = dg.AssetCheckKey(dg.AssetKey(["marts", "member_points_balances"]), "balances_equal_ledger")
    result = _publish_after("""
        UPDATE marts.member_points_balances SET points_balance = points_balance + 20
        WHERE member_id = (SELECT min(member_id) FROM marts.member_points_balances)""",
                            data_dir, extra_checks=(gate,))
    assert _failed_checks(result).get("balances_equal_ledger") == 1
