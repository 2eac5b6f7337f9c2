"""A load killed mid-transaction (SIGKILL, no cleanup) leaves the warehouse as it was
before that batch of files, and the retry loads every file exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from ingestion.contract import SOURCES_BY_NAME
from ingestion.load import ingest_source
from ingestion.sink import WarehouseSink

REPO = Path(__file__).resolve().parent.parent
POS_HEADER = "txn_id,line_no,store_id,txn_ts,card_no,sku,category,qty,unit_price,discount,net_amount\n"
TABLES = ("pos_lines", "ingested_files", "quarantined_rows", "extra_columns")

CHILD = """
import sys, time
from pathlib import Path
import duckdb
import ingestion.sink as sink_module
from ingestion.contract import SOURCES_BY_NAME
from ingestion.load import ingest_source

work = Path(sys.argv[1])
def stop_here(stage):
    if stage == "rows_inserted":
        (work / "inside_transaction").write_text("1")
        time.sleep(120)  # killed here
sink_module._fault_point = stop_here
con = duckdb.connect(str(work / "w.duckdb"))
sink = sink_module.WarehouseSink(con, work / "lake")
ingest_source(sink, work / "landing", SOURCES_BY_NAME["pos_lines"], None, quarantine_dir=work / "q")
"""


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def lines(day: str, store: str, n: int, bad: int = 0) -> str:
    iso = f"{day[:4]}-{day[4:6]}-{day[6:]}"
    rows = [f"{store}-{day}-{i},1,{store},{iso} 10:00:00,,SKU1,护肤,1,5.00,0,{'9.99' if i < bad else '5.00'}"
            for i in range(n)]
    return POS_HEADER + "\n".join(rows) + "\n"


def snapshot(con) -> dict:
    return {t: con.execute(f"SELECT * EXCLUDE (loaded_at) FROM raw.{t} ORDER BY ALL" if t == "ingested_files"
                           else f"SELECT * FROM raw.{t} ORDER BY ALL").fetchall() for t in TABLES}


def test_killed_mid_load_then_retried_loads_exactly_once(tmp_path):
    landing = tmp_path / "landing"
    write(landing / "reference" / "stores.csv", "store_id,name,city,opened_on,closed_on\nS001,a,b,2020-01-01,\n"
                                                "S002,a,b,2020-01-01,\n")
    write(landing / "pos" / "pos_20250301_S001.csv", lines("20250301", "S001", 50))
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")
    ingest_source(sink, landing, SOURCES_BY_NAME["stores"], None, quarantine_dir=tmp_path / "q")
    ingest_source(sink, landing, SOURCES_BY_NAME["pos_lines"], None, quarantine_dir=tmp_path / "q")
    before = snapshot(con)
    con.close()

    # day 2 arrives, and a correction of day 1; the load is killed inside its transaction
    write(landing / "pos" / "pos_20250302_S001.csv", lines("20250302", "S001", 200, bad=3))
    write(landing / "pos" / "pos_20250302_S002.csv", lines("20250302", "S002", 100))
    write(landing / "pos" / "pos_20250301_S001.csv", lines("20250301", "S001", 40))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path)], cwd=REPO,
                             env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.time() + 60
    while not (tmp_path / "inside_transaction").exists():
        assert child.poll() is None, "the loader ended before reaching the fault point"
        assert time.time() < deadline
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()

    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    assert snapshot(con) == before  # the killed batch left no trace
    assert not (tmp_path / "lake" / "pos_lines" / "business_day=2025-03-02").exists()

    sink = WarehouseSink(con, tmp_path / "lake")
    outcomes = {o.file_label: o.action for o in ingest_source(
        sink, landing, SOURCES_BY_NAME["pos_lines"], None, quarantine_dir=tmp_path / "q")}
    assert outcomes == {"pos/pos_20250301_S001.csv": "corrected", "pos/pos_20250302_S001.csv": "loaded",
                        "pos/pos_20250302_S002.csv": "loaded"}
    assert con.execute("SELECT _source_file, count(*), count(DISTINCT (txn_id, line_no)) FROM raw.pos_lines "
                       "GROUP BY 1 ORDER BY 1").fetchall() == [
        ("pos/pos_20250301_S001.csv", 40, 40), ("pos/pos_20250302_S001.csv", 197, 197),
        ("pos/pos_20250302_S002.csv", 100, 100)]
    assert con.execute("SELECT count(*) FROM raw.quarantined_rows").fetchall() == [(3,)]
    assert con.execute("SELECT status, count(*) FROM raw.ingested_files GROUP BY 1 ORDER BY 1").fetchall() == [
        ("loaded", 4), ("superseded", 1)]
    # and a third run is a no-op
    again = ingest_source(sink, landing, SOURCES_BY_NAME["pos_lines"], None, quarantine_dir=tmp_path / "q")
    assert {o.action for o in again} == {"unchanged"}
    con.close()
