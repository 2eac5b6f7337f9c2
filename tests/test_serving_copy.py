"""The serving copy is refreshed incrementally and still equals a full copy of the marts."""

from __future__ import annotations

import os
import shutil
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.defs.publish.assets import serving_copy
from orchestration.serving import refresh_serving_copy
from orchestration.defs.resources import WarehouseResource

D1, D2, D3, D4 = (date(2025, 1, day) for day in (1, 2, 3, 4))
SERVING_ENTRIES = ["marts.duckdb", "marts.state.json", "parquet", "parquet.versions"]
SERVING_ENTRIES_WITH_SPARE = ["marts.changes.json", "marts.duckdb", "marts.spare.duckdb", "marts.spare.state.json",
                              "marts.state.json", "parquet", "parquet.versions"]


def _sql(path: Path, *statements: str) -> None:
    with duckdb.connect(str(path)) as con:
        for statement in statements:
            con.execute(statement)


def _tables(con: duckdb.DuckDBPyConnection, database: str, schema: str) -> dict:
    """table -> (column names and types, sorted rows) of a schema's base tables."""
    names = [r[0] for r in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = ?",
        [database, schema]).fetchall()]
    return {name: ([column[:2] for column in con.execute(f'DESCRIBE {database}.{schema}."{name}"').fetchall()],
                   con.execute(f'SELECT * FROM {database}.{schema}."{name}" ORDER BY ALL').fetchall())
            for name in names}


def _assert_copy_equals_marts(warehouse: Path, serving: Path) -> None:
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        con.execute(f"ATTACH '{serving}' AS s (READ_ONLY)")
        assert _tables(con, "s", "main") == _tables(con, "w", "marts")
        assert {r[0] for r in con.execute(
            "SELECT DISTINCT schema_name FROM duckdb_tables() WHERE database_name = 's'").fetchall()} == {"main"}


def _log_build(path: Path, as_of: date, loaded_through: str, days: list, previous: tuple | None) -> None:
    """What a successful dbt build leaves in meta: its log row, its scope and its changed days."""
    prev_as_of, prev_loaded = previous if previous else (None, None)
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS meta")
        con.execute("CREATE TABLE IF NOT EXISTS meta.build_log (as_of_date DATE, loaded_through TIMESTAMP, "
                    "program_json VARCHAR, finished_at TIMESTAMP)")
        con.execute("INSERT INTO meta.build_log VALUES (?, ?, '{}', TIMESTAMP '2030-01-01' + to_seconds(?))",
                    [as_of, loaded_through, con.execute("SELECT count(*) FROM meta.build_log").fetchall()[0][0]])
        con.execute("CREATE OR REPLACE TABLE meta.int_build_scope AS SELECT ?::DATE AS as_of_date, "
                    "?::TIMESTAMP AS loaded_through, ?::DATE AS previous_as_of_date, "
                    "?::TIMESTAMP AS previous_loaded_through", [as_of, loaded_through, prev_as_of, prev_loaded])
        con.execute("CREATE OR REPLACE TABLE meta.int_days_to_rebuild (business_day DATE)")
        for day in days:
            con.execute("INSERT INTO meta.int_days_to_rebuild VALUES (?)", [day])


@pytest.fixture
def warehouse(tmp_path) -> Path:
    """A fact with business_day (three days), a dimension, a table to be dropped, PII outside marts,
    and the record of the build that made them."""
    path = tmp_path / "warehouse.duckdb"
    _sql(path,
         "CREATE SCHEMA marts", "CREATE SCHEMA restricted",
         "CREATE TABLE restricted.member_pii AS SELECT 'M1' AS member_id, 'Li Lei' AS name",
         """CREATE TABLE marts.fct_sales_lines AS
            SELECT 'T' || d || '-' || i AS txn_id, i::INTEGER AS line_no, 'M' || (i % 3) AS member_id,
                   (i * 1.25)::DECIMAL(14, 2) AS net_amount, DATE '2025-01-01' + d::INTEGER AS business_day
            FROM range(3) AS r(d), range(4) AS s(i)""",
         "CREATE TABLE marts.dim_members AS SELECT 'M' || i AS member_id, 'silver' AS tier FROM range(3) AS r(i)",
         "CREATE TABLE marts.retired_mart AS SELECT 1 AS x",
         "CREATE VIEW marts.member_view AS SELECT * FROM marts.dim_members")
    _log_build(path, D3, "2025-01-04 06:00:00", [D1, D2, D3], None)
    return path


def test_incremental_refresh_recopies_only_the_changed_days(tmp_path, warehouse):
    serving_dir = tmp_path / "serving"
    serving = serving_dir / "marts.duckdb"

    first = refresh_serving_copy(warehouse, serving_dir)
    _assert_copy_equals_marts(warehouse, serving)
    assert first.counts == {"dim_members": 3, "fct_sales_lines": 12, "retired_mart": 1}
    assert first.tables_copied == ["dim_members", "fct_sales_lines", "retired_mart"]  # no copy yet
    assert first.days_recopied == {}

    unchanged = refresh_serving_copy(warehouse, serving_dir)  # no build since: nothing rewritten
    _assert_copy_equals_marts(warehouse, serving)
    assert unchanged.already_level and unchanged.tables_copied == [] and unchanged.days_recopied == {}
    assert unchanged.counts == first.counts

    # the next build: D4 is new, D1 restated (a member re-attributed), D2 lost its lines
    _sql(warehouse,
         "UPDATE marts.fct_sales_lines SET member_id = 'M9' WHERE business_day = DATE '2025-01-01' AND line_no = 2",
         "DELETE FROM marts.fct_sales_lines WHERE business_day = DATE '2025-01-02'",
         """INSERT INTO marts.fct_sales_lines
            SELECT 'T4-' || i, i, 'M1', 2.50, DATE '2025-01-04' FROM range(2) AS r(i)""",
         "UPDATE marts.dim_members SET tier = 'gold' WHERE member_id = 'M0'",
         "DROP TABLE marts.retired_mart",
         "CREATE TABLE marts.new_mart AS SELECT 42 AS answer")
    _log_build(warehouse, D4, "2025-01-05 06:00:00", [D1, D2, D4], (D3, "2025-01-04 06:00:00"))
    reader = duckdb.connect(str(serving), read_only=True)  # a BI tool with the old copy open
    try:
        changed = refresh_serving_copy(warehouse, serving_dir)
        assert reader.execute("SELECT count(*) FROM fct_sales_lines WHERE business_day = DATE '2025-01-02'"
                              ).fetchall() == [(4,)]
        assert reader.execute("SELECT tier FROM dim_members WHERE member_id = 'M0'").fetchall() == [("silver",)]
    finally:
        reader.close()
    _assert_copy_equals_marts(warehouse, serving)
    assert changed.days_recopied == {"fct_sales_lines": [D1, D2, D4]}  # D3 kept as it was
    assert changed.tables_copied == ["dim_members", "new_mart"]  # a tier changed; a new table
    assert changed.tables_unchanged == []
    assert changed.counts == {"dim_members": 3, "fct_sales_lines": 10, "new_mart": 1}

    # A changed column list cannot be patched per day: the table is copied whole.
    _sql(warehouse, "ALTER TABLE marts.fct_sales_lines ADD COLUMN store_id VARCHAR DEFAULT 'S1'")
    _log_build(warehouse, D4, "2025-01-05 07:00:00", [D4], (D4, "2025-01-05 06:00:00"))
    altered = refresh_serving_copy(warehouse, serving_dir)
    _assert_copy_equals_marts(warehouse, serving)
    # patched from the spare (the first build's copy, closed by its reader): the tables changed
    # since that build are copied too, and those the published copy had are linked in Parquet
    assert altered.from_spare
    assert altered.tables_copied == ["dim_members", "fct_sales_lines", "new_mart"]
    assert altered.parquet_unchanged == ["dim_members", "new_mart"]  # same content as the published copy's
    assert altered.days_recopied == {}
    assert sorted(p.name for p in serving_dir.iterdir()) == SERVING_ENTRIES_WITH_SPARE  # no leftovers


def test_a_copy_of_an_older_build_is_copied_whole(tmp_path, warehouse):
    """Two builds since the copy (the publish step failed once): the last build's changed days are
    not all that changed, so every table is copied whole."""
    serving_dir = tmp_path / "serving"
    refresh_serving_copy(warehouse, serving_dir)
    _sql(warehouse, "UPDATE marts.fct_sales_lines SET net_amount = 0 WHERE business_day = DATE '2025-01-01'")
    _log_build(warehouse, D4, "2025-01-05 06:00:00", [D1], (D3, "2025-01-04 06:00:00"))
    _log_build(warehouse, D4, "2025-01-05 07:00:00", [D4], (D4, "2025-01-05 06:00:00"))
    skipped_one = refresh_serving_copy(warehouse, serving_dir)
    assert "fct_sales_lines" in skipped_one.tables_copied
    _assert_copy_equals_marts(warehouse, serving_dir / "marts.duckdb")


def test_the_asset_reports_what_was_recopied(tmp_path, warehouse):
    resource = WarehouseResource(data_dir=str(tmp_path / "data"))
    (tmp_path / "data").mkdir()
    warehouse.rename(tmp_path / "data" / "warehouse.duckdb")

    def materialize() -> dict:
        result = dg.materialize([serving_copy], resources={"warehouse": resource}, partition_key="2025-01-03")
        assert result.success
        return result.asset_materializations_for_node("publish__serving_copy")[0].metadata

    first = materialize()
    assert first["tables_fully_copied"].value == 3
    assert first["business_days_recopied"].value == 0
    # a corrected file of 2025-01-03: the build rewrites the day
    _sql(tmp_path / "data" / "warehouse.duckdb",
         "UPDATE marts.fct_sales_lines SET net_amount = 0 WHERE business_day = DATE '2025-01-03'")
    _log_build(tmp_path / "data" / "warehouse.duckdb", D3, "2025-01-06 06:00:00", [D3], (D3, "2025-01-04 06:00:00"))
    second = materialize()
    assert second["tables_fully_copied"].value == 0
    assert second["tables_unchanged"].value == 2
    assert second["business_days_recopied"].value == 1
    assert second["recopied_days"].value == {"fct_sales_lines": ["2025-01-03"]}
    assert second["rows_per_table"].value == {"dim_members": 3, "fct_sales_lines": 12, "retired_mart": 1}


def test_whole_tables_are_recopied_only_when_their_content_changed(tmp_path, warehouse):
    """A table without business days is compared by content fingerprint (kept in the copied
    table's comment): one changed value, one row swapped for another or a copy without the
    comment gets it copied; an unchanged table stays, and its Parquet files are the published
    version's (hard links)."""
    serving_dir = tmp_path / "serving"
    refresh_serving_copy(warehouse, serving_dir)
    first_files = {p.name: p.stat().st_ino for p in (serving_dir / "parquet" / "dim_members").iterdir()}
    builds = iter(range(6, 12))

    def next_build(*statements: str):
        _sql(warehouse, *statements)
        build = (D4, f"2025-01-05 {next(builds):02d}:00:00")
        previous = _sql_rows(warehouse, "SELECT as_of_date, loaded_through::VARCHAR FROM meta.build_log "
                                        "ORDER BY finished_at DESC LIMIT 1")[0]
        _log_build(warehouse, build[0], build[1], [], previous)
        refreshed = refresh_serving_copy(warehouse, serving_dir)
        _assert_copy_equals_marts(warehouse, serving_dir / "marts.duckdb")
        return refreshed

    same = next_build()
    assert same.tables_copied == [] and same.tables_unchanged == ["dim_members", "retired_mart"]
    assert {p.name: p.stat().st_ino for p in (serving_dir / "parquet" / "dim_members").iterdir()} == first_files
    assert next_build("UPDATE marts.dim_members SET tier = 'gold' WHERE member_id = 'M1'").tables_copied == ["dim_members"]
    swapped = next_build("DELETE FROM marts.dim_members WHERE member_id = 'M2'",
                         "INSERT INTO marts.dim_members VALUES ('M7', 'silver')")
    assert swapped.tables_copied == ["dim_members"]
    assert {p.name: p.stat().st_ino for p in (serving_dir / "parquet" / "dim_members").iterdir()} != first_files
    with duckdb.connect(str(serving_dir / "marts.duckdb")) as con:
        con.execute("COMMENT ON TABLE retired_mart IS NULL")  # a copy made before fingerprints (and spares)
    (serving_dir / "marts.spare.duckdb").unlink()
    assert next_build().tables_copied == ["retired_mart"]


def _sql_rows(path: Path, query: str) -> list[tuple]:
    with duckdb.connect(str(path)) as con:
        return con.execute(query).fetchall()


def test_a_failed_refresh_keeps_the_previous_copy_and_leaves_nothing_behind(tmp_path, warehouse):
    serving_dir = tmp_path / "serving"
    refresh_serving_copy(warehouse, serving_dir)
    with pytest.raises(duckdb.Error):
        refresh_serving_copy(tmp_path / "no_such_warehouse.duckdb", serving_dir)
    assert sorted(p.name for p in serving_dir.iterdir()) == SERVING_ENTRIES
    assert len(list((serving_dir / "parquet.versions").iterdir())) == 1
    _assert_copy_equals_marts(warehouse, serving_dir / "marts.duckdb")


def _storage_format(path: Path) -> str:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                           "WHERE database_name = current_database()").fetchall()[0][0]


def test_the_copy_is_written_in_the_configured_storage_format(tmp_path, warehouse, monkeypatch):
    """Default v1.4.0 (DuckDB 1.4 LTS / 1.5 readers); a copy in another format is rebuilt, not patched."""
    monkeypatch.delenv("LOYALTY_SERVING_STORAGE_VERSION", raising=False)
    serving_dir = tmp_path / "serving"
    serving = serving_dir / "marts.duckdb"
    newest = refresh_serving_copy(warehouse, serving_dir, storage_version="latest")
    assert newest.storage_version == _storage_format(serving) != "v1.4.0+"

    default = refresh_serving_copy(warehouse, serving_dir)
    assert default.storage_version == _storage_format(serving) == "v1.4.0+"
    assert default.tables_copied == ["dim_members", "fct_sales_lines", "retired_mart"]  # not patched
    _log_build(warehouse, D3, "2025-01-04 07:00:00", [], (D3, "2025-01-04 06:00:00"))  # a build, no day changed
    again = refresh_serving_copy(warehouse, serving_dir)  # same format: incremental as before
    assert again.tables_copied == [] and again.tables_unchanged == ["dim_members", "retired_mart"]
    assert again.days_recopied == {"fct_sales_lines": []}
    assert _storage_format(serving) == "v1.4.0+"
    _assert_copy_equals_marts(warehouse, serving)

    monkeypatch.setenv("LOYALTY_SERVING_STORAGE_VERSION", "v0.0.1-typo")
    with pytest.raises(ValueError, match="LOYALTY_SERVING_STORAGE_VERSION='v0.0.1-typo'"):
        refresh_serving_copy(warehouse, serving_dir)
    assert sorted(p.name for p in serving_dir.iterdir()) == SERVING_ENTRIES_WITH_SPARE
    assert _storage_format(serving) == "v1.4.0+"


def _parquet_counts(folder: Path) -> dict[str, int]:
    with duckdb.connect() as con:
        return {mart.name: con.execute(f"SELECT count(*) FROM read_parquet('{mart}/**/*.parquet')").fetchall()[0][0]
                for mart in sorted(folder.iterdir()) if mart.is_dir()}


def test_parquet_folders_are_published_whole_beside_the_copy(tmp_path, warehouse):
    serving_dir = tmp_path / "serving"
    link = serving_dir / "parquet"
    first = refresh_serving_copy(warehouse, serving_dir)
    assert link.is_symlink() and not Path(os.readlink(link)).is_absolute()  # the data dir may move
    assert first.parquet_dir == link
    assert _parquet_counts(link) == first.counts  # one folder per mart, same rows
    first_version = link.resolve()

    _sql(warehouse, "DELETE FROM marts.dim_members WHERE member_id = 'M0'", "DROP TABLE marts.retired_mart",
         "CREATE TABLE marts.empty_mart (member_id VARCHAR, points INTEGER)")
    _log_build(warehouse, D4, "2025-01-05 06:00:00", [], (D3, "2025-01-04 06:00:00"))
    second = refresh_serving_copy(warehouse, serving_dir)
    assert link.resolve() != first_version
    assert _parquet_counts(link) == second.counts == {"dim_members": 2, "empty_mart": 0, "fct_sales_lines": 12}
    with duckdb.connect() as con:  # an empty mart still has a file carrying its columns
        assert [c[0] for c in con.execute(f"DESCRIBE FROM '{link}/empty_mart/*.parquet'").fetchall()] == [
            "member_id", "points"]
    # A reader that resolved the link before the swap still reads a whole previous version.
    assert _parquet_counts(first_version) == first.counts

    _log_build(warehouse, D4, "2025-01-05 07:00:00", [], (D4, "2025-01-05 06:00:00"))
    refresh_serving_copy(warehouse, serving_dir)
    assert not first_version.exists()  # two builds later, no reader needs it
    assert len(list((serving_dir / "parquet.versions").iterdir())) == 2


def test_a_data_dir_copied_without_links_still_refreshes(tmp_path, warehouse):
    """cp -r / copytree turn the parquet link into a folder: the next run puts a link back."""
    serving_dir = tmp_path / "serving"
    refresh_serving_copy(warehouse, serving_dir)
    copied = tmp_path / "copied"
    shutil.copytree(serving_dir, copied)  # follows the link: parquet is now a real folder
    assert not (copied / "parquet").is_symlink()
    refreshed = refresh_serving_copy(warehouse, copied)
    assert (copied / "parquet").is_symlink()
    assert _parquet_counts(copied / "parquet") == refreshed.counts


def _parquet_rows(folder: Path, table: str) -> list:
    with duckdb.connect() as con:
        return con.execute(f"SELECT * EXCLUDE (business_day), business_day FROM read_parquet("
                           f"'{folder}/{table}/**/*.parquet', hive_partitioning = true) ORDER BY ALL").fetchall()


def test_parquet_day_folders_are_rewritten_only_for_the_changed_days(tmp_path, warehouse):
    """A daily version writes the days the build changed and shares the other days' files."""
    serving_dir = tmp_path / "serving"
    first = refresh_serving_copy(warehouse, serving_dir).parquet_dir.resolve()
    assert sorted(p.name for p in (first / "fct_sales_lines").iterdir()) == [
        "business_day=2025-01-01", "business_day=2025-01-02", "business_day=2025-01-03"]

    _sql(warehouse, "UPDATE marts.fct_sales_lines SET net_amount = 0 WHERE business_day = DATE '2025-01-02'")
    _log_build(warehouse, D3, "2025-01-05 06:00:00", [D2], (D3, "2025-01-04 06:00:00"))
    second = refresh_serving_copy(warehouse, serving_dir).parquet_dir.resolve()

    def inode(version: Path, day: str) -> int:
        return next((version / "fct_sales_lines" / f"business_day={day}").iterdir()).stat().st_ino

    assert inode(second, "2025-01-01") == inode(first, "2025-01-01")  # shared, not rewritten
    assert inode(second, "2025-01-02") != inode(first, "2025-01-02")
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        expected = con.execute("SELECT * FROM w.marts.fct_sales_lines ORDER BY ALL").fetchall()
    assert _parquet_rows(second, "fct_sales_lines") == expected
    assert _parquet_rows(first, "fct_sales_lines") != expected  # the previous version is untouched

    # A published version that mirrors another build is not reused: every day is written again.
    shared = inode(second, "2025-01-01")
    (second / "_build.json").write_text("{}")
    _log_build(warehouse, D3, "2025-01-05 07:00:00", [], (D3, "2025-01-05 06:00:00"))
    third = refresh_serving_copy(warehouse, serving_dir).parquet_dir.resolve()
    assert inode(third, "2025-01-01") != shared
    assert _parquet_rows(third, "fct_sales_lines") == expected


def test_day_folders_are_written_month_by_month_and_hold_every_row(tmp_path):
    """A day table is written one COPY per month of days (a year in one partitioned write is twice
    as slow): whole, every day across months and the rows with no day land in their folders;
    given days, only those."""
    from orchestration.serving_parquet import _copy_partitions

    with duckdb.connect() as con:
        con.execute("CREATE TABLE lines AS SELECT i AS line, DATE '2025-01-30' + CAST(i % 5 AS INTEGER) "
                    "AS business_day FROM range(20) t(i) UNION ALL SELECT 99, NULL")
        whole, some = tmp_path / "whole", tmp_path / "some"
        _copy_partitions(con, "lines", whole, "business_day", None)
        _copy_partitions(con, "lines", some, "business_day", ["2025-02-02", "2025-01-31"])
        assert sorted(p.name for p in whole.iterdir()) == [
            "business_day=2025-01-30", "business_day=2025-01-31", "business_day=2025-02-01",
            "business_day=2025-02-02", "business_day=2025-02-03", "business_day=__HIVE_DEFAULT_PARTITION__"]
        assert con.execute(f"SELECT count(*), sum(line) FROM read_parquet('{whole}/**/*.parquet')").fetchall() \
            == con.execute("SELECT count(*), sum(line) FROM lines").fetchall()
        assert sorted(p.name for p in some.iterdir()) == ["business_day=2025-01-31", "business_day=2025-02-02"]
        assert con.execute(f"SELECT count(*) FROM read_parquet('{some}/**/*.parquet')").fetchall() == [(8,)]


def _log_month_ends(path: Path, month_ends: list) -> None:
    """The build's month-ends to evaluate (dbt meta.int_month_ends_to_evaluate)."""
    _sql(path, "CREATE OR REPLACE TABLE meta.int_month_ends_to_evaluate (month_end DATE)",
         *(f"INSERT INTO meta.int_month_ends_to_evaluate VALUES (DATE '{end}')" for end in month_ends))


def test_month_end_history_recopies_only_the_month_ends_a_build_evaluated(tmp_path, warehouse):
    """A table with a month_end column (the month-end history, partitioned by month-end in dbt) is
    re-copied for the month-ends of meta.int_month_ends_to_evaluate: none mid-month, the new one
    on the first of a month; its Parquet folders are one per month-end and the others are shared.
    A warehouse without that record copies the table whole."""
    _sql(warehouse, """CREATE TABLE marts.member_segment_history AS
            SELECT 'M' || i AS member_id, DATE '2024-11-30' AS month_end, 'vip' AS segment FROM range(3) r(i)
            UNION ALL SELECT 'M' || i, DATE '2024-12-31', 'key' FROM range(3) r(i)""")
    _log_month_ends(warehouse, ["2024-11-30", "2024-12-31"])
    serving_dir = tmp_path / "serving"
    first = refresh_serving_copy(warehouse, serving_dir)
    first_version = first.parquet_dir.resolve()
    assert sorted(p.name for p in (first_version / "member_segment_history").iterdir()) == [
        "month_end=2024-11-30", "month_end=2024-12-31"]

    _log_build(warehouse, D4, "2025-01-05 06:00:00", [D3], (D3, "2025-01-04 06:00:00"))
    _log_month_ends(warehouse, [])  # mid-month: no month-end evaluated
    mid_month = refresh_serving_copy(warehouse, serving_dir)
    assert mid_month.month_ends_recopied == {"member_segment_history": []}
    assert "member_segment_history" not in mid_month.tables_copied + mid_month.tables_unchanged
    mid_month_version = mid_month.parquet_dir.resolve()
    assert [next((v / "member_segment_history" / "month_end=2024-12-31").iterdir()).stat().st_ino
            for v in (first_version, mid_month_version)] == [
        next((first_version / "member_segment_history" / "month_end=2024-12-31").iterdir()).stat().st_ino] * 2

    _sql(warehouse, "INSERT INTO marts.member_segment_history SELECT 'M' || i, DATE '2025-01-31', 'small' "
                    "FROM range(2) r(i)")
    _log_build(warehouse, date(2025, 2, 1), "2025-02-02 06:00:00", [], (D4, "2025-01-05 06:00:00"))
    _log_month_ends(warehouse, ["2025-01-31"])
    first_of_month = refresh_serving_copy(warehouse, serving_dir)
    _assert_copy_equals_marts(warehouse, serving_dir / "marts.duckdb")
    assert first_of_month.month_ends_recopied == {"member_segment_history": [date(2025, 1, 31)]}
    version = first_of_month.parquet_dir.resolve()

    def inode(version: Path, month_end: str) -> int:
        return next((version / "member_segment_history" / f"month_end={month_end}").iterdir()).stat().st_ino

    assert inode(version, "2024-11-30") == inode(mid_month_version, "2024-11-30")  # shared, not rewritten
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{warehouse}' AS w (READ_ONLY)")
        assert con.execute(f"SELECT member_id, month_end, segment FROM read_parquet('{version}/member_segment_history/"
                           "**/*.parquet', hive_partitioning = true) ORDER BY ALL").fetchall() == \
            con.execute("SELECT * FROM w.marts.member_segment_history ORDER BY ALL").fetchall()

    _sql(warehouse, "DROP TABLE meta.int_month_ends_to_evaluate",
         "UPDATE marts.member_segment_history SET segment = 'ordinary' WHERE month_end = DATE '2024-11-30'")
    _log_build(warehouse, date(2025, 2, 2), "2025-02-03 06:00:00", [], (date(2025, 2, 1), "2025-02-02 06:00:00"))
    without_record = refresh_serving_copy(warehouse, serving_dir)
    assert "member_segment_history" in without_record.tables_copied
    _assert_copy_equals_marts(warehouse, serving_dir / "marts.duckdb")



READER = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("open", flush=True)
sys.stdin.readline()
print(con.execute("SELECT count(*) FROM fct_sales_lines").fetchall()[0][0], flush=True)
"""


def test_the_copy_before_the_current_one_is_patched_unless_a_reader_still_holds_it(tmp_path, warehouse):
    """Each refresh keeps the replaced copy as the spare and the next one patches it with the two
    builds' changed days, instead of a byte copy of the current file. A BI tool (another process)
    that opened a copy before it became the spare keeps it: that refresh byte-copies instead."""
    import subprocess
    import sys

    serving_dir = tmp_path / "serving"
    serving = serving_dir / "marts.duckdb"
    loaded = iter(range(6, 20))

    def build(days: list, *statements: str):
        _sql(warehouse, *statements)
        previous = _sql_rows(warehouse, "SELECT as_of_date, loaded_through::VARCHAR FROM meta.build_log "
                                        "ORDER BY finished_at DESC LIMIT 1")[0]
        _log_build(warehouse, D4, f"2025-01-05 {next(loaded):02d}:00:00", days, previous)
        refreshed = refresh_serving_copy(warehouse, serving_dir)
        _assert_copy_equals_marts(warehouse, serving)
        return refreshed

    assert not refresh_serving_copy(warehouse, serving_dir).from_spare  # the first copy
    second = build([D1], "UPDATE marts.fct_sales_lines SET member_id = 'M8' WHERE business_day = DATE '2025-01-01'")
    assert not second.from_spare and second.days_recopied == {"fct_sales_lines": [D1]}  # no spare yet
    third = build([D3], "INSERT INTO marts.fct_sales_lines VALUES ('T9', 1, 'M1', 1.00, DATE '2025-01-03')")
    assert third.from_spare and third.days_recopied == {"fct_sales_lines": [D1, D3]}  # the spare lacked D1 too

    reader = subprocess.Popen([sys.executable, "-c", READER, str(serving)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout.readline().strip() == "open"  # holds the third build's copy
        fourth = build([D2], "DELETE FROM marts.fct_sales_lines WHERE business_day = DATE '2025-01-02'")
        assert fourth.from_spare and fourth.days_recopied == {"fct_sales_lines": [D2, D3]}
        fifth = build([D1], "UPDATE marts.fct_sales_lines SET member_id = 'M7' WHERE business_day = DATE '2025-01-01'")
        assert not fifth.from_spare  # the spare is the reader's copy: left alone
        assert fifth.days_recopied == {"fct_sales_lines": [D1]}
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert int(reader.stdout.readline()) == 13  # the third build's rows, untouched
    finally:
        reader.kill()
        reader.wait()
    sixth = build([D3], "DELETE FROM marts.fct_sales_lines WHERE txn_id = 'T9'")
    assert sixth.from_spare and sixth.days_recopied == {"fct_sales_lines": [D1, D3]}
