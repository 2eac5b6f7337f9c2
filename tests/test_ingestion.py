"""Ingestion on hand-made landing files: where every row ends up, and idempotency."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion.contract import SOURCES_BY_NAME
from ingestion.load import ingest_source
from ingestion.sink import WarehouseSink

POS_HEADER = "txn_id,line_no,store_id,txn_ts,card_no,sku,category,qty,unit_price,discount,net_amount,original_txn_id\n"
STORES = "store_id,name,city,opened_on,closed_on\nS001,一店,上海,2020-01-01,\nS002,二店,杭州,2020-01-01,\n"


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


@pytest.fixture
def env(tmp_path):
    landing = tmp_path / "landing"
    write(landing / "reference" / "stores.csv", STORES)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")

    def ingest(source: str, up_to=None):
        return ingest_source(sink, landing, SOURCES_BY_NAME[source], up_to,
                             quarantine_dir=tmp_path / "quarantine")

    ingest("stores")
    yield landing, con, ingest, tmp_path
    con.close()


def test_each_bad_row_is_quarantined_with_its_rule_and_good_rows_load(env):
    landing, con, ingest, _ = env
    write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER + "\n".join([
        "T1,1,S001,2025-03-01 10:00:00,8800000000001,SKU1,护肤,2,50.00,5.00,95.00,",   # good
        "T1,2,S001,2025-03-01 10:00:00,8800000000001,SKU2,护肤,1,20.00,0,21.00,",      # net mismatch
        "T2,1,S001,2025-03-02 10:00:00,,SKU1,护肤,1,50.00,0,50.00,",                  # wrong day
        "T3,1,S002,2025-03-01 10:00:00,,SKU1,护肤,1,50.00,0,50.00,",                  # wrong store
        "T4,1,S001,2025-03-01 10:00:00,,SKU1,护肤,0,50.00,0,0.00,",                   # zero qty
        "T5,1,S001,2025-03-01 10:00:00,,SKU1,护肤,abc,50.00,0,50.00,",                # bad type
        "T1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,50.00,0,50.00,",                  # duplicate key
        "T6,1,S001,2025-03-01 10:00:00,,SKU1,护肤,-1,50.00,0,-50.00,T1",              # good return
    ]) + "\n")
    [outcome] = ingest("pos_lines")
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (8, 2, 6)
    reasons = dict(con.execute(
        "SELECT row_number, reasons FROM raw.quarantined_rows ORDER BY row_number").fetchall())
    assert "net_amount: differs" in reasons[2]
    assert "txn_ts: day differs from the file's day" in reasons[3]
    assert "store_id: differs from the file's store" in reasons[4]
    assert "qty: must not be zero" in reasons[5]
    assert "qty: not a decimal" in reasons[6]
    assert "duplicate key (txn_id, line_no) within the file" in reasons[7]
    loaded = con.execute("SELECT txn_id, line_no, net_amount FROM raw.pos_lines ORDER BY txn_id").fetchall()
    assert [(t, n, str(a)) for t, n, a in loaded] == [("T1", 1, "95.00"), ("T6", 1, "-50.00")]
    report = (env[3] / "quarantine" / "rows" / "pos" / "pos_20250301_S001.csv.quarantine.csv").read_text()
    assert report.count("\n") == 7  # header + 6 quarantined rows


def test_unknown_store_and_cross_file_duplicates(env):
    landing, con, ingest, _ = env
    write(landing / "pos" / "pos_20250301_S009.csv", POS_HEADER +
          "X1,1,S009,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER +
          "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    write(landing / "pos" / "pos_20250302_S001.csv", POS_HEADER +
          "A1,1,S001,2025-03-02 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n"
          "A2,1,S001,2025-03-02 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    outcomes = {o.file_label: o for o in ingest("pos_lines")}
    assert outcomes["pos/pos_20250301_S009.csv"].reason_counts == {
        "store_id: unknown store (not in stores.csv)": 1}
    later = outcomes["pos/pos_20250302_S001.csv"]
    assert (later.rows_loaded, later.rows_quarantined) == (1, 1)
    assert "already loaded from another file" in next(iter(later.reason_counts))


def test_same_file_twice_is_a_no_op_and_a_correction_replaces_its_rows(env):
    landing, con, ingest, _ = env
    path = write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER +
                 "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n"
                 "A1,2,S001,2025-03-01 10:00:00,,SKU1,护肤,1,7.00,0,7.00,\n")
    assert [o.action for o in ingest("pos_lines")] == ["loaded"]
    snapshot = con.execute("SELECT * FROM raw.pos_lines ORDER BY ALL").fetchall()
    assert [o.action for o in ingest("pos_lines")] == ["unchanged"]
    assert con.execute("SELECT * FROM raw.pos_lines ORDER BY ALL").fetchall() == snapshot
    assert con.execute("SELECT count(*) FROM raw.ingested_files WHERE source='pos_lines'").fetchall() == [(1,)]

    write(path, POS_HEADER + "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,9.00,0,9.00,\n")
    [outcome] = ingest("pos_lines")
    assert outcome.action == "corrected"
    assert con.execute("SELECT sum(net_amount) FROM raw.pos_lines").fetchall()[0][0] == 9
    statuses = con.execute("SELECT status, replaces_sha256 IS NOT NULL FROM raw.ingested_files "
                           "WHERE source='pos_lines' ORDER BY loaded_at").fetchall()
    assert statuses == [("superseded", False), ("loaded", True)]


def test_same_content_under_a_new_name_is_not_counted_twice(env):
    landing, con, ingest, _ = env
    body = POS_HEADER + "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n"
    write(landing / "pos" / "pos_20250301_S001.csv", body)
    write(landing / "pos" / "pos_20250302_S001.csv", body)
    actions = {o.file_label: o.action for o in ingest("pos_lines")}
    assert actions == {"pos/pos_20250301_S001.csv": "loaded", "pos/pos_20250302_S001.csv": "rejected"}
    assert con.execute("SELECT count(*) FROM raw.pos_lines").fetchall() == [(1,)]


def test_unreadable_files_are_rejected_whole_and_others_still_load(env):
    landing, con, ingest, tmp = env
    write(landing / "pos" / "pos_20250301_S001.csv", "txn_id,line_no\nA1,1\n")  # columns missing
    (landing / "pos" / "pos_20250302_S001.csv").write_bytes(b"\xff\xfe\x00garbage\x81")
    write(landing / "pos" / "pos_20250303_S001.csv", POS_HEADER +
          "A3,1,S001,2025-03-03 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    outcomes = {o.file_label: o for o in ingest("pos_lines")}
    assert "required column(s) missing: store_id" in outcomes["pos/pos_20250301_S001.csv"].reason
    assert outcomes["pos/pos_20250302_S001.csv"].action == "rejected"
    assert "cannot decode" in outcomes["pos/pos_20250302_S001.csv"].reason
    assert outcomes["pos/pos_20250303_S001.csv"].action == "loaded"
    assert (tmp / "quarantine" / "files" / "pos" / "pos_20250301_S001.csv").exists()


def test_gb18030_and_chinese_headers(env):
    landing, con, ingest, _ = env
    header = "交易号,行号,门店,交易时间,会员卡号,商品编码,品类,数量,单价,折扣,实收金额,原交易号\n"
    write(landing / "pos" / "pos_20250301_S001.csv",
          header + "A1,1,S001,2025-03-01 10:00:00,,SKU1,彩妆,1,5.00,0,5.00,\n", encoding="gb18030")
    [outcome] = ingest("pos_lines")
    assert outcome.rows_loaded == 1
    assert con.execute("SELECT category FROM raw.pos_lines").fetchall() == [("彩妆",)]


def test_files_after_the_as_of_day_are_left_alone(env):
    landing, con, ingest, _ = env
    for day in ("20250301", "20250302"):
        write(landing / "pos" / f"pos_{day}_S001.csv", POS_HEADER +
              f"A{day},1,S001,{day[:4]}-{day[4:6]}-{day[6:]} 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    from datetime import date
    assert [o.file_label for o in ingest("pos_lines", up_to=date(2025, 3, 1))] == ["pos/pos_20250301_S001.csv"]


def test_a_failure_mid_load_leaves_the_warehouse_as_it_was(env, monkeypatch):
    landing, con, ingest, tmp = env
    write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER +
          "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    before = {t: con.execute(f"SELECT count(*) FROM raw.{t}").fetchall()
              for t in ("pos_lines", "ingested_files", "quarantined_rows")}
    original = duckdb.DuckDBPyConnection.execute

    def failing_execute(self, sql, *args, **kwargs):
        if sql.startswith("INSERT INTO raw.ingested_files"):
            raise RuntimeError("simulated crash before the load record")
        return original(self, sql, *args, **kwargs)

    monkeypatch.setattr(duckdb.DuckDBPyConnection, "execute", failing_execute)
    with pytest.raises(RuntimeError):
        ingest("pos_lines")
    monkeypatch.setattr(duckdb.DuckDBPyConnection, "execute", original)
    after = {t: con.execute(f"SELECT count(*) FROM raw.{t}").fetchall() for t in before}
    assert after == before
    assert [o.action for o in ingest("pos_lines")] == ["loaded"]
    assert con.execute("SELECT count(*) FROM raw.pos_lines").fetchall() == [(1,)]


def test_keys_loaded_by_an_earlier_run_are_cross_file_duplicates(env):
    from datetime import date

    landing, con, ingest, _ = env
    write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER +
          "A1,1,S001,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    assert [o.action for o in ingest("pos_lines", up_to=date(2025, 3, 1))] == ["loaded"]
    # the same line re-sent in another store file of the same day, in a later run
    write(landing / "pos" / "pos_20250301_S002.csv", POS_HEADER +
          "A1,1,S002,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n"
          "A2,1,S002,2025-03-01 10:00:00,,SKU1,护肤,1,5.00,0,5.00,\n")
    by_file = {o.file_label: o for o in ingest("pos_lines", up_to=date(2025, 3, 1))}
    later = by_file["pos/pos_20250301_S002.csv"]
    assert (later.rows_loaded, later.rows_quarantined) == (1, 1)
    assert later.reason_counts == {"duplicate key (txn_id, line_no) already loaded from another file": 1}
    assert con.execute("SELECT count(*) FROM raw.pos_lines").fetchall() == [(2,)]
