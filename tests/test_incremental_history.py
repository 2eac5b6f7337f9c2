"""Incremental equals full refresh over a wide history (issue 11).

The marts' hand-made chain (tests/test_dbt_marts.py: redemptions, an adjustment, a return after
a redemption, a member who moves) plus:
  I   returns 100 of A's triple-points purchase TA3 (a return whose original is another member's):
      the return takes TA3's multiplier 3, so I's ledger has -30 on the day after;
  J   born on 29 February, activated: a purchase of 100 in February 2026 earns 100 / 10 x 2 = 20;
  K   a late member file: K's card CK bought on 2025-08-01 and 2026-01-05 before K's member row
      (joined 2025-04-01) landed on 2026-02-03: both purchases become K's;
  S2  a store that opens on 2025-09-01; S3 a store that closes after 2025-11-30;
  TA2 a corrected old POS file: A's 1000 on 2025-03-01 re-delivered as 2000.
One warehouse is built day by day across month-ends (2025-12-31, the first of January, mid
January, a late member file, a correction, back to an earlier day and forward again); after every
step each table of intermediate, marts and restricted equals a --full-refresh build of a copy.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from ingestion.contract import ADJUSTMENTS, MEMBERS, POS_LINES, PRODUCTS, REDEMPTIONS, STORES, create_raw_schema
from tests.test_dbt_marts import (ADJUSTMENT_ROWS, MEMBER_ROWS, POS_ROWS, PRODUCT_ROWS, REDEMPTION_ROWS,
                                  STORE_ROWS, _line, _member)
from tests.test_dbt_rules import _insert
from tests.test_incremental import _assert_equals_full_refresh, _execute, _run


def _store(store_id: str, opened: str, closed: str | None, row: int) -> dict:
    return {"store_id": store_id, "name": f"门店{store_id}", "city": "Shanghai", "opened_on": opened,
            "closed_on": closed, "business_day": None, "_source_file": "reference/stores.csv", "_row_number": row}


def _at(store: str, line: dict) -> dict:
    day = line["business_day"]
    return {**line, "store_id": store, "_source_file": f"pos/pos_{day.replace('-', '')}_{store}.csv"}


EXTRA_MEMBERS = [
    _member("I", "2025-02-01", name="周九", mobile="13800000009"),
    _member("J", "2025-02-01", name="吴十", mobile="13800000010", birth="2000-02-29"),
]
LATE_MEMBER = _member("K", "2025-04-01", name="郑十一", mobile="13800000011", updated="2026-02-03")
EXTRA_LINES = [
    _line("TI1", "2025-10-05", "CI", -100.00, original="TA3"),
    _line("TJ1", "2026-02-02", "CJ", 100.00),
    _at("S2", _line("TS2", "2025-09-01", "CI", 60.00)),   # S2 opens
    _at("S2", _line("TS3", "2026-01-15", "CI", 70.00)),
    _at("S3", _line("TS4", "2025-11-30", "CJ", 80.00)),   # S3's last day
    _line("TK1", "2025-08-01", "CK", 300.00),
    _line("TK2", "2026-01-05", "CK", 200.00),
]


def _warehouse(data_dir: Path) -> Path:
    path = data_dir / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        create_raw_schema(con)
        stores = STORE_ROWS + [_store("S2", "2025-09-01", None, 2), _store("S3", "2020-01-01", "2025-11-30", 3)]
        for source, rows in [(STORES, stores), (PRODUCTS, PRODUCT_ROWS), (MEMBERS, MEMBER_ROWS + EXTRA_MEMBERS),
                             (POS_LINES, POS_ROWS + EXTRA_LINES), (REDEMPTIONS, REDEMPTION_ROWS),
                             (ADJUSTMENTS, ADJUSTMENT_ROWS)]:
            _insert(con, source, rows)
    finally:
        con.close()
    _record_files(path, "1 day")
    return path


def _record_files(path: Path, delay: str) -> None:
    """A load record per landed file not recorded yet, loaded `delay` after its business day."""
    parts = " union all ".join(
        f"select distinct _source_file, '{source}' as source, business_day from raw.{source}"
        for source in ("pos_lines", "members", "redemptions", "adjustments"))
    _execute(path, f"""
        insert into raw.ingested_files (file_name, source, business_day, sha256, size_bytes, status,
                                        rows_read, rows_loaded, rows_quarantined, loaded_at)
        select files._source_file, files.source, files.business_day, 'sha-' || files._source_file, 1, 'loaded',
               1, 1, 0, cast(files.business_day as timestamp) + interval '{delay}'
        from ({parts}) as files
        where not exists (select 1 from raw.ingested_files as known where known.file_name = files._source_file)""")


def _ledger(path: Path, member: str) -> list[tuple]:
    return _execute(path, "select entry_date::varchar, entry_type, points, source_id, multiplier::double "
                          "from marts.fct_points_ledger where member_id = ? order by all", [member])


@pytest.mark.slow  # its own CI step (make test-slow): fourteen dbt builds
def test_incremental_equals_full_refresh_over_a_wide_history(tmp_path):
    data_dir = tmp_path / "inc"
    data_dir.mkdir()
    path = _warehouse(data_dir)

    # across month-ends: the last day of a month, the first of the next, mid-month
    for as_of in ("2025-12-31", "2026-01-01", "2026-01-15"):
        assert not _run(data_dir, as_of)
        _assert_equals_full_refresh(tmp_path, data_dir, as_of)
    assert ("2025-10-06", "return", -30, "TI1", 3.0) in _ledger(path, "I"), "the original's multiplier"
    assert not any(entry[3] == "J1" for entry in _ledger(path, "A")), "the adjustment is dated 2026-01-30"
    assert _execute(path, "select count(distinct store_id) from marts.fct_sales_lines "
                          "where sales_day > date '2025-11-30' and store_id = 'S3'") == [(0,)]

    # a late member file: K's row lands on 2026-02-03 (joined 2025-04-01)
    con = duckdb.connect(str(path))
    try:
        _insert(con, MEMBERS, [LATE_MEMBER])
    finally:
        con.close()
    _record_files(path, "1 day")
    assert not _run(data_dir, "2026-02-03")
    tables = _assert_equals_full_refresh(tmp_path, data_dir, "2026-02-03")
    assert {row[6] for row in tables["marts.fct_sales_lines"] if row[5] == "CK"} == {"K"}
    assert any(entry[3] == "J1" for entry in _ledger(path, "A"))

    # a corrected old POS file: A's 1000 on 2025-03-01 re-delivered as 2000
    _execute(path, """
        update raw.pos_lines set net_amount = 2000, unit_price = 2000 where txn_id = 'TA2';
        update raw.ingested_files set status = 'superseded' where file_name = 'pos/pos_20250301_S1.csv';
        insert into raw.ingested_files (file_name, source, business_day, sha256, size_bytes, status,
                                        rows_read, rows_loaded, rows_quarantined, replaces_sha256, loaded_at)
        values ('pos/pos_20250301_S1.csv', 'pos_lines', date '2025-03-01', 'sha-corrected', 1, 'loaded',
                1, 1, 0, 'sha-pos/pos_20250301_S1.csv', timestamp '2026-02-05 01:00:00')""")
    assert not _run(data_dir, "2026-02-04")
    _assert_equals_full_refresh(tmp_path, data_dir, "2026-02-04")
    assert ("2026-02-02", "earn", 20, "TJ1", 2.0) in _ledger(path, "J"), "a 29 February birthday in February"
    assert ("2025-03-01", "earn", 600, "TA2", 3.0) in _ledger(path, "A"), "the corrected amount, queen x3"

    # back to an earlier day (a full rebuild), then forward again
    assert _run(data_dir, "2026-01-20")
    _assert_equals_full_refresh(tmp_path, data_dir, "2026-01-20")
    assert not _run(data_dir, "2026-02-04")
    _assert_equals_full_refresh(tmp_path, data_dir, "2026-02-04")
