"""The generated Dagster home's event log: Dagster's SQLite files, written through kept engines."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import sqlalchemy as db
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite import SqliteEventLogStorage

from orchestration.event_log_storage import KEPT_RUN_DATABASES, KeptEngineSqliteEventLogStorage
from orchestration.instance import ensure_dagster_home


@dg.asset
def counted() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 3})


@dg.asset_check(asset=counted)
def counted_has_rows() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


def _new_sqlite_connections(action, folder) -> int:
    """How many connections `action` opened to SQLite files in `folder` (a kept engine reuses its
    pooled one)."""
    opened = []

    def count(dbapi_connection, _record):
        files = [row[2] for row in dbapi_connection.execute("PRAGMA database_list").fetchall()]
        opened.extend(Path(f).name for f in files if Path(f).parent == folder)

    db.event.listen(db.pool.Pool, "connect", count)
    try:
        action()
    finally:
        db.event.remove(db.pool.Pool, "connect", count)
    return len(opened), opened


def test_a_run_writes_its_events_through_one_connection_per_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    home = ensure_dagster_home(tmp_path)
    with dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home))) as instance:
        storage = instance.event_log_storage
        assert isinstance(storage, KeptEngineSqliteEventLogStorage)

        def run_twice():
            for _ in range(2):
                assert dg.materialize([counted, counted_has_rows], instance=instance).success

        opened, files = _new_sqlite_connections(run_twice, home / "history" / "runs")
        # Dagster's own storage opens one per statement batch (78 for these two runs); here each
        # run's database opens two while its tables are created, and the index one
        assert 0 < opened <= 2 * 2 + 1, files
        event = instance.get_latest_materialization_event(counted.key)
        assert event.asset_materialization.metadata["dagster/row_count"].value == 3
        assert len(instance.get_runs()) == 2
        assert storage.has_table("asset_check_executions")


def test_the_files_are_dagsters_own_and_old_run_databases_are_let_go(tmp_path):
    base = str(tmp_path / "runs")
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([counted], instance=instance)
        events = instance.all_logs(result.run_id)
    dagsters = SqliteEventLogStorage(base)
    for event in events:
        dagsters.store_event(event)

    kept = KeptEngineSqliteEventLogStorage(base)
    assert [e.dagster_event_type for e in kept.get_logs_for_run(result.run_id)] == \
        [e.dagster_event_type for e in events]
    runs = [f"run_{n}" for n in range(KEPT_RUN_DATABASES + 3)]
    for run_id in runs:
        for event in events:
            kept.store_event(event._replace(run_id=run_id))
    # the index and the most recently written runs keep an engine; the others were disposed
    assert set(kept._engines) == {"index", *runs[-KEPT_RUN_DATABASES:]}
    with kept.run_connection(runs[-1]) as conn:  # WAL, synced at checkpoints (1 = NORMAL)
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1
    assert len(SqliteEventLogStorage(base).get_logs_for_run(runs[0])) == len(events)

    kept.wipe()
    assert set(kept._engines) <= {"index"} and kept.get_logs_for_run(runs[-1]) == []
    kept.store_event(events[0]._replace(run_id=runs[-1]))
    assert len(kept.get_logs_for_run(runs[-1])) == 1
    kept.dispose()
