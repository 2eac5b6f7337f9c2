"""Ingestion in Dagster: GE batch checks with counts, rejected files shown plainly,
reconciliation, configured encodings and aliases, extra columns kept aside."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd

from ingestion.config import load_config
from ingestion.contract import SOURCES_BY_NAME
from ingestion.load import ingest_source
from ingestion.sink import WarehouseSink
from quality.ingest_suites import validate_batch
from quality.suites import validate_tier_list

POS_HEADER = "txn_id,line_no,store_id,txn_ts,card_no,sku,category,qty,unit_price,discount,net_amount\n"
STORES = "store_id,name,city,opened_on,closed_on\nS001,一店,上海,2020-01-01,\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def test_dagster_run_shows_ge_counts_rejections_and_reconciliation(tmp_path):
    from orchestration.defs.ingest.assets import ingest_assets, ingest_checks
    from orchestration.defs.resources import WarehouseResource

    landing = tmp_path / "landing"
    write(landing / "reference" / "stores.csv", STORES)
    write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER +
          "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00\n"
          "A1,2,S001,2025-03-01 10:00:00,,SKU1,护肤,2,5.00,1.00,9.00\n"
          "A2,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,6.00\n")
    write(landing / "pos" / "pos_20250301_S002.csv", "txn_id,line_no\nX,1\n")
    wanted = {dg.AssetKey(["raw", "stores"]), dg.AssetKey(["raw", "pos_lines"])}
    assets = [a for a in ingest_assets if a.key in wanted]
    checks = [c for c in ingest_checks if next(iter(c.check_keys)).asset_key in wanted]
    result = dg.materialize(
        [*assets, *checks], partition_key="2025-03-01", raise_on_error=False,
        resources={"warehouse": WarehouseResource(landing_dir=str(landing), data_dir=str(tmp_path / "data"))})
    assert result.success
    evaluations = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    ge = evaluations[("pos_lines", "ge_batch")]
    assert ge.passed and ge.metadata["evaluated_rows"].value == 2 and ge.metadata["expectations"].value > 10
    rejected = evaluations[("pos_lines", "no_rejected_files")]
    assert not rejected.passed and rejected.severity == dg.AssetCheckSeverity.WARN
    assert "required column(s) missing" in rejected.metadata["reasons"].value["pos/pos_20250301_S002.csv"]
    assert evaluations[("pos_lines", "reconciliation")].passed
    [mat] = [m for m in result.asset_materializations_for_node("raw__pos_lines")]
    assert mat.metadata["files_rejected"].value == 1 and mat.metadata["rows_quarantined"].value == 1


def test_ge_suite_fails_with_counts_on_rows_that_break_the_contract():
    frame = pd.DataFrame({
        "txn_id": ["A", "A"], "line_no": [1, 1], "store_id": ["S1", "S1"],
        "txn_ts": pd.to_datetime(["2025-03-01 10:00:00"] * 2), "card_no": [None, None],
        "sku": ["K", "K"], "category": ["c", "c"], "qty": [1.0, 0.0], "unit_price": [5.0, 5.0],
        "discount": [0.0, 0.0], "net_amount": [5.0, 0.0], "original_txn_id": [None, None],
        "_net_diff": [0.0, 0.0], "_day_ok": [True, False], "_store_ok": [True, True],
    })
    outcome = validate_batch("pos_lines", frame)
    assert not outcome.success
    failed = {(r.expectation, r.column): r.unexpected_count for r in outcome.failed}
    assert failed[("expect_column_values_to_not_be_in_set", "qty")] == 1
    assert failed[("expect_column_values_to_be_in_set", "_day_ok")] == 1
    assert ("expect_compound_columns_to_be_unique", "txn_id,line_no") in failed


def test_a_suite_validates_its_batch_without_hashing_every_cell(monkeypatch):
    """GX's batch fingerprint (a hash of the whole frame, unused here) is off: quality/suites.py."""
    from great_expectations.execution_engine import pandas_execution_engine

    def fingerprint(frame):
        raise AssertionError("GX hashed the batch")

    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", fingerprint)
    frame = pd.DataFrame({
        "member_id": ["M1", "M2"], "card_no": ["C1", "C2"], "tier": ["charm", "charm"],
        "segment": ["vip", "small"], "trailing_spend": [10.0, 0.0], "trailing_transactions": [1, 0],
        "points_balance": [1, 0], "as_of": ["2025-03-01", "2025-03-01"]})
    assert validate_tier_list(frame, "2025-03-01", ["charm"]).success


def test_configured_encoding_aliases_and_extra_columns(tmp_path, monkeypatch):
    config = tmp_path / "ingestion.yml"
    config.write_text("sources:\n  pos_lines:\n    encoding: gbk\n    aliases:\n      Till Ref: txn_id\n",
                      encoding="utf-8")
    monkeypatch.setenv("LOYALTY_INGESTION_CONFIG", str(config))
    assert load_config().source("pos_lines").encoding == "gb18030"
    landing = tmp_path / "landing"
    write(landing / "reference" / "stores.csv", STORES)
    header = "Till Ref,行号,门店,交易时间,会员卡号,商品编码,品类,数量,单价,折扣,实收金额,收银员\n"
    write(landing / "pos" / "pos_20250301_S001.csv",
          header + "A1,1,S001,2025-03-01 10:00:00,,SKU1,彩妆,1,5.00,0,5.00,张三\n", encoding="gb18030")
    # a configured encoding is trusted, not guessed: a UTF-8 file in a GB18030 source is
    # read as GB18030 (and recorded so) or rejected as undecodable, never as UTF-8
    write(landing / "pos" / "pos_20250302_S001.csv",
          header + "A2,1,S001,2025-03-02 10:00:00,,SKU1,彩妆,1,5.00,0,5.00,李四\n", encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")
    for name in ("stores", "pos_lines"):
        outcomes = ingest_source(sink, landing, SOURCES_BY_NAME[name], None, quarantine_dir=tmp_path / "q")
    by_file = {o.file_label: o for o in outcomes}
    first = by_file["pos/pos_20250301_S001.csv"]
    assert (first.action, first.rows_loaded, first.encoding, first.extra_columns) == ("loaded", 1, "gb18030", ["收银员"])
    second = by_file["pos/pos_20250302_S001.csv"]
    assert second.encoding == "gb18030" if second.action == "loaded" else "cannot decode as gb18030" in second.reason
    assert con.execute("SELECT category FROM raw.pos_lines WHERE txn_id = 'A1'").fetchall() == [("彩妆",)]
    assert con.execute("SELECT file_name, row_number, cells FROM raw.extra_columns").fetchall()[0] == (
        "pos/pos_20250301_S001.csv", 1, '{"收银员":"张三"}')
    assert con.execute("SELECT encoding, extra_columns FROM raw.ingested_files "
                       "WHERE file_name = 'pos/pos_20250301_S001.csv'").fetchall() == [("gb18030", '["收银员"]')]


def test_a_source_that_requires_done_markers_waits_for_them(tmp_path, monkeypatch):
    config = tmp_path / "ingestion.yml"
    config.write_text("sources:\n  pos_lines:\n    require_done_marker: true\n", encoding="utf-8")
    monkeypatch.setenv("LOYALTY_INGESTION_CONFIG", str(config))
    landing = tmp_path / "landing"
    write(landing / "reference" / "stores.csv", STORES)
    path = write(landing / "pos" / "pos_20250301_S001.csv",
                 POS_HEADER + "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")
    ingest_source(sink, landing, SOURCES_BY_NAME["stores"], None, quarantine_dir=tmp_path / "q")
    assert ingest_source(sink, landing, SOURCES_BY_NAME["pos_lines"], None, quarantine_dir=tmp_path / "q") == []
    path.with_name(path.name + ".done").write_text("")
    [outcome] = ingest_source(sink, landing, SOURCES_BY_NAME["pos_lines"], None, quarantine_dir=tmp_path / "q")
    assert (outcome.action, outcome.rows_loaded) == ("loaded", 1)
