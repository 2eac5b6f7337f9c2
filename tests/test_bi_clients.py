"""The serving copy as a BI tool sees it: DuckDB 1.x engines (what most BI drivers bundle) open
marts.duckdb and the Parquet folders in a separate environment, and read every mart in full."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pytest

from published_run import published_run

# DuckDB 1.4 LTS and the newest 1.5 release: the engines BI drivers bundled when DuckDB 2 came out.
DUCKDB_1X_VERSIONS = ("1.4.5", "1.5.6")
PII_COLUMNS = {"name", "mobile", "birth_date", "address"}  # restricted.member_pii's personal columns

READER = r"""
import json, sys
import duckdb
serving, parquet = sys.argv[1], sys.argv[2]
con = duckdb.connect(serving, read_only=True)
tables = [r[0] for r in con.execute(
    "SELECT table_name FROM duckdb_tables() WHERE schema_name = 'main' ORDER BY 1").fetchall()]
print(json.dumps({
    "version": duckdb.__version__,
    "tables": {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchall()[0][0] for t in tables},
    # every row of every column read, not only the count
    "checksums": {t: str(con.execute(f'SELECT sum(hash(COLUMNS(*))) FROM "{t}"').fetchall()[0])
                  for t in tables},
    "qualified": con.execute("SELECT count(*) FROM marts.tier_list").fetchall()[0][0],
    "parquet": {t: duckdb.sql(f"SELECT count(*) FROM read_parquet('{parquet}/{t}/**/*.parquet')").fetchall()[0][0]
                for t in tables},
}))
"""


def duckdb_client(version: str) -> Path:
    """A virtualenv holding only duckdb==version (cached per version: reruns reuse it)."""
    cache = Path(os.environ.get("LOYALTY_TEST_CACHE", Path(tempfile.gettempdir()) / "loyalty-test-cache"))
    venv = cache / f"duckdb-{version}"
    python = venv / "bin" / "python"
    if not (venv / ".ready").exists():
        shutil.rmtree(venv, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", f"duckdb=={version}"],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, f"installing duckdb=={version} failed:\n{done.stderr[-2000:]}"
        (venv / ".ready").touch()
    return python


@pytest.fixture(scope="module")
def published(tmp_path_factory, small_landing):
    return published_run(tmp_path_factory, small_landing)


def _warehouse_marts(data_dir: Path) -> dict[str, int]:
    with duckdb.connect(str(data_dir / "warehouse.duckdb"), read_only=True) as con:
        tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables() "
                                            "WHERE schema_name = 'marts' ORDER BY 1").fetchall()]
        return {t: con.execute(f'SELECT count(*) FROM marts."{t}"').fetchall()[0][0] for t in tables}


@pytest.mark.parametrize("version", DUCKDB_1X_VERSIONS)
def test_a_duckdb_1x_client_reads_every_mart(published, version):
    python = duckdb_client(version)
    serving = published.data_dir / "serving"
    done = subprocess.run([str(python), "-c", READER, str(serving / "marts.duckdb"), str(serving / "parquet")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout)
    assert seen["version"] == version
    marts = _warehouse_marts(published.data_dir)
    assert len(marts) >= 15 and marts["tier_list"] > 0
    assert seen["tables"] == marts  # every mart, every row
    assert seen["parquet"] == marts  # the Parquet folders too
    assert seen["qualified"] == marts["tier_list"]  # `marts.tier_list` resolves as the README says
    with duckdb.connect(str(serving / "marts.duckdb"), read_only=True) as con:  # same data as DuckDB 2 reads
        for table, checksum in seen["checksums"].items():
            assert str(con.execute(f'SELECT sum(hash(COLUMNS(*))) FROM "{table}"').fetchall()[0]) == checksum


def test_the_newest_storage_format_is_closed_to_duckdb_1x(published, tmp_path):
    """Why the setting exists: the same copy in DuckDB 2's own format cannot be opened by 1.5."""
    from orchestration.serving import refresh_serving_copy

    refresh_serving_copy(published.data_dir / "warehouse.duckdb", tmp_path / "serving", storage_version="latest")
    done = subprocess.run([str(duckdb_client(DUCKDB_1X_VERSIONS[-1])), "-c",
                           f"import duckdb; duckdb.connect({str(tmp_path / 'serving' / 'marts.duckdb')!r}, "
                           "read_only=True)"], capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "version number" in done.stderr


def test_no_personal_data_in_any_served_table(published):
    """Masked columns only: no PII column, and no served value equals a member's name, mobile or address."""
    serving = published.data_dir / "serving"
    with duckdb.connect() as con:
        con.execute(f"ATTACH '{published.data_dir / 'warehouse.duckdb'}' AS w (READ_ONLY)")
        con.execute(f"ATTACH '{serving / 'marts.duckdb'}' AS s (READ_ONLY)")
        con.execute("""CREATE TEMP TABLE pii AS
            SELECT name AS value FROM w.restricted.member_pii UNION SELECT mobile FROM w.restricted.member_pii
            UNION SELECT address FROM w.restricted.member_pii""")
        assert con.execute("SELECT count(*) FROM pii").fetchall()[0][0] > 100
        columns = con.execute("SELECT table_name, column_name, data_type FROM duckdb_columns() "
                              "WHERE database_name = 's'").fetchall()
        assert not {c for _, c, _ in columns} & PII_COLUMNS
        assert {"masked_name", "masked_mobile"} <= {c for _, c, _ in columns}
        leaks = {}
        for table, column, data_type in columns:
            if data_type == "VARCHAR":
                for source in (f's.main."{table}"', f"read_parquet('{serving}/parquet/{table}/**/*.parquet')"):
                    n = con.execute(f'SELECT count(*) FROM {source} WHERE "{column}" IN (SELECT value FROM pii)'
                                    ).fetchall()[0][0]
                    if n:
                        leaks[f"{source}.{column}"] = n
        assert leaks == {}
        masked = con.execute("SELECT count(*) FROM s.lapsed_customers WHERE masked_mobile LIKE '%****%'").fetchall()
        assert masked[0][0] > 0
