"""A local Spark standalone cluster for the Spark engine's tests and demos: a master, workers and
a Thrift server (dbt-spark's `thrift` method), from the `pyspark` package's own jars and the
machine's Java (17+).

Every process listens on one address (127.0.0.1 by default) and is started in its own process
group; its pid is kept in `<root>/cluster.json`, and `stop` ends exactly those processes (SIGTERM,
then SIGKILL), never by name. The Hive metastore (embedded Derby) and the Spark warehouse folder
live under `<root>`, so a cluster's tables outlive a restart of the cluster.

`python -m orchestration.local_spark start|stop|status` keeps the cluster under
$LOYALTY_DATA_DIR/spark and prints the Thrift endpoint to use (LOYALTY_SPARK_HOST/PORT).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

START_TIMEOUT_SECONDS = 180
STATE_FILE = "cluster.json"


class LocalSparkError(RuntimeError):
    pass


def spark_home() -> Path:
    """$SPARK_HOME, else the `pyspark` package (its bin/ and jars/ are a Spark distribution)."""
    if os.environ.get("SPARK_HOME"):
        return Path(os.environ["SPARK_HOME"])
    try:
        import pyspark
    except ImportError:
        raise LocalSparkError("pyspark is not installed: `make install-spark` (or pip install -e '.[spark]')") from None
    return Path(pyspark.__file__).resolve().parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


def _answers(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex((host, port)) == 0


@dataclass
class LocalSparkCluster:
    root: Path
    host: str = "127.0.0.1"
    workers: int = 2
    worker_cores: int = 1
    worker_memory: str = "2g"
    master_port: int = 0
    master_ui_port: int = 0
    thrift_port: int = 0
    pids: dict[str, int] = field(default_factory=dict)  # role -> pid

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.master_port}"

    @property
    def warehouse_dir(self) -> Path:
        return self.root / "warehouse"

    @property
    def log_dir(self) -> Path:
        return self.root / "logs"

    # ----------------------------------------------------------------------------- lifecycle

    def start(self, timeout: float = START_TIMEOUT_SECONDS) -> "LocalSparkCluster":
        """Start the master, the workers and the Thrift server; return once all of them answer.
        A process that dies or a cluster that does not answer in time stops everything started."""
        running = self.load(self.root)
        if running is not None and running.alive():
            raise LocalSparkError(f"a local Spark cluster already runs from {self.root} "
                                  f"(pids {running.pids}): `python -m orchestration.local_spark stop` first")
        self.root.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(exist_ok=True)
        self.warehouse_dir.mkdir(exist_ok=True)
        self.master_port = self.master_port or free_port(self.host)
        self.master_ui_port = self.master_ui_port or free_port(self.host)
        self.thrift_port = self.thrift_port or free_port(self.host)
        deadline = time.monotonic() + timeout
        try:
            self._launch("master", ["org.apache.spark.deploy.master.Master", "--host", self.host,
                                    "--port", str(self.master_port), "--webui-port", str(self.master_ui_port)])
            self._wait(lambda: _answers(self.host, self.master_port), "the master", deadline)
            for index in range(self.workers):
                work_dir = self.root / f"worker-{index}"
                work_dir.mkdir(exist_ok=True)
                self._launch(f"worker-{index}", [
                    "org.apache.spark.deploy.worker.Worker", self.master_url, "--host", self.host,
                    "--cores", str(self.worker_cores), "--memory", self.worker_memory,
                    "--webui-port", str(free_port(self.host)), "--work-dir", str(work_dir)])
            self._wait(lambda: self.alive_workers() >= self.workers, f"{self.workers} workers", deadline)
            self._launch("thrift", self._thrift_command(), submit=True)
            self._wait(lambda: _answers(self.host, self.thrift_port), "the Thrift server", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def _thrift_command(self) -> list[str]:
        metastore = self.root / "metastore_db"
        confs = {
            "spark.master": self.master_url,
            "spark.sql.warehouse.dir": self.warehouse_dir.as_uri(),
            "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={metastore};create=true",
            "spark.driver.host": self.host,
            "spark.driver.bindAddress": self.host,
            "spark.ui.enabled": "false",
            "spark.executor.memory": self.worker_memory,
            "spark.sql.sources.partitionOverwriteMode": "dynamic",
            "spark.sql.session.timeZone": "UTC",
            "spark.hadoop.fs.permissions.umask-mode": "077",  # tables and exports hold PII
        }
        command = ["--class", "org.apache.spark.sql.hive.thriftserver.HiveThriftServer2",
                   "--name", "loyalty-thrift"]
        for key, value in confs.items():
            command += ["--conf", f"{key}={value}"]
        command += ["--hiveconf", f"hive.server2.thrift.port={self.thrift_port}",
                    "--hiveconf", f"hive.server2.thrift.bind.host={self.host}", "spark-internal"]
        return command

    def _launch(self, role: str, arguments: list[str], submit: bool = False) -> None:
        home = spark_home()
        script = home / "bin" / ("spark-submit" if submit else "spark-class")
        env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": self.host,
               "SPARK_LOG_DIR": str(self.log_dir), "SPARK_NO_DAEMONIZE": "1",
               "SPARK_WORKER_DIR": str(self.root / "work")}
        log = (self.log_dir / f"{role}.log").open("ab")
        # spark-class ends in `exec java ...`: the pid is the JVM's; its own group for the stop
        process = subprocess.Popen(["bash", str(script), *arguments], cwd=self.root, env=env,
                                   stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        log.close()
        self.pids[role] = process.pid
        self._save()

    def _wait(self, ready, what: str, deadline: float) -> None:
        while not ready():
            dead = [role for role, pid in self.pids.items() if not _alive(pid)]
            if dead:
                raise LocalSparkError(f"Spark {dead[0]} exited while waiting for {what}; see "
                                      f"{self.log_dir / (dead[0] + '.log')}")
            if time.monotonic() > deadline:
                raise LocalSparkError(f"{what} did not answer within the start timeout; see {self.log_dir}")
            time.sleep(0.5)

    def alive_workers(self) -> int:
        try:
            with urllib.request.urlopen(f"http://{self.host}:{self.master_ui_port}/json/", timeout=2) as answer:
                status = json.load(answer)
        except OSError:
            return 0
        return sum(1 for worker in status.get("workers", []) if worker.get("state") == "ALIVE")

    def alive(self) -> bool:
        return any(_alive(pid) for pid in self.pids.values())

    def stop(self, timeout: float = 30) -> None:
        """Stop the processes this cluster started (the Thrift server first), by pid."""
        for role in sorted(self.pids, key=lambda r: (r != "thrift", r.startswith("master"))):
            _stop_group(self.pids[role], timeout)
        self.pids = {}
        self._save()

    # ----------------------------------------------------------------------------- state

    def _save(self) -> None:
        state = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        (self.root / STATE_FILE).write_text(json.dumps(state, indent=2), encoding="utf-8")

    @classmethod
    def load(cls, root: Path) -> "LocalSparkCluster | None":
        try:
            state = json.loads((root / STATE_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        state["root"] = Path(state["root"])
        return cls(**state)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by us) is not alive
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _stop_group(pid: int, timeout: float) -> None:
    """SIGTERM to the process group `pid` leads, SIGKILL after `timeout`."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        try:
            os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
        except ChildProcessError:
            pass
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def cluster_root() -> Path:
    from orchestration.settings import settings_from_env
    return settings_from_env().data_dir / "spark_cluster"  # not data/spark: the session method's own metastore


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.local_spark", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=("start", "stop", "status"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--thrift-port", type=int, default=10000)
    args = parser.parse_args(argv)
    root = cluster_root()
    running = LocalSparkCluster.load(root)
    if args.command == "start":
        cluster = LocalSparkCluster(root, workers=args.workers, thrift_port=args.thrift_port).start()
        print(f"Spark master {cluster.master_url}, {cluster.workers} workers, Thrift server on "
              f"{cluster.host}:{cluster.thrift_port} (pids {cluster.pids})\n"
              f"LOYALTY_ENGINE=spark LOYALTY_SPARK_METHOD=thrift LOYALTY_SPARK_HOST={cluster.host} "
              f"LOYALTY_SPARK_PORT={cluster.thrift_port}")
    elif args.command == "stop":
        if running is not None:
            running.stop()
        print("stopped")
    else:
        alive = running is not None and running.alive()
        print(f"running: {running.pids}" if alive else "not running")
        return 0 if alive else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
