"""A line with more or fewer fields than the header is a bad row, not a bad file (issue 13,
item 2): it is quarantined with its row number, its text as it arrived and the field counts;
the rest of the file loads and rows read = loaded + quarantined. Only text that cannot be
read at all (bad quoting) still rejects the file."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from ingestion.contract import SOURCES_BY_NAME
from ingestion.load import ingest_source
from ingestion.sink import WarehouseSink

POS_HEADER = "txn_id,line_no,store_id,txn_ts,card_no,sku,category,qty,unit_price,discount,net_amount,original_txn_id\n"
STORES = "store_id,name,city,opened_on,closed_on\nS001,一店,上海,2020-01-01,\nS002,二店,杭州,2020-01-01,\n"
DAY = "2025-03-01"


def line(txn: str, store: str = "S001", category: str = "护肤") -> str:
    return f"{txn},1,{store},{DAY} 10:00:00,8800000000001,SKU1,{category},2,50.00,5.00,95.00,"


def with_fields(text: str, fields: int) -> str:
    """The line cut to `fields` fields, or padded with empty ones (unquoted commas)."""
    cells = text.split(",")
    return ",".join(cells[:fields]) if fields <= len(cells) else text + "," * (fields - len(cells))


# The case: one line of 14 fields (two extra) and one of 9, in an otherwise good file.
LONG = with_fields(line("T2"), 14)
SHORT = with_fields(line("T4"), 9)
RAGGED_FILE = "\n".join([line("T1"), LONG, line("T3"), SHORT, line("T5")]) + "\n"
# The same in a file that quotes: a quoted comma and a quoted newline in good rows, and the
# long line's extra fields after a quoted comma (field counting must respect the quotes).
QUOTED_LONG = line("Q2", "S002", '"护肤,彩妆"') + ",,"  # 12 fields (one quoted comma) + 2
QUOTED_FILE = "\n".join([
    line("Q1", "S002", '"护肤,彩妆"'),
    QUOTED_LONG,
    line("Q3", "S002", '"两行\n品类"'),
    with_fields(line("Q4", "S002"), 9),
    line("Q5", "S002"),
]) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def landing(tmp_path) -> Path:
    root = tmp_path / "landing"
    write(root / "reference" / "stores.csv", STORES)
    return root


def materialize_pos(landing: Path, data_dir: Path) -> dg.ExecuteInProcessResult:
    """raw/stores and raw/pos_lines with their checks, through Dagster, as a run does."""
    from orchestration.defs.ingest.assets import ingest_assets, ingest_checks
    from orchestration.defs.resources import WarehouseResource

    wanted = {dg.AssetKey(["raw", "stores"]), dg.AssetKey(["raw", "pos_lines"])}
    return dg.materialize(
        [*[a for a in ingest_assets if a.key in wanted],
         *[c for c in ingest_checks if next(iter(c.check_keys)).asset_key in wanted]],
        partition_key=DAY, raise_on_error=False,
        resources={"warehouse": WarehouseResource(landing_dir=str(landing), data_dir=str(data_dir))})


def quarantined(con, file_name: str) -> list[tuple[int, str, str]]:
    return con.execute("SELECT row_number, reasons, raw_row FROM raw.quarantined_rows WHERE file_name = ? "
                       "ORDER BY row_number", [file_name]).fetchall()


@pytest.mark.parametrize("name, text, good, bad", [
    # unquoted: parsed with another good file as one buffer (the grouped fast path)
    ("pos_20250301_S001.csv", RAGGED_FILE, ["T1", "T3", "T5"], {2: LONG, 4: SHORT}),
    # quoted cells: parsed on its own
    ("pos_20250301_S002.csv", QUOTED_FILE, ["Q1", "Q3", "Q5"],
     {2: QUOTED_LONG, 4: with_fields(line("Q4", "S002"), 9)}),
])
def test_ragged_lines_are_quarantined_and_the_rest_of_the_file_loads(landing, tmp_path, name, text, good, bad):
    write(landing / "pos" / name, POS_HEADER + text)
    other_store = "S002" if name.endswith("S001.csv") else "S001"
    write(landing / "pos" / f"pos_20250301_{other_store}.csv", POS_HEADER + line("G1", other_store) + "\n")
    result = materialize_pos(landing, tmp_path / "data")
    assert result.success
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()
              if e.asset_key == dg.AssetKey(["raw", "pos_lines"])}
    assert checks["reconciliation"].passed and checks["no_rejected_files"].passed
    assert checks["ge_batch"].passed
    [mat] = result.asset_materializations_for_node("raw__pos_lines")
    assert mat.metadata["files_rejected"].value == 0
    assert mat.metadata["quarantine_reasons"].value == {
        "row: 14 fields, header has 12": 1, "row: 9 fields, header has 12": 1}

    label = f"pos/{name}"
    with duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb"), read_only=True) as con:
        status, read, loaded, bad_rows = con.execute(
            "SELECT status, rows_read, rows_loaded, rows_quarantined FROM raw.ingested_files "
            "WHERE file_name = ?", [label]).fetchall()[0]
        assert (status, read, loaded, bad_rows) == ("loaded", 5, 3, 2)
        assert [t for (t,) in con.execute("SELECT txn_id FROM raw.pos_lines WHERE _source_file = ? "
                                          "ORDER BY _row_number", [label]).fetchall()] == good
        rows = quarantined(con, label)
    # row 2 of the data (line 3 of the file): the long one; row 4: the short one; each with its
    # field counts as the only reason and its text exactly as it arrived
    assert [(r, why) for r, why, _ in rows] == [
        (2, "row: 14 fields, header has 12"), (4, "row: 9 fields, header has 12")]
    assert {r: json.loads(raw)["_line"] for r, _, raw in rows} == bad
    report = pl.read_csv(tmp_path / "data" / "quarantine" / "rows" / "pos" / f"{name}.quarantine.csv")
    assert report.select("row_number", "reasons").rows() == [(r, why) for r, why, _ in rows]
    assert [json.loads(raw)["_line"] for raw in report["raw_row"]] == [bad[2], bad[4]]


def test_ragged_lines_whose_comma_counts_balance_are_still_found(landing, tmp_path):
    """+2 fields on one line and -2 on another: the file's total comma count is right, the rows are not."""
    label = "pos/pos_20250301_S001.csv"
    write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER + "\n".join(
        [line("T1"), with_fields(line("T2"), 14), with_fields(line("T3"), 10), line("T4")]) + "\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")
    for source in ("stores", "pos_lines"):
        ingest_source(sink, landing, SOURCES_BY_NAME[source], None, quarantine_dir=tmp_path / "q")
    assert [(r, why) for r, why, _ in quarantined(con, label)] == [
        (2, "row: 14 fields, header has 12"), (3, "row: 10 fields, header has 12")]
    assert con.execute("SELECT txn_id FROM raw.pos_lines ORDER BY txn_id").fetchall() == [("T1",), ("T4",)]


def test_a_ragged_line_claims_no_key(landing, tmp_path):
    """The good copy of a line loads even when a misread copy of it comes first."""
    write(landing / "pos" / "pos_20250301_S001.csv", POS_HEADER + "\n".join(
        [with_fields(line("T1"), 13), line("T1")]) + "\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")
    for source in ("stores", "pos_lines"):
        [*_, outcome] = ingest_source(sink, landing, SOURCES_BY_NAME[source], None, quarantine_dir=tmp_path / "q")
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (2, 1, 1)
    assert outcome.reason_counts == {"row: 13 fields, header has 12": 1}


def test_text_that_cannot_be_read_still_rejects_the_file(landing, tmp_path):
    """An unbalanced quote makes the rest of the file unreadable: rejected whole, as before."""
    write(landing / "pos" / "pos_20250301_S001.csv",
          POS_HEADER + line("T1") + "\n" + line("T2", category='"护肤') + "\n" + line("T3") + "\n")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")
    ingest_source(sink, landing, SOURCES_BY_NAME["stores"], None, quarantine_dir=tmp_path / "q")
    [outcome] = ingest_source(sink, landing, SOURCES_BY_NAME["pos_lines"], None, quarantine_dir=tmp_path / "q")
    assert outcome.action == "rejected" and "not a well-formed CSV file" in outcome.reason
    assert con.execute("SELECT count(*) FROM raw.pos_lines").fetchall() == [(0,)]
