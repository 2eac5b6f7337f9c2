"""A local PostgreSQL server for the team Dagster instance: init, start, create a database, stop.

Uses the distribution's own binaries (Debian: postgresql-15). The server listens on one TCP
address only (no Unix socket), authenticates with scram-sha-256, and is stopped through the pid
in its postmaster.pid (`pg_ctl stop`), never by process name. PostgreSQL refuses to run as root;
as root, every server command runs as the `postgres` system user, which owns the data folder.

`python -m orchestration.local_postgres start|stop` reads the same variables as the team
`dagster.yaml` (DAGSTER_PG_HOST, DAGSTER_PG_PORT, DAGSTER_PG_USER, DAGSTER_PG_PASSWORD) and
keeps the server under $LOYALTY_DATA_DIR/postgres.
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from orchestration.settings import settings_from_env

DAGSTER_DATABASE = "dagster"
SERVER_USER_WHEN_ROOT = "postgres"  # the system user the Debian package creates
START_TIMEOUT_SECONDS = 60


class LocalPostgresError(RuntimeError):
    pass


def find_bin_dir(env: dict[str, str] | None = None) -> Path:
    """$LOYALTY_PG_BIN, else the directory of `initdb` on PATH, else the newest Debian install."""
    env = os.environ if env is None else env
    if env.get("LOYALTY_PG_BIN"):
        return Path(env["LOYALTY_PG_BIN"])
    on_path = shutil.which("initdb")
    if on_path:
        return Path(on_path).resolve().parent  # /usr/local/bin/initdb may link into the install
    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                       key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if installed:
        return installed[-1].parent
    raise LocalPostgresError(
        "PostgreSQL server binaries not found (initdb): install the postgresql package "
        "(Debian: apt-get install postgresql) or set LOYALTY_PG_BIN to the folder holding initdb")


@dataclass(frozen=True)
class LocalPostgres:
    root: Path          # holds pgdata/ and server.log, owned by the server user
    port: int
    user: str           # the cluster's superuser, created with `password`
    password: str
    host: str = "127.0.0.1"
    bin_dir: Path | None = None

    @property
    def data_dir(self) -> Path:
        return self.root / "pgdata"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    def _bin(self, name: str) -> str:
        return str((self.bin_dir or find_bin_dir()) / name)

    def _server_user(self) -> pwd.struct_passwd | None:
        """The user the server runs as when we are root (None: run as ourselves)."""
        if os.geteuid() != 0:
            return None
        try:
            return pwd.getpwnam(SERVER_USER_WHEN_ROOT)
        except KeyError:
            raise LocalPostgresError(
                f"running as root, and PostgreSQL refuses root: create the system user "
                f"'{SERVER_USER_WHEN_ROOT}' (the postgresql package does) to run the server") from None

    def _as_server_user(self, command: list[str]) -> list[str]:
        return command if self._server_user() is None else ["runuser", "-u", SERVER_USER_WHEN_ROOT, "--", *command]

    def _run(self, command: list[str], what: str, as_server: bool = True, timeout: float = 120) -> str:
        full = self._as_server_user(command) if as_server else command
        env = {**os.environ, "PGPASSWORD": self.password, "LC_ALL": "C.UTF-8"}
        try:
            done = subprocess.run(full, capture_output=True, text=True, env=env, timeout=timeout,
                                  cwd=tempfile.gettempdir())
        except subprocess.TimeoutExpired:
            raise LocalPostgresError(f"{what}: no answer after {timeout:.0f}s ({' '.join(command[:1])})") from None
        if done.returncode != 0:
            raise LocalPostgresError(f"{what} failed (exit {done.returncode}): "
                                     f"{(done.stderr or done.stdout).strip()[-2000:]}")
        return done.stdout

    def _prepare_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        owner = self._server_user()
        if owner is not None:  # pgdata/ and server.log are then created by the server user itself
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
            probe = subprocess.run(self._as_server_user(["test", "-w", str(self.root)]))
            if probe.returncode != 0:
                raise LocalPostgresError(
                    f"the server runs as '{SERVER_USER_WHEN_ROOT}' (we are root) and cannot reach "
                    f"{self.root}: make its parent folders traversable (chmod o+x) or set "
                    f"LOYALTY_DATA_DIR to another place")
        self.root.chmod(0o700)

    def is_initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def init(self) -> None:
        """initdb once: UTF-8, `user` as superuser with `password`, password auth on TCP only."""
        self._prepare_root()
        if self.is_initialized():
            return
        owner = self._server_user()
        with tempfile.NamedTemporaryFile("w", dir=self.root, prefix=".pw", delete=False) as pwfile:
            pwfile.write(self.password + "\n")
        try:
            if owner is not None:
                os.chown(pwfile.name, owner.pw_uid, owner.pw_gid)
            self._run([self._bin("initdb"), "-D", str(self.data_dir), "-U", self.user,
                       f"--pwfile={pwfile.name}", "--auth=scram-sha-256", "--encoding=UTF8",
                       "--locale=C.UTF-8"], "initdb")
        finally:
            os.unlink(pwfile.name)
        with (self.data_dir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# loyalty-warehouse: TCP only, on the address the Dagster instance uses.\n"
                       f"listen_addresses = '{self.host}'\nunix_socket_directories = ''\n")

    def pid(self) -> int | None:
        """The postmaster's pid from postmaster.pid, if that process is alive."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            pid = int(pid_file.read_text(encoding="utf-8").splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def is_ready(self) -> bool:
        done = subprocess.run([self._bin("pg_isready"), "-h", self.host, "-p", str(self.port), "-t", "2"],
                              capture_output=True, timeout=10)
        return done.returncode == 0

    def start(self) -> int:
        """Start the server (a no-op when ours is already running); wait until it answers; its pid."""
        self.init()
        pid = self.pid()
        if pid is None:
            if self.is_ready():
                raise LocalPostgresError(
                    f"another server already answers on {self.host}:{self.port}: set DAGSTER_PG_PORT "
                    f"to a free port")
            self._run([self._bin("pg_ctl"), "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                       "-o", f"-p {self.port}", "-w", "-t", str(START_TIMEOUT_SECONDS)],
                      "starting PostgreSQL", timeout=START_TIMEOUT_SECONDS + 10)
            pid = self.pid()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self.is_ready():
            if pid is None or time.monotonic() > deadline:
                raise LocalPostgresError(
                    f"PostgreSQL (pid {pid}, data {self.data_dir}) did not answer on {self.host}:{self.port} "
                    f"within {START_TIMEOUT_SECONDS}s; see {self.log_file} (a server started with another "
                    f"DAGSTER_PG_PORT or host: `python -m orchestration.local_postgres stop` first)")
            time.sleep(0.5)
        return pid

    def create_database(self, name: str = DAGSTER_DATABASE) -> bool:
        """Create `name` owned by `user` unless it exists; True when it was created."""
        exists = self._run([self._bin("psql"), "-h", self.host, "-p", str(self.port), "-U", self.user,
                            "-d", "postgres", "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                           "looking up the database", as_server=False).strip()
        if exists == "1":
            return False
        self._run([self._bin("createdb"), "-h", self.host, "-p", str(self.port), "-U", self.user,
                   "-O", self.user, name], f"creating database {name}", as_server=False)
        return True

    def stop(self, timeout: float = 60) -> None:
        """Fast shutdown through the postmaster's pid; returns once the process is gone."""
        pid = self.pid()
        if pid is None:
            return
        self._run([self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w",
                   "-t", str(int(timeout))], "stopping PostgreSQL", timeout=timeout + 10)


def server_from_env(env: dict[str, str] | None = None) -> LocalPostgres:
    """The local server the team dagster.yaml points at, under $LOYALTY_DATA_DIR/postgres."""
    env = dict(os.environ if env is None else env)
    missing = [name for name in ("DAGSTER_PG_PASSWORD",) if not env.get(name)]
    if missing:
        raise LocalPostgresError(f"set {', '.join(missing)}: the local server's superuser is created "
                                 "with it, and every Dagster process reads it through dagster.yaml")
    return LocalPostgres(
        root=settings_from_env(env).data_dir / "postgres",
        host=env.get("DAGSTER_PG_HOST", "127.0.0.1"),
        port=int(env.get("DAGSTER_PG_PORT", "5432")),
        user=env.get("DAGSTER_PG_USER", "dagster"),
        password=env["DAGSTER_PG_PASSWORD"],
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orchestration.local_postgres",
                                     description="Start or stop the local PostgreSQL of the team Dagster instance.")
    parser.add_argument("action", choices=["start", "stop"])
    args = parser.parse_args(argv)
    try:
        server = server_from_env()
        if args.action == "start":
            pid = server.start()
            created = server.create_database(DAGSTER_DATABASE)
            print(f"PostgreSQL (pid {pid}) on {server.host}:{server.port}, data {server.data_dir}; "
                  f"database '{DAGSTER_DATABASE}' {'created' if created else 'present'}")
        else:
            server.stop()
            print(f"PostgreSQL under {server.data_dir} stopped")
    except LocalPostgresError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
