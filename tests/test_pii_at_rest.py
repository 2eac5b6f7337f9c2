"""Restricted data at rest (issue 13, item 6): the warehouse (raw PII), its write-ahead log,
the members' lake and the quarantine are owner-only whatever the umask, and the members'
lake carries only the columns the dbt models read."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest

from ingestion.contract import MEMBERS
from ingestion.owner_only import owner_only_umask

REPO = Path(__file__).resolve().parents[1]
DAY = "2025-03-01"
STORES = "store_id,name,city,opened_on,closed_on\nS001,一店,上海,2020-01-01,\n"
MEMBER_HEADER = ("member_id,card_no,name,gender,birth_date,mobile,city,address,join_date,join_store_id,"
                 "enrolled_by,activated,status,marketing_consent,bonus_category,updated_at\n")
MEMBERS_FILE = MEMBER_HEADER + (
    "M1,C1,王小红,F,1990-05-01,13800001234,上海,某路1号,2024-06-01,S001,E01,true,active,true,,2025-03-01 09:00:00\n"
    "M2,C2,李四,M,1990-02-30,13800005678,上海,某路2号,2024-06-01,S001,E01,true,active,true,,2025-03-01 09:00:00\n")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def world_readable_umask():
    """The usual 022: files 0644 and folders 0755 unless the code says otherwise."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_warehouse_members_lake_and_quarantine_are_owner_only_after_an_ingestion(tmp_path, world_readable_umask):
    from orchestration.defs.ingest.assets import ingest_assets
    from orchestration.defs.resources import WarehouseResource

    landing, data = tmp_path / "landing", tmp_path / "data"
    for name, text in (("reference/stores.csv", STORES), ("members/members_20250301.csv", MEMBERS_FILE)):
        (landing / name).parent.mkdir(parents=True, exist_ok=True)
        (landing / name).write_text(text, encoding="utf-8")
    # a lake day written before members were restricted: world-readable
    old_day = data / "lake" / "members" / "business_day=2025-02-01"
    old_day.mkdir(parents=True)
    pl.DataFrame({"member_id": ["M0"]}).write_parquet(old_day / "members_20250201.parquet")
    assert mode(old_day / "members_20250201.parquet") == 0o644

    wanted = {dg.AssetKey(["raw", "stores"]), dg.AssetKey(["raw", "members"])}
    result = dg.materialize(
        [a for a in ingest_assets if a.key in wanted], partition_key=DAY,
        resources={"warehouse": WarehouseResource(landing_dir=str(landing), data_dir=str(data))})
    assert result.success

    assert mode(data / "warehouse.duckdb") == 0o600
    assert not (data / "warehouse.duckdb.wal").exists()  # checkpointed on close
    members_lake = data / "lake" / "members"
    lake_files = sorted(members_lake.rglob("*.parquet"))
    assert [p.name for p in lake_files] == ["members_20250201.parquet", "members_20250301.parquet"]
    for path in [members_lake, *members_lake.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path
    # quarantined member rows (raw text with PII) and their folders
    quarantine = data / "quarantine"
    report = quarantine / "rows" / "members" / "members_20250301.csv.quarantine.csv"
    assert "王小红" not in report.read_text(encoding="utf-8") and "李四" in report.read_text(encoding="utf-8")
    for path in [quarantine, *quarantine.rglob("*")]:
        assert mode(path) == (0o700 if path.is_dir() else 0o600), path

    # the lake carries exactly the documented columns (business_day is the Hive partition)
    new_file = members_lake / "business_day=2025-03-01" / "members_20250301.parquet"
    assert pl.read_parquet_schema(new_file).keys() == {*MEMBERS.lake_columns, "_source_file", "_row_number"}


def test_the_wal_of_a_write_connection_is_owner_only(tmp_path, world_readable_umask):
    from orchestration.defs.resources import WarehouseResource

    warehouse = WarehouseResource(landing_dir=str(tmp_path), data_dir=str(tmp_path / "data"))
    with warehouse.connect() as con:
        con.execute("CREATE TABLE t AS SELECT 'name' AS pii")
        con.execute("INSERT INTO t VALUES ('another name')")
        wal = tmp_path / "data" / "warehouse.duckdb.wal"
        assert wal.exists() and mode(wal) == 0o600
        assert mode(tmp_path / "data" / "warehouse.duckdb") == 0o600
    probe = tmp_path / "after.txt"
    probe.write_text("x")
    assert mode(probe) == 0o644  # the process umask is back as it was


def test_an_existing_world_readable_warehouse_becomes_owner_only(tmp_path, world_readable_umask):
    from orchestration.defs.resources import WarehouseResource

    (tmp_path / "data").mkdir()
    duckdb.connect(str(tmp_path / "data" / "warehouse.duckdb")).close()
    assert mode(tmp_path / "data" / "warehouse.duckdb") == 0o644
    with WarehouseResource(landing_dir=str(tmp_path), data_dir=str(tmp_path / "data")).connect():
        pass
    assert mode(tmp_path / "data" / "warehouse.duckdb") == 0o600


CHILD = """
import duckdb, os, stat, sys
con = duckdb.connect(sys.argv[1])
con.execute("CREATE TABLE t AS SELECT 'name' AS pii")
print(oct(stat.S_IMODE(os.stat(sys.argv[1] + '.wal').st_mode)))
"""


def test_a_process_started_under_the_owner_only_umask_writes_an_owner_only_wal(tmp_path, world_readable_umask):
    """How dbt's writes are covered: the dbt step starts dbt under owner_only_umask()."""
    def child_wal_mode(name: str) -> str:
        done = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / name)],
                              capture_output=True, text=True, timeout=120, check=True)
        return done.stdout.strip()

    assert child_wal_mode("plain.duckdb") == "0o644"  # what a dbt process would do by default
    with owner_only_umask():
        assert child_wal_mode("restricted.duckdb") == "0o600"


def test_the_members_lake_columns_are_what_the_staging_model_reads():
    """Spark reads raw sources from the lake: it must hold every column the models read from
    raw.members, and nothing more (a column added to the contract stays out of the lake)."""
    sql = (REPO / "dbt_project" / "models" / "staging" / "stg_members__members.sql").read_text(encoding="utf-8")
    select_list = re.search(r"^select\s+(.*?)\s+from \{\{ source\('raw', 'members'\) \}\}", sql,
                            re.DOTALL | re.MULTILINE).group(1)
    read = [c.strip() for c in select_list.split(",")]
    assert read == [*MEMBERS.lake_columns, "business_day", "_source_file", "_row_number"]
