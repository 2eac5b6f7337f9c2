"""The dbt project on Apache Spark (issue 12), on a real standalone cluster.

The fixture starts a Spark master, two workers and a Thrift server on 127.0.0.1 from the
`pyspark` package's jars (orchestration/local_spark.py) and stops exactly those processes. The
test ingests the sample chain (DuckDB ingestion: validation, quarantine, the Parquet lake), builds
the dbt project twice from the same landing data — on DuckDB, and on the cluster over dbt-spark's
`thrift` method reading the lake — and compares every model table by table: for a day, the next
day incrementally, then after a corrected old POS file.

Opt-in (it starts four JVMs and takes minutes): LOYALTY_TEST_SPARK=1, as `make test-spark` and
CI do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from tests.test_incremental import REFRESHED_WITH_NOTHING_LEFT

pytestmark = pytest.mark.skipif(
    os.environ.get("LOYALTY_TEST_SPARK") != "1",
    reason="starts a Spark cluster: run with LOYALTY_TEST_SPARK=1 (make test-spark)")

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT = REPO_ROOT / "dbt_project"
AS_OF = date(2025, 4, 10)  # the small chain runs 2025-01-01..2025-04-30
COMPARED_SCHEMAS = ("staging", "intermediate", "marts", "restricted")
# per-run bookkeeping, not data: when it started and finished
NOT_COMPARED = {"meta.build_log", "meta.build_attempts"}


@pytest.fixture(scope="module")
def spark_cluster(tmp_path_factory):
    from orchestration.local_spark import LocalSparkCluster, _alive

    cluster = LocalSparkCluster(tmp_path_factory.mktemp("spark"), workers=2, worker_cores=1,
                                worker_memory="1g").start()
    started = dict(cluster.pids)
    try:
        yield cluster
    finally:
        cluster.stop()
        assert not [role for role, pid in started.items() if _alive(pid)], "a Spark process outlived stop()"


def _reset_spark(cluster) -> None:
    """One warehouse per Spark metastore: each test starts from none."""
    from pyhive import hive

    connection = hive.connect(host=cluster.host, port=cluster.thrift_port, username="loyalty")
    try:
        cursor = connection.cursor()
        for schema in ("raw", "staging", "intermediate", "marts", "restricted", "meta"):
            cursor.execute(f"drop database if exists {schema} cascade")
    finally:
        connection.close()


def _ingest(data_dir: Path, landing: Path, as_of: date) -> None:
    from ingestion.contract import SOURCES
    from ingestion.load import ingest_source
    from ingestion.sink import WarehouseSink

    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        sink = WarehouseSink(con, data_dir / "lake")
        for source in SOURCES:
            ingest_source(sink, landing, source, as_of, quarantine_dir=data_dir / "quarantine")
        sink.export_load_records()


def _dbt(data_dir: Path, as_of: date, engine_env: dict[str, str], *args: str):
    from dbt.cli.main import dbtRunner

    from ingestion.lake_schema import lake_tables
    from orchestration.settings import load_program

    variables = {"program": load_program(None)}
    if engine_env["LOYALTY_ENGINE"] == "spark":  # what the orchestrator passes (README "Scale-out on Spark")
        variables["lake_tables"] = lake_tables(data_dir / "lake")
    target = data_dir / f"target_{engine_env['LOYALTY_ENGINE']}"
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {**engine_env, "LOYALTY_DATA_DIR": str(data_dir),
                            "LOYALTY_AS_OF_DATE": as_of.isoformat()}.items():
            mp.setenv(name, value)
        return dbtRunner().invoke([*args, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
                                   "--target-path", str(target), "--log-path", str(target / "logs"),
                                   "--vars", json.dumps(variables)])


def _build(data_dir: Path, as_of: date, engine_env: dict[str, str]) -> None:
    build = ("build", "--exclude-resource-type", "unit_test")
    result = _dbt(data_dir, as_of, engine_env, *build)
    if not result.success and "FULL_REFRESH_REQUIRED" in str(result.exception):
        result = _dbt(data_dir, as_of, engine_env, *build, "--full-refresh")
    failed = [f"{r.node.unique_id}: {r.status}: {r.message}" for r in getattr(result.result, "results", None) or []
              if r.status not in ("success", "pass", "warn")]
    assert result.success, f"dbt build on {engine_env['LOYALTY_ENGINE']} failed: {result.exception or failed}"


_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d+)?$")


def _normal(value):
    """One spelling per value across the two engines' Python drivers (PyHive returns dates and
    timestamps as text, DuckDB as objects; decimals and doubles to 6 places)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return str(round(Decimal(str(value)), 6).normalize())
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and _TIMESTAMP.match(value):
        return datetime.fromisoformat(value).isoformat(sep=" ")
    return value


def _duckdb_tables(data_dir: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Each table's columns and rows (normalised, sorted)."""
    # not read_only: dbt-duckdb keeps its in-process handle on the file open after the build, and
    # DuckDB refuses a second in-process connection with a different configuration
    with duckdb.connect(str(data_dir / "warehouse.duckdb")) as con:
        names = [f"{schema}.{name}" for schema, name in con.execute(
            "select schema_name, table_name from duckdb_tables() where schema_name in ? union all "
            "select schema_name, view_name from duckdb_views() where schema_name in ? and not internal "
            "order by all", [list(COMPARED_SCHEMAS + ("meta",))] * 2).fetchall()]
        tables = {}
        for name in names:
            if name in NOT_COMPARED:
                continue
            # a member-keyed model's row for a refreshed member with nothing left exists only
            # incrementally (DuckDB); readers skip it, and Spark rebuilds those models whole
            cursor = con.execute(f"select * from {name} where {REFRESHED_WITH_NOTHING_LEFT.get(name, 'true')}")
            columns = [d[0] for d in cursor.description]
            tables[name] = (columns, sorted((tuple(_normal(v) for v in row) for row in cursor.fetchall()), key=repr))
        return tables


def _spark_tables(cluster, columns_by_name: dict[str, list[str]]) -> dict[str, tuple[list[str], list[tuple]]]:
    """The same tables on Spark, columns selected by name: Spark keeps partition columns last."""
    from pyhive import hive

    connection = hive.connect(host=cluster.host, port=cluster.thrift_port, username="loyalty")
    try:
        cursor = connection.cursor()
        tables = {}
        for name, columns in columns_by_name.items():
            cursor.execute(f"select {', '.join(f'`{c}`' for c in columns)} from {name}")
            tables[name] = (columns, sorted((tuple(_normal(v) for v in row) for row in cursor.fetchall()), key=repr))
        return tables
    finally:
        connection.close()


def _assert_same_models(data_dir: Path, cluster, as_of: date) -> dict[str, list[tuple]]:
    on_duckdb = _duckdb_tables(data_dir)
    on_spark = _spark_tables(cluster, {name: columns for name, (columns, _) in on_duckdb.items()})
    differing = [name for name in on_duckdb if on_duckdb[name] != on_spark[name]]
    for name in differing[:3]:  # the first rows that differ, to say why
        only_duckdb = [r for r in on_duckdb[name][1] if r not in on_spark[name][1]][:3]
        only_spark = [r for r in on_spark[name][1] if r not in on_duckdb[name][1]][:3]
        print(f"{name} on {as_of}: DuckDB only {only_duckdb}; Spark only {only_spark}")
    assert not differing, f"models that differ between DuckDB and Spark on {as_of}: {differing}"
    return on_duckdb


def test_the_dbt_project_on_a_spark_cluster_equals_duckdb_day_after_day(tmp_path, small_landing, spark_cluster):
    _reset_spark(spark_cluster)
    landing = tmp_path / "landing"
    shutil.copytree(small_landing, landing)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    duckdb_env = {"LOYALTY_ENGINE": "duckdb"}
    spark_env = {"LOYALTY_ENGINE": "spark", "LOYALTY_SPARK_METHOD": "thrift",
                 "LOYALTY_SPARK_HOST": spark_cluster.host, "LOYALTY_SPARK_PORT": str(spark_cluster.thrift_port)}

    # a first build, then the next day incrementally
    for day in (AS_OF, AS_OF + timedelta(days=1)):
        _ingest(data_dir, landing, day)
        _build(data_dir, day, duckdb_env)
        _build(data_dir, day, spark_env)
        tables = _assert_same_models(data_dir, spark_cluster, day)
    assert len(tables["marts.tier_list"][1]) > 100, "the sample chain has a tier list to compare"

    # a corrected POS file of an old day (its last line removed), then the same day again
    old_file = sorted((landing / "pos").glob(f"pos_{AS_OF - timedelta(days=30):%Y%m%d}_*.csv"))[0]
    old_file.write_text("".join(old_file.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]),
                        encoding="utf-8")
    day = AS_OF + timedelta(days=1)
    _ingest(data_dir, landing, day)
    _build(data_dir, day, duckdb_env)
    _build(data_dir, day, spark_env)
    _assert_same_models(data_dir, spark_cluster, day)


def _loyalty_run(data_dir: Path, landing: Path, as_of: date, engine_env: dict[str, str],
                 published: bool = True) -> Path:
    import subprocess
    import sys

    env = {**os.environ, **engine_env, "LOYALTY_DATA_DIR": str(data_dir), "LOYALTY_LANDING_DIR": str(landing),
           "DAGSTER_HOME": str(data_dir.parent / f"dagster_home_{engine_env['LOYALTY_ENGINE']}"),
           "DAGSTER_TELEMETRY_ENABLED": "false"}
    env.pop("LOYALTY_PROGRAM", None)
    done = subprocess.run([str(Path(sys.executable).with_name("loyalty")), "run", "--as-of", as_of.isoformat()],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=1800)
    outbox = data_dir / "outbox" / as_of.isoformat()
    if published:
        assert done.returncode == 0, f"{engine_env['LOYALTY_ENGINE']}: {done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    else:
        assert done.returncode != 0 and not outbox.exists(), f"{engine_env['LOYALTY_ENGINE']} published {as_of}"
    return outbox


def _assert_same_outbox(on_duckdb: Path, on_spark: Path) -> None:
    for name in ("tier_list.csv", "lapsed_customers.csv"):
        assert (on_spark / name).read_bytes() == (on_duckdb / name).read_bytes(), f"{on_spark.name}: {name}"
    duckdb_manifest = json.loads((on_duckdb / "manifest.json").read_text(encoding="utf-8"))
    spark_manifest = json.loads((on_spark / "manifest.json").read_text(encoding="utf-8"))
    assert {f: v["rows"] for f, v in spark_manifest["files"].items()} == \
        {f: v["rows"] for f, v in duckdb_manifest["files"].items()}
    assert spark_manifest["lapsed_at_risk_left_out"] == duckdb_manifest["lapsed_at_risk_left_out"]


def test_loyalty_run_on_spark_publishes_the_same_outbox_as_duckdb_day_after_day(tmp_path, small_landing,
                                                                               spark_cluster):
    """The whole daily job through the same Dagster definitions with LOYALTY_ENGINE=spark, for a
    day, the next day, and that day again after a corrected old POS file: the published tier
    list and lapsed list are byte-identical to DuckDB's, and so are the counts. Then a day whose
    products file lost a product that sells: blocked on Spark (dbt's relationships test ran on
    Spark), no outbox for it."""
    spark_env = {"LOYALTY_ENGINE": "spark", "LOYALTY_SPARK_METHOD": "thrift",
                 "LOYALTY_SPARK_HOST": spark_cluster.host, "LOYALTY_SPARK_PORT": str(spark_cluster.thrift_port)}
    duckdb_env = {"LOYALTY_ENGINE": "duckdb"}
    _reset_spark(spark_cluster)
    landing = tmp_path / "landing"
    shutil.copytree(small_landing, landing)
    next_day = AS_OF + timedelta(days=1)
    for day in (AS_OF, next_day):
        _assert_same_outbox(_loyalty_run(tmp_path / "duckdb", landing, day, duckdb_env),
                            _loyalty_run(tmp_path / "spark", landing, day, spark_env))
    assert (tmp_path / "spark" / "spark_snapshot" / "marts" / "tier_list").is_dir(), "the gates read Spark's marts"

    old_file = sorted((landing / "pos").glob(f"pos_{AS_OF - timedelta(days=30):%Y%m%d}_*.csv"))[0]
    old_file.write_text("".join(old_file.read_text(encoding="utf-8").splitlines(keepends=True)[:-1]),
                        encoding="utf-8")
    _assert_same_outbox(_loyalty_run(tmp_path / "duckdb", landing, next_day, duckdb_env),
                        _loyalty_run(tmp_path / "spark", landing, next_day, spark_env))

    sold = duckdb.sql(f"select sku from read_csv('{landing}/pos/pos_{next_day:%Y%m%d}_*.csv', all_varchar = true) "
                      "group by sku order by count(*) desc, sku limit 1").fetchall()[0][0]
    products = landing / "reference" / "products.csv"
    products.write_text("".join(line for line in products.read_text(encoding="utf-8").splitlines(keepends=True)
                                if not line.startswith(sold + ",")), encoding="utf-8")
    _loyalty_run(tmp_path / "spark", landing, next_day + timedelta(days=1), spark_env, published=False)
