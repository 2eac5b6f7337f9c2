"""The landing sensor: stable-file rule, .done markers, one run per file version, snapshots."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import dagster as dg

from ingestion.watch import scan_landing

FIRST, LATEST = date(2025, 1, 1), date(2025, 3, 31)
POS = "txn_id,line_no,store_id,txn_ts,card_no,sku,category,qty,unit_price,discount,net_amount\n"


def put(landing: Path, rel: str, text: str, mtime: int | None = None) -> Path:
    path = landing / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    if mtime is not None:
        os.utime(path, ns=(mtime, mtime))
    return path


def tick(landing: Path, cursor: str | None):
    return scan_landing(landing, cursor, first_day=FIRST, latest_day=LATEST)


def test_a_file_triggers_its_day_once_after_two_stable_ticks(tmp_path):
    put(tmp_path, "pos/pos_20250301_S001.csv", POS + "a\n", mtime=10**18)
    first = tick(tmp_path, None)
    assert first.partitions == {} and first.waiting == ["pos/pos_20250301_S001.csv"]
    second = tick(tmp_path, first.cursor)
    assert second.partitions == {"2025-03-01": ["pos/pos_20250301_S001.csv"]}
    third = tick(tmp_path, second.cursor)
    assert third.partitions == {} and third.waiting == []


def test_a_file_still_growing_waits(tmp_path):
    path = put(tmp_path, "pos/pos_20250301_S001.csv", POS, mtime=10**18)
    cursor = tick(tmp_path, None).cursor
    put(tmp_path, "pos/pos_20250301_S001.csv", POS + "more\n", mtime=10**18 + 5)  # still being written
    result = tick(tmp_path, cursor)
    assert result.partitions == {} and result.waiting == ["pos/pos_20250301_S001.csv"]
    assert tick(tmp_path, result.cursor).partitions == {"2025-03-01": [path.relative_to(tmp_path).as_posix()]}


def test_a_done_marker_triggers_at_once(tmp_path):
    put(tmp_path, "members/members_20250302.csv", "member_id\n")
    put(tmp_path, "members/members_20250302.csv.done", "")
    assert tick(tmp_path, None).partitions == {"2025-03-02": ["members/members_20250302.csv"]}


def test_a_correction_triggers_again_a_touch_does_not(tmp_path):
    put(tmp_path, "pos/pos_20250301_S001.csv", POS + "a\n", mtime=10**18)
    cursor = tick(tmp_path, tick(tmp_path, None).cursor).cursor
    put(tmp_path, "pos/pos_20250301_S001.csv", POS + "a\n", mtime=10**18 + 1)  # same bytes, touched
    cursor = tick(tmp_path, tick(tmp_path, cursor).cursor).cursor
    put(tmp_path, "pos/pos_20250301_S001.csv", POS + "b\n", mtime=10**18 + 2)  # corrected content
    waiting = tick(tmp_path, cursor)
    assert waiting.partitions == {}
    assert tick(tmp_path, waiting.cursor).partitions == {"2025-03-01": ["pos/pos_20250301_S001.csv"]}


def test_late_files_request_their_own_day_and_snapshots_the_latest(tmp_path):
    put(tmp_path, "pos/pos_20250310_S001.csv", POS, mtime=10**18)
    cursor = tick(tmp_path, tick(tmp_path, None).cursor).cursor
    put(tmp_path, "pos/pos_20250105_S002.csv", POS, mtime=10**18)  # late: an old day
    put(tmp_path, "reference/stores.csv", "store_id\n", mtime=10**18)
    put(tmp_path, "pos/pos_20260101_S001.csv", POS, mtime=10**18)  # after the last partition
    put(tmp_path, "pos/notes.txt", "not a landing file")
    result = tick(tmp_path, tick(tmp_path, cursor).cursor)
    assert result.partitions == {"2025-01-05": ["pos/pos_20250105_S002.csv"],
                                 LATEST.isoformat(): ["reference/stores.csv"]}
    assert "pos/pos_20260101_S001.csv" in result.ignored
    assert "pos/pos_20260101_S001.csv" not in json.loads(result.cursor)["done"]  # retried later


def test_the_dagster_sensor_requests_daily_pipeline_partitions(tmp_path, monkeypatch):
    from orchestration.defs.sensors import landing_sensor

    monkeypatch.setenv("LOYALTY_LANDING_DIR", str(tmp_path))
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(tmp_path / "data"))
    put(tmp_path, "pos/pos_20250301_S001.csv", POS + "a\n")
    put(tmp_path, "pos/pos_20250301_S002.csv", POS + "b\n")
    first = landing_sensor(dg.build_sensor_context(cursor=None))
    assert first.run_requests == []
    second = landing_sensor(dg.build_sensor_context(cursor=first.cursor))
    [request] = second.run_requests
    assert request.partition_key == "2025-03-01"
    assert request.tags["loyalty/files"] == "pos/pos_20250301_S001.csv,pos/pos_20250301_S002.csv"
    third = landing_sensor(dg.build_sensor_context(cursor=second.cursor))
    assert third.run_requests == []
