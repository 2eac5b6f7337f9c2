"""Dagster for a team: the instance's storage in a real PostgreSQL server.

Starts PostgreSQL (the distribution's binaries) on a free port, writes the team dagster.yaml into
DAGSTER_HOME, runs one day with `loyalty run`, then a two-day backfill the way a team launches
one (`dagster job backfill` against the workspace, executed by `dagster-daemon`), and reads the
runs, materializations and check results back from the Postgres-backed instance and with psql.

The end-to-end test is opt-in (it starts servers and takes minutes): LOYALTY_TEST_POSTGRES=1, as
`make test-postgres` and CI do.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.instance_postgres import main as write_postgres_instance
from orchestration.local_postgres import DAGSTER_DATABASE, LocalPostgres, LocalPostgresError
from processes import stop_process_group

opt_in = pytest.mark.skipif(
    os.environ.get("LOYALTY_TEST_POSTGRES") != "1",
    reason="starts PostgreSQL and dagster-daemon: run with LOYALTY_TEST_POSTGRES=1 (make test-postgres)")

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
AS_OF = date(2025, 4, 10)  # the small chain runs 2025-01-01..2025-04-30
BACKFILL_DAYS = [(AS_OF + timedelta(days=n)).isoformat() for n in (1, 2)]
RUN_TIMEOUT_SECONDS = 15 * 60
BACKFILL_TIMEOUT_SECONDS = 25 * 60
# Asset groups whose materializations and checks the team must see for every day.
JUDGED_PREFIXES = ("raw", "marts", "publish")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def postgres_server():
    """A fresh PostgreSQL cluster; stopped through its postmaster pid and removed afterwards."""
    # Not under pytest's tmp_path: as root the server runs as `postgres`, which cannot enter
    # pytest's owner-only folders. The folder is chowned to the server user by LocalPostgres.
    root = Path(tempfile.mkdtemp(prefix="loyalty-pg-"))
    server = LocalPostgres(root=root, port=_free_port(), user="dagster_team",
                           password=secrets.token_urlsafe(18))
    try:
        pid = server.start()
        assert server.create_database(DAGSTER_DATABASE) is True
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
    assert server.pid() is None and not _process_alive(pid)


def _process_alive(pid: int) -> bool:
    """True while the process runs (a stopped postmaster may linger as a zombie of its reaper)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def team_env(data_env, postgres_server, monkeypatch, tmp_path) -> dict[str, str]:
    """The environment a team member's shell has: DAGSTER_HOME with Postgres storage, PG_* set."""
    monkeypatch.setenv("DAGSTER_PG_HOST", postgres_server.host)
    monkeypatch.setenv("DAGSTER_PG_PORT", str(postgres_server.port))
    monkeypatch.setenv("DAGSTER_PG_USER", postgres_server.user)
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", postgres_server.password)
    # The venv's bin first, as `make` puts it: dbt and the dagster CLIs come from there.
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    _run([sys.executable, "-m", "orchestration.instance_postgres"], env, timeout=60)  # as make dev-postgres
    return env


def _run(command: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    return done


def _wait_for_backfill_runs(instance, backfill_id: str, expected: int, daemon: subprocess.Popen,
                            daemon_log: Path):
    import dagster as dg

    deadline = time.monotonic() + BACKFILL_TIMEOUT_SECONDS
    while True:
        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        if len(runs) == expected and all(run.is_finished for run in runs):
            return runs
        assert daemon.poll() is None, f"dagster-daemon exited {daemon.returncode}:\n{daemon_log.read_text()[-5000:]}"
        assert time.monotonic() < deadline, (
            f"backfill {backfill_id} not finished after {BACKFILL_TIMEOUT_SECONDS}s: "
            f"{[(r.tags.get('dagster/partition'), r.status.value) for r in runs]}\n{daemon_log.read_text()[-5000:]}")
        time.sleep(5)


def _pool_step_windows(instance, run_ids: list[str]) -> list[tuple[float, float, str]]:
    """(start, end, run:step) of every step in the warehouse pool, over the given runs, by start."""
    import dagster as dg

    from orchestration.definitions import defs
    from orchestration.defs.partitions import WAREHOUSE_POOL

    job = defs().resolve_job_def("daily_pipeline")
    pool_steps = {node.name for node in job.nodes if getattr(node.definition, "pool", None) == WAREHOUSE_POOL}
    windows = []
    for run_id in run_ids:
        started = {}
        for entry in instance.all_logs(run_id, of_type={dg.DagsterEventType.STEP_START,
                                                        dg.DagsterEventType.STEP_SUCCESS}):
            if entry.step_key not in pool_steps:
                continue
            if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
                started[entry.step_key] = entry.timestamp
            else:
                windows.append((started.pop(entry.step_key), entry.timestamp, f"{run_id[:8]}:{entry.step_key}"))
    assert len(windows) == len(pool_steps) * len(run_ids)
    return sorted(windows)


def _psql(server: LocalPostgres, sql: str) -> list[list[str]]:
    done = subprocess.run(
        ["psql", "-h", server.host, "-p", str(server.port), "-U", server.user, "-d", DAGSTER_DATABASE,
         "-tA", "-F", "\t", "-c", sql],
        env={**os.environ, "PGPASSWORD": server.password}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [line.split("\t") for line in done.stdout.splitlines() if line]


@opt_in
def test_daily_run_and_backfill_recorded_in_postgres(team_env, postgres_server, data_env, tmp_path):
    import dagster as dg
    from dagster_postgres import PostgresEventLogStorage, PostgresRunStorage

    from orchestration.definitions import defs
    from orchestration.defs.partitions import WAREHOUSE_POOL

    # 1. One day from the command line, as the daily job runs it.
    done = _run([str(VENV_BIN / "loyalty"), "run", "--as-of", AS_OF.isoformat()], team_env, RUN_TIMEOUT_SECONDS)
    assert "succeeded" in done.stdout

    # 2. A two-day backfill of the same job: queued by the CLI, launched by the daemon.
    daemon_log = tmp_path / "dagster-daemon.log"
    with daemon_log.open("w") as log:
        daemon = subprocess.Popen([str(VENV_BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"],
                                  cwd=REPO_ROOT, env=team_env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
    try:
        done = _run([str(VENV_BIN / "dagster"), "job", "backfill", "-w", "workspace.yaml",
                     "-j", "daily_pipeline", "--partitions", ",".join(BACKFILL_DAYS), "--noprompt"],
                    team_env, timeout=10 * 60)
        backfill_id = done.stdout.split("Launched backfill job `")[1].split("`")[0]
        with dg.DagsterInstance.get() as instance:
            backfill_runs = _wait_for_backfill_runs(instance, backfill_id, len(BACKFILL_DAYS), daemon, daemon_log)
    finally:
        stop_process_group(daemon, timeout=60)

    # 3. What the team sees, read back from the Postgres-backed instance.
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.run_storage, PostgresRunStorage)
        assert isinstance(instance.event_log_storage, PostgresEventLogStorage)
        assert instance.get_backfill(backfill_id) is not None

        runs = instance.get_runs(dg.RunsFilter(job_name="daily_pipeline"))
        by_day = {run.tags.get("dagster/partition"): run for run in runs}
        all_days = [AS_OF.isoformat(), *BACKFILL_DAYS]
        assert sorted(by_day) == all_days and len(runs) == 3
        failed = {day: run.status.value for day, run in by_day.items() if run.status != dg.DagsterRunStatus.SUCCESS}
        assert not failed, failed
        assert {run.run_id for run in backfill_runs} == {by_day[day].run_id for day in BACKFILL_DAYS}

        asset_graph = defs().resolve_asset_graph()
        judged_assets = [key for key in asset_graph.materializable_asset_keys if key.path[0] in JUDGED_PREFIXES]
        assert {key.path[0] for key in judged_assets} == set(JUDGED_PREFIXES)
        missing = {key.to_user_string(): sorted(set(all_days) - instance.get_materialized_partitions(key))
                    for key in judged_assets}
        assert not {key: days for key, days in missing.items() if days}, missing

        judged_checks = [key for key in asset_graph.asset_check_keys if key.asset_key.path[0] in JUDGED_PREFIXES]
        assert len(judged_checks) > 20
        unrecorded = []
        for check_key in judged_checks:
            records = instance.event_log_storage.get_asset_check_execution_history(check_key, limit=10)
            evaluated_runs = {record.run_id for record in records if record.evaluation is not None}
            unrecorded += [f"{check_key.asset_key.to_user_string()}:{check_key.name}@{day}"
                           for day, run in by_day.items() if run.run_id not in evaluated_runs]
        assert not unrecorded, unrecorded[:20]

        assert instance.event_log_storage.get_concurrency_info(WAREHOUSE_POOL).slot_count == 1
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1
        # One run at a time, in the backfill's order; writing steps never overlap.
        windows = sorted((record.start_time, record.end_time, day) for day, record in
                         ((day, instance.get_run_record_by_id(by_day[day].run_id)) for day in BACKFILL_DAYS))
        assert [day for _, _, day in windows] == BACKFILL_DAYS and windows[0][1] <= windows[1][0], windows
        pool_steps = _pool_step_windows(instance, [by_day[day].run_id for day in BACKFILL_DAYS])
        overlapping = [(first, second) for first, second in zip(pool_steps, pool_steps[1:]) if second[0] < first[1]]
        assert not overlapping, overlapping

    # The same facts straight from PostgreSQL, without Dagster's client.
    statuses = _psql(postgres_server, "SELECT status, count(*) FROM runs "
                                      "WHERE pipeline_name = 'daily_pipeline' GROUP BY status")
    assert statuses == [["SUCCESS", "3"]]
    materialized = dict(_psql(postgres_server, """
        SELECT partition, count(DISTINCT asset_key) FROM event_logs
        WHERE dagster_event_type = 'ASSET_MATERIALIZATION' AND asset_key LIKE '["publish", %'
        GROUP BY partition"""))
    publish_assets = [key for key in asset_graph.materializable_asset_keys if key.path[0] == "publish"]
    assert len(publish_assets) == 5  # three staged extracts, the outbox, the serving copy
    assert materialized == {day: str(len(publish_assets)) for day in all_days}
    check_results = dict(_psql(postgres_server, """
        SELECT r.partition, count(*) FROM asset_check_executions c JOIN runs r USING (run_id)
        WHERE c.execution_status = 'SUCCEEDED' GROUP BY r.partition"""))
    # every check of the gated assets, dbt tests included, ran and succeeded in each day's run
    assert set(check_results) == set(all_days) and min(int(n) for n in check_results.values()) >= len(judged_checks)

    # The published days exist on disk too, and BI sees the backfill's last day.
    for day in all_days:
        assert (data_env / "outbox" / day / "manifest.json").is_file()
    with duckdb.connect(str(data_env / "serving" / "marts.duckdb"), read_only=True) as serving:
        assert serving.sql("SELECT DISTINCT as_of::VARCHAR FROM tier_list").fetchall() == [(BACKFILL_DAYS[-1],)]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root hands the server to the postgres user")
def test_root_gets_a_clear_error_when_the_server_user_cannot_reach_the_folder(tmp_path):
    """pytest's tmp folders are owner-only: the `postgres` user cannot enter them."""
    if os.stat(tmp_path.parent).st_mode & 0o001:
        pytest.skip("this tmp folder is traversable by others")
    server = LocalPostgres(root=tmp_path / "postgres", port=_free_port(), user="u", password="p")
    with pytest.raises(LocalPostgresError, match="cannot reach .*chmod o\\+x"):
        server.start()
    assert not (tmp_path / "postgres" / "pgdata").exists()


def test_instance_writer_refuses_a_home_that_is_not_postgres(tmp_path, monkeypatch, capsys):
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n", encoding="utf-8")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    for name in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER"):
        monkeypatch.setenv(name, "x")
    monkeypatch.delenv("DAGSTER_PG_PASSWORD", raising=False)
    assert write_postgres_instance() == 1
    assert "DAGSTER_PG_PASSWORD" in capsys.readouterr().err
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "secret")
    assert write_postgres_instance() == 1
    assert "does not use PostgreSQL storage" in capsys.readouterr().err
    assert (home / "dagster.yaml").read_text(encoding="utf-8") == "telemetry:\n  enabled: false\n"


def test_readme_shows_the_generated_dagster_yaml():
    """The README's Postgres section is the file `make dev-postgres` writes, not a sketch of it."""
    import textwrap

    import yaml

    from orchestration.instance_postgres import postgres_dagster_yaml

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("- **Dagster storage**"):readme.index("## Ingestion")]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    assert yaml.safe_load(textwrap.dedent(block)) == yaml.safe_load(postgres_dagster_yaml())
