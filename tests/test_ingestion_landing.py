"""Where files land: a missing landing directory is an error that names it; a missing
source folder inside it is an ordinary "no files of that source yet"."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from ingestion.contract import SOURCES
from ingestion.load import LandingDirectoryMissing, ingest_source
from ingestion.sink import WarehouseSink
from ingestion.watch import scan_landing
from orchestration.cli import main as loyalty

DAY = "2025-03-01"


def test_run_with_a_missing_landing_directory_fails_and_names_it(tmp_path, monkeypatch, capsys):
    nowhere = tmp_path / "landing-typo"
    data_dir = tmp_path / "data"
    monkeypatch.setenv("LOYALTY_LANDING_DIR", str(nowhere))
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(data_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.delenv("LOYALTY_PROGRAM", raising=False)

    assert loyalty(["run", "--as-of", DAY]) == 1
    err = capsys.readouterr().err
    assert f"landing directory {nowhere} does not exist" in err
    assert "STEP FAILED raw__stores" in err and "did not publish" in err
    assert not (data_dir / "outbox" / DAY).exists()
    assert not (data_dir / "warehouse.duckdb").exists()  # failed before touching the warehouse
    with dg.DagsterInstance.get() as instance:  # a wrong path is not retried
        [run] = instance.get_runs()
        events = {r.event_log_entry.dagster_event.event_type for r in instance.get_records_for_run(run.run_id).records
                  if r.event_log_entry.dagster_event is not None}
    assert dg.DagsterEventType.STEP_FAILURE in events
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events


def test_a_landing_path_that_is_a_file_is_named_too(tmp_path):
    not_a_dir = tmp_path / "landing"
    not_a_dir.write_text("oops")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    with pytest.raises(LandingDirectoryMissing, match=f"landing directory {not_a_dir} is not a directory"):
        ingest_source(WarehouseSink(con, tmp_path / "lake"), not_a_dir, SOURCES[0], None,
                      quarantine_dir=tmp_path / "q")


def test_the_sensor_names_a_missing_landing_directory(tmp_path):
    with pytest.raises(LandingDirectoryMissing, match="does not exist"):
        scan_landing(tmp_path / "nowhere", None, first_day=date(2025, 1, 1), latest_day=date(2025, 3, 1))


def test_a_missing_source_folder_means_no_files_of_that_source(tmp_path):
    landing = tmp_path / "landing"
    (landing / "reference").mkdir(parents=True)
    (landing / "reference" / "stores.csv").write_text(
        "store_id,name,city,opened_on,closed_on\nS001,一店,上海,2020-01-01,\n", encoding="utf-8")
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    sink = WarehouseSink(con, tmp_path / "lake")
    outcomes = {s.name: ingest_source(sink, landing, s, date(2025, 3, 1), quarantine_dir=tmp_path / "q")
                for s in SOURCES}
    assert [o.action for o in outcomes["stores"]] == ["loaded"]
    assert {name: o for name, o in outcomes.items() if name not in ("stores", "products")} == {
        "members": [], "pos_lines": [], "redemptions": [], "adjustments": []}
    assert scan_landing(landing, None, first_day=date(2025, 1, 1), latest_day=date(2025, 3, 1)).waiting == [
        "reference/stores.csv"]
