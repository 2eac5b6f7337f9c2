"""A run killed mid-way (SIGKILL) does not block later runs: the next run (or, for the daemon,
the dead_run_recovery sensor) marks it failed and frees its pool slot, waits for the dbt it
left running, and publishes what an uninterrupted run publishes. Real processes throughout."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.ref import InstanceRef

from orchestration.instance import dagster_yaml
from processes import copy_sources_without_manifest
from orchestration.run_guard import (
    WarehouseBusyError, abandoned_runs, file_lock_owner, run_alive, wait_until_file_free, warehouse_lock,
)

REPO = Path(__file__).resolve().parent.parent
AS_OF = "2025-04-30"  # the small chain's last day
POOL = "duckdb_warehouse"
LOYALTY = str(Path(sys.executable).with_name("loyalty"))
RUN_TIMEOUT = 900  # seconds for one whole run on a busy 2-core machine


def run_env(data_dir: Path, home: Path, landing: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "LOYALTY_PROGRAM"}
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(dagster_yaml(home), encoding="utf-8")
    return {**env, "LOYALTY_DATA_DIR": str(data_dir), "LOYALTY_LANDING_DIR": str(landing),
            "DAGSTER_HOME": str(home), **extra}


def start(command: list[str], env: dict[str, str], log: Path, cwd: Path = REPO) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT)


def children(pid: int) -> dict[int, str]:
    """pid -> command line of the processes whose parent is `pid`."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def wait_for_step(instance: dg.DagsterInstance, proc: subprocess.Popen, log: Path, known: set[str],
                  step_key: str) -> str:
    """The new run's id once its `step_key` has started (read from the run's event log)."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the run ended before {step_key}:\n{log.read_text()[-3000:]}"
        for run in instance.get_runs(limit=5):
            if run.run_id not in known and any(
                    e.step_key == step_key
                    for e in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)):
                return run.run_id
        time.sleep(0.1)
    pytest.fail(f"no run reached {step_key} in {RUN_TIMEOUT}s")


def kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)  # the run's process only, as the OOM killer would
    proc.wait(timeout=30)


def slot_holders(instance: dg.DagsterInstance) -> set[str]:
    info = instance.event_log_storage.get_concurrency_info(POOL)
    return {s.run_id for s in info.claimed_slots} | {s.run_id for s in info.pending_steps}


def published(outbox_dir: Path) -> dict:
    folder = outbox_dir / AS_OF
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {"tier_list.csv": (folder / "tier_list.csv").read_bytes(),
            "lapsed_customers.csv": (folder / "lapsed_customers.csv").read_bytes(),
            "rows": {name: entry["rows"] for name, entry in manifest["files"].items()},
            "left_out": manifest["lapsed_at_risk_left_out"]}


@pytest.mark.slow  # its own CI step (make test-slow): it runs the pipeline several times
def test_runs_killed_in_ingestion_dbt_and_publishing_are_failed_and_the_next_run_publishes_once(
        tmp_path, small_landing, monkeypatch):
    # The uninterrupted reference runs meanwhile, from a fresh copy of the sources (no dbt
    # manifest: the CLI prepares it) with a PATH that lacks the virtualenv.
    source_copy = copy_sources_without_manifest(tmp_path / "installed")
    reference_env = run_env(tmp_path / "reference", tmp_path / "reference_home", small_landing,
                            PATH="/usr/bin:/bin", PYTHONPATH=str(source_copy))
    reference_log = tmp_path / "reference.log"
    reference = start([sys.executable, "-m", "orchestration.cli", "run", "--as-of", AS_OF],
                      reference_env, reference_log, cwd=source_copy)

    data_dir, home = tmp_path / "data", tmp_path / "home"
    env = run_env(data_dir, home, small_landing)
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    processes: list[subprocess.Popen] = [reference]
    orphans: list[int] = []
    killed: list[str] = []
    try:
        # 1. Killed while ingesting POS lines: the run stays STARTED and keeps the pool's slot.
        proc = start([LOYALTY, "run", "--as-of", AS_OF], env, tmp_path / "run1.log")
        processes.append(proc)
        killed.append(wait_for_step(instance, proc, tmp_path / "run1.log", set(killed), "raw__pos_lines"))
        kill(proc)
        assert instance.get_run_by_id(killed[0]).status == dg.DagsterRunStatus.STARTED
        assert killed[0] in slot_holders(instance)

        # As a run from before the run guard would have left it (no .alive file, no lock
        # record): only its slot and its pid tell. The daemon's way: queued runs cannot start
        # while the slot is taken, the sensor frees it.
        for alive in (data_dir / "run_guard" / "runs").glob("*.alive"):
            alive.unlink()
        (data_dir / "run_guard" / "warehouse.lock").write_text("")
        from orchestration.defs.run_recovery import dead_run_recovery

        monkeypatch.setenv("LOYALTY_DATA_DIR", str(data_dir))
        outcome = dead_run_recovery(dg.build_sensor_context(instance=instance))
        assert f"recovered run {killed[0]} (STARTED): its process (pid {proc.pid}) is gone" in outcome.skip_message
        assert instance.get_run_by_id(killed[0]).status == dg.DagsterRunStatus.FAILURE
        assert slot_holders(instance) == set()

        # 2. Killed during dbt: its dbt child survives the kill and keeps the DuckDB file open.
        proc = start([LOYALTY, "run", "--as-of", AS_OF], env, tmp_path / "run2.log")
        processes.append(proc)
        killed.append(wait_for_step(instance, proc, tmp_path / "run2.log", set(killed), "loyalty_dbt_models"))
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (dbt := [p for p, cmd in children(proc.pid).items() if "dbt build" in cmd]):
            assert time.monotonic() < deadline and proc.poll() is None, "dbt never started"
            time.sleep(0.1)
        time.sleep(2)  # dbt is building models
        orphans += dbt
        kill(proc)
        assert running(dbt[0]), "dbt should outlive its parent (the case the next run must wait for)"

        # 3. The next run fails run 2, waits for the orphaned dbt, and is killed while publishing.
        log3 = tmp_path / "run3.log"
        proc = start([LOYALTY, "run", "--as-of", AS_OF], env, log3)
        processes.append(proc)
        killed.append(wait_for_step(instance, proc, log3, set(killed), "publish__outbox"))
        assert instance.get_run_by_id(killed[1]).status == dg.DagsterRunStatus.FAILURE
        assert f"recovered run {killed[1]} (STARTED)" in log3.read_text()
        if f"still open in process {dbt[0]}" not in log3.read_text():
            # The orphan had finished before run 3 got there; it must be gone by now anyway.
            assert not running(dbt[0])
        assert not running(dbt[0]), "run 3 must not start its steps while dbt writes the warehouse"
        kill(proc)

        # 4. A normal run finishes and publishes once.
        final_log = tmp_path / "run4.log"
        final = start([LOYALTY, "run", "--as-of", AS_OF], env, final_log)
        processes.append(final)
        assert final.wait(timeout=RUN_TIMEOUT) == 0, final_log.read_text()[-5000:]
        assert f"recovered run {killed[2]} (STARTED)" in final_log.read_text()
        assert reference.wait(timeout=RUN_TIMEOUT) == 0, reference_log.read_text()[-5000:]
    finally:
        for pid in [p.pid for p in processes if p.poll() is None] + [p for p in orphans if running(p)]:
            os.kill(pid, signal.SIGKILL)

    for run_id in killed:
        run = instance.get_run_by_id(run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        failure = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
        assert "process disappeared" in failure.message
    assert slot_holders(instance) == set()
    assert sorted(os.listdir(data_dir / "outbox")) == [".staging", AS_OF]
    assert os.listdir(data_dir / "outbox" / ".staging") == []
    assert published(data_dir / "outbox") == published(tmp_path / "reference" / "outbox")
    assert "prepared the dbt manifest" in reference_log.read_text()
    assert (source_copy / "dbt_project" / "target" / "manifest.json").exists()


def test_a_run_waits_for_a_live_run_at_most_the_configured_time_then_fails_naming_it(tmp_path, small_landing):
    data_dir, home = tmp_path / "data", tmp_path / "home"
    env = run_env(data_dir, home, small_landing, LOYALTY_RUN_WAIT_SECONDS="3")
    with warehouse_lock(data_dir, "live-run-id", 0):  # this process is the live run
        started = time.monotonic()
        done = subprocess.run([LOYALTY, "run", "--as-of", AS_OF], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=RUN_TIMEOUT)
        elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert (f"RUN NOT STARTED: orchestration.run_guard.WarehouseBusyError: gave up after 3s: the warehouse "
            f"{data_dir} is in use by run live-run-id (pid {os.getpid()}") in done.stderr
    assert "waiting up to 3s" in done.stderr
    instance = dg.DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))
    [run] = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert not instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_START)  # nothing ran
    assert elapsed < RUN_TIMEOUT
    with warehouse_lock(data_dir, "next", 0) as stale:
        assert stale is None  # the live holder released normally: nothing to recover


HOLD = """
import sys, time
from pathlib import Path
from orchestration.run_guard import run_alive, warehouse_lock
data, what = Path(sys.argv[1]), sys.argv[2]
if what == "lock":
    with warehouse_lock(data, "killed-run", 0):
        print("held", flush=True); time.sleep(600)
elif what == "alive":
    with run_alive(data, "killed-run"):
        print("held", flush=True); time.sleep(600)
else:
    import duckdb
    con = duckdb.connect(str(data / "warehouse.duckdb"))
    print("held", flush=True); time.sleep(600)
"""


def hold_in_subprocess(data_dir: Path, what: str) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(data_dir), what], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_the_lock_of_a_killed_holder_is_free_and_names_it(tmp_path):
    holder = hold_in_subprocess(tmp_path, "lock")
    try:
        with pytest.raises(WarehouseBusyError, match=f"in use by run killed-run \\(pid {holder.pid} "):
            with warehouse_lock(tmp_path, "other", 0.5):
                pass
    finally:
        holder.kill()
        holder.wait()
    with warehouse_lock(tmp_path, "next", 0) as stale:
        assert stale.run_id == "killed-run" and stale.pid == holder.pid
        with warehouse_lock(tmp_path, "next", 0) as nested:  # re-entrant: the CLI around the resource
            assert nested is None


def test_a_run_whose_process_died_is_told_from_a_live_one(tmp_path):
    dead = hold_in_subprocess(tmp_path, "alive")
    os.kill(dead.pid, signal.SIGKILL)
    dead.wait()
    with run_alive(tmp_path, "live-run"):
        found_dead, found_alive = abandoned_runs(tmp_path, own_run_id=None)
    assert set(found_dead) == {"killed-run"} and found_dead["killed-run"].pid == dead.pid
    assert found_alive == {"live-run"}
    assert abandoned_runs(tmp_path, own_run_id=None) == ({}, set())  # reported once


def test_waiting_for_a_process_that_keeps_the_duckdb_file_open_is_bounded_and_names_it(tmp_path):
    holder = hold_in_subprocess(tmp_path, "duckdb")
    try:
        assert file_lock_owner(tmp_path / "warehouse.duckdb") == holder.pid
        with pytest.raises(WarehouseBusyError, match=f"still open in process {holder.pid} "):
            wait_until_file_free(tmp_path / "warehouse.duckdb", 1, lambda message: None)
    finally:
        holder.kill()
        holder.wait()
    assert file_lock_owner(tmp_path / "warehouse.duckdb") is None
    wait_until_file_free(tmp_path / "warehouse.duckdb", 0, lambda message: None)
