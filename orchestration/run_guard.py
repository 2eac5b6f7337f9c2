"""One run at a time per warehouse, and recovery from runs whose process died.

Dagster's default run launcher cannot tell that a run's process is gone, so a run killed
mid-way (SIGKILL, out of memory, reboot) stays STARTED and keeps its slot of the
`duckdb_warehouse` pool for ever. The guard below is taken by the warehouse resource before
any step of a run claims a slot (in-process execution initialises resources first):

1. `run_guard/runs/<run_id>.alive`: an OS lock (flock) the run's process holds until it ends,
   so any other process can tell a live run from a dead one (the kernel drops the lock with
   the process, whatever killed it).
2. `run_guard/warehouse.lock`: an OS lock held while the run executes, waited for at most
   LOYALTY_RUN_WAIT_SECONDS (an error names the live holder). It records the holder's run id
   and is cleared on a normal release, so a record found by the next holder names a dead run.
3. Once it holds the lock, the run fails every run that is provably dead (the uncleared
   holder, runs whose `.alive` lock is free, runs holding slots of the pool whose process is
   gone) and frees their slots, then waits (bounded) until no other process has the DuckDB
   file open (a `dbt` child survives the SIGKILL of its parent and keeps writing).

`recover_when_idle` does step 3 from the daemon (a sensor), where queued runs cannot start
while a dead run holds the pool's only slot.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

WAIT_SECONDS_ENV = "LOYALTY_RUN_WAIT_SECONDS"
# Longer than any day's run at chain scale (about 7 minutes) times the few that can queue up.
DEFAULT_WAIT_SECONDS = 3600.0
POLL_SECONDS = 0.5
GUARD_FOLDER = "run_guard"


class WarehouseBusyError(RuntimeError):
    """Another live process holds the warehouse for longer than we may wait."""


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock file: written into it, read by whoever waits or recovers."""

    run_id: str | None
    pid: int
    host: str
    since: str

    @classmethod
    def me(cls, run_id: str | None) -> Holder:
        return cls(run_id=run_id, pid=os.getpid(), host=socket.gethostname(),
                   since=datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def describe(self) -> str:
        run = f"run {self.run_id}" if self.run_id else "a recovery check"
        return f"{run} (pid {self.pid} on {self.host}, since {self.since})"

    def to_json(self) -> str:
        return json.dumps(self.__dict__, sort_keys=True)

    @classmethod
    def from_text(cls, text: str) -> Holder | None:
        try:
            data = json.loads(text)
            return cls(run_id=data.get("run_id"), pid=int(data["pid"]), host=str(data["host"]),
                       since=str(data["since"]))
        except (ValueError, KeyError, TypeError):
            return None


@dataclass(frozen=True)
class Recovered:
    run_id: str
    status_before: str
    reason: str
    slots_freed: int

    def describe(self) -> str:
        marked = "" if self.status_before in ("FAILURE", "SUCCESS", "CANCELED") else "marked FAILURE, "
        return f"run {self.run_id} ({self.status_before}): {self.reason}; {marked}{self.slots_freed} pool slot(s) freed"


def wait_seconds(env: dict | None = None) -> float:
    env = os.environ if env is None else env
    raw = env.get(WAIT_SECONDS_ENV, "")
    try:
        return float(raw) if raw else DEFAULT_WAIT_SECONDS
    except ValueError as exc:
        raise ValueError(f"{WAIT_SECONDS_ENV}={raw!r} is not a number of seconds") from exc


def guard_dir(data_dir: Path) -> Path:
    folder = data_dir / GUARD_FOLDER
    (folder / "runs").mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.chmod(0o700)
    return folder


# --- the warehouse lock: re-entrant within a thread, exclusive across threads and processes ---

_HELD: set[str] = set()  # lock files this process holds
_THREAD_LOCKS: dict[str, threading.RLock] = {}
_REGISTRY = threading.Lock()


def _thread_lock(key: str) -> threading.RLock:
    with _REGISTRY:
        return _THREAD_LOCKS.setdefault(key, threading.RLock())


def read_holder(lock_path: Path) -> Holder | None:
    try:
        return Holder.from_text(lock_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


@contextmanager
def warehouse_lock(data_dir: Path, run_id: str | None, timeout: float,
                   on_wait: Callable[[str], None] = lambda message: None) -> Iterator[Holder | None]:
    """Hold `run_guard/warehouse.lock`; yields the holder of an earlier, uncleared record (a
    process that died holding the lock), or None. flock belongs to an open file description,
    so a nested acquisition in the same thread (the CLI around the resource) must not open
    the file again: it would wait for itself."""
    lock_path = guard_dir(data_dir) / "warehouse.lock"
    key = str(lock_path)
    deadline = time.monotonic() + timeout
    thread_lock = _thread_lock(key)
    if not thread_lock.acquire(timeout=max(timeout, 0)):
        raise _busy(lock_path, timeout)
    try:
        if key in _HELD:  # this thread holds it already
            yield None
            return
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _flock_until(fd, deadline, lambda: _busy(lock_path, timeout),
                         lambda: on_wait(_waiting_message(lock_path, timeout)))
            stale = Holder.from_text(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            _rewrite(fd, Holder.me(run_id).to_json())
            _HELD.add(key)
            try:
                yield stale
            finally:
                _HELD.discard(key)
                _rewrite(fd, "")  # cleared: the next holder knows we ended normally
        finally:
            os.close(fd)  # releases the flock
    finally:
        thread_lock.release()


def _flock_until(fd: int, deadline: float, busy: Callable[[], Exception],
                 waiting: Callable[[], None]) -> None:
    announced = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise busy() from None
            if not announced:
                waiting()
                announced = True
            time.sleep(POLL_SECONDS)


def _rewrite(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    os.pwrite(fd, text.encode("utf-8"), 0)
    os.fsync(fd)


def _waiting_message(lock_path: Path, timeout: float) -> str:
    holder = read_holder(lock_path)
    who = holder.describe() if holder else "another process"
    return (f"the warehouse is in use by {who}; waiting up to {timeout:.0f}s for it to finish "
            f"({WAIT_SECONDS_ENV})")


def _busy(lock_path: Path, timeout: float) -> WarehouseBusyError:
    holder = read_holder(lock_path)
    who = holder.describe() if holder else "another process"
    return WarehouseBusyError(
        f"gave up after {timeout:.0f}s: the warehouse {lock_path.parent.parent} is in use by {who}. "
        f"Let that run finish and start this one again, or wait longer with {WAIT_SECONDS_ENV}.")


# --- liveness of each run ---

@contextmanager
def run_alive(data_dir: Path, run_id: str) -> Iterator[None]:
    """Hold runs/<run_id>.alive while this process runs the run. Locked before it gets its
    final name, so a scan never takes a fresh file for an abandoned one; removed before the
    lock is released, so a scan never takes a finished run's file for an abandoned one."""
    runs = guard_dir(data_dir) / "runs"
    final = runs / f"{run_id}.alive"
    temporary = runs / f".{run_id}.{os.getpid()}.tmp"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, Holder.me(run_id).to_json().encode("utf-8"))
        os.replace(temporary, final)
        try:
            yield
        finally:
            final.unlink(missing_ok=True)
    finally:
        temporary.unlink(missing_ok=True)
        os.close(fd)


def abandoned_runs(data_dir: Path, own_run_id: str | None) -> tuple[dict[str, Holder | None], set[str]]:
    """(runs whose `.alive` lock nobody holds: their process is gone, live run ids). The
    abandoned files are removed."""
    dead: dict[str, Holder | None] = {}
    alive: set[str] = set()
    for path in sorted((guard_dir(data_dir) / "runs").glob("*.alive")):
        run_id = path.name[: -len(".alive")]
        if run_id == own_run_id:
            continue
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # its run just ended
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            alive.add(run_id)
        else:
            dead[run_id] = Holder.from_text(os.pread(fd, 4096, 0).decode("utf-8", "replace"))
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)
    return dead, alive


def process_alive(pid: int, started_by: float | None = None) -> bool:
    """Whether process `pid` runs, and (if /proc tells) started no later than `started_by`
    (epoch seconds): a later start is another process that reused the pid."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    if fields[0] in ("Z", "X"):
        return False
    if started_by is None:
        return True
    start = _boot_time() + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return start <= started_by + 1.0


def _boot_time() -> float:
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("btime "):
            return float(line.split()[1])
    return 0.0


# --- the DuckDB file: another process may still have it open ---

def file_lock_owner(path: Path) -> int | None:
    """pid of a process holding a lock on `path` (DuckDB locks its file with fcntl), -1 if
    the owner is unknown, None if there is none. Only call this while this process has no
    DuckDB connection to the file: closing any descriptor of a file drops this process's
    fcntl locks on it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        query = struct.pack("hhqqi4x", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        l_type, _, _, _, pid = struct.unpack("hhqqi4x", fcntl.fcntl(fd, fcntl.F_GETLK, query))
    finally:
        os.close(fd)
    return None if l_type == fcntl.F_UNLCK else (pid if pid > 0 else -1)


def describe_process(pid: int) -> str:
    if pid < 0:
        return "an unknown process"
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        command = ""
    return f"process {pid} ({command.strip()[:120]})" if command.strip() else f"process {pid}"


def wait_until_file_free(path: Path, timeout: float, on_wait: Callable[[str], None]) -> None:
    """Wait (at most `timeout`) until no other process has the DuckDB file open: a `dbt`
    child outlives the SIGKILL of its run and writes until its build ends."""
    deadline = time.monotonic() + timeout
    announced = False
    while (owner := file_lock_owner(path)) is not None:
        if time.monotonic() >= deadline:
            raise WarehouseBusyError(
                f"gave up after {timeout:.0f}s: {path} is still open in {describe_process(owner)}, "
                f"e.g. a dbt left running by a killed run, or a DuckDB session. Close it (or let it "
                f"finish) and start this run again, or wait longer with {WAIT_SECONDS_ENV}.")
        if not announced:
            on_wait(f"{path.name} is still open in {describe_process(owner)} (a dbt left running by a "
                    f"killed run finishes its build first); waiting up to {timeout:.0f}s")
            announced = True
        time.sleep(POLL_SECONDS)


# --- recovery: fail dead runs, free their slots ---

def recover_dead_runs(instance, data_dir: Path, pool: str, own_run_id: str | None,
                      stale: Holder | None) -> list[Recovered]:
    """Call only while holding the warehouse lock: then no live run of this warehouse holds a
    slot of `pool`, and every run named below is dead."""
    dead: dict[str, str] = {}
    if stale is not None and stale.run_id and stale.run_id != own_run_id:
        dead[stale.run_id] = f"its process (pid {stale.pid} on {stale.host}) died holding the warehouse"
    abandoned, alive = abandoned_runs(data_dir, own_run_id)
    for run_id, holder in abandoned.items():
        where = f" (pid {holder.pid} on {holder.host})" if holder else ""
        dead.setdefault(run_id, f"its process{where} is gone")

    storage = instance.event_log_storage
    holders: set[str] = set()
    slot_counts: dict[str, int] = {}
    if storage.supports_global_concurrency_limits:
        info = storage.get_concurrency_info(pool)
        holders = {slot.run_id for slot in info.claimed_slots} | {step.run_id for step in info.pending_steps}
        for slot in info.claimed_slots:
            slot_counts[slot.run_id] = slot_counts.get(slot.run_id, 0) + 1
    for run_id in sorted(holders - alive - set(dead) - {own_run_id}):
        run = instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            storage.free_concurrency_slots_for_run(run_id)  # a finished run's leftover claims
            continue
        # No .alive file: a run from before the guard existed. Its pid tells only on a
        # single-machine instance (another machine's pid means nothing here).
        pid, since = _executing_pid(instance, run_id)
        if pid is not None and _runs_on_this_machine(instance) and not process_alive(pid, since):
            dead[run_id] = f"its process (pid {pid}) is gone"

    recovered = []
    for run_id, reason in sorted(dead.items()):
        run = instance.get_run_by_id(run_id)
        if run is None:
            continue
        status = run.status.value
        if not run.is_finished:
            instance.report_run_failed(
                run, f"This run's process disappeared (killed, out of memory or a reboot): {reason}. "
                     f"Marked failed by {'run ' + own_run_id if own_run_id else 'the recovery sensor'}, "
                     f"which freed its slots of pool {pool}.")
        freed = slot_counts.get(run_id, 0)
        storage.free_concurrency_slots_for_run(run_id)
        if not run.is_finished or freed:
            recovered.append(Recovered(run_id=run_id, status_before=status, reason=reason, slots_freed=freed))
    return recovered


def _runs_on_this_machine(instance) -> bool:
    from dagster._core.storage.runs import InMemoryRunStorage, SqliteRunStorage

    return isinstance(instance.run_storage, (SqliteRunStorage, InMemoryRunStorage))


def _executing_pid(instance, run_id: str) -> tuple[int | None, float | None]:
    """The pid from the in-process executor's "Executing steps in process (pid: N)" event."""
    from dagster import DagsterEventType

    for entry in reversed(instance.all_logs(run_id, of_type=DagsterEventType.ENGINE_EVENT)):
        data = entry.dagster_event.engine_event_data if entry.dagster_event else None
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            try:
                return int(pid.value), entry.timestamp
            except (TypeError, ValueError):
                return None, None
    return None, None


@contextmanager
def guarded_run(instance, data_dir: Path, warehouse_path: Path, run_id: str, pool: str,
                log: Callable[[str], None], warn: Callable[[str], None],
                timeout: float | None = None) -> Iterator[list[Recovered]]:
    """Everything a run does before its first step: be known alive, hold the warehouse, fail
    and free dead runs, wait for a leftover process to let go of the DuckDB file."""
    timeout = wait_seconds() if timeout is None else timeout
    with run_alive(data_dir, run_id), warehouse_lock(data_dir, run_id, timeout, log) as stale:
        recovered = recover_dead_runs(instance, data_dir, pool, run_id, stale) if instance else []
        for item in recovered:
            warn(f"recovered {item.describe()}")
        wait_until_file_free(warehouse_path, timeout, log)
        yield recovered


def recover_when_idle(instance, data_dir: Path, pool: str) -> str:
    """The daemon's way in (a sensor): recover only if no run holds the warehouse now."""
    try:
        with warehouse_lock(data_dir, None, 0) as stale:
            recovered = recover_dead_runs(instance, data_dir, pool, None, stale)
    except WarehouseBusyError:
        holder = read_holder(guard_dir(data_dir) / "warehouse.lock")
        return f"{holder.describe() if holder else 'a run'} holds the warehouse; nothing to recover"
    if not recovered:
        return "no dead run found"
    return "recovered " + "; ".join(item.describe() for item in recovered)
