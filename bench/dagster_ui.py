"""The Dagster UI of a DAGSTER_HOME, started for a moment: GraphQL queries and a screenshot.

    make screenshots   # after `make demo`: docs/img/dagster-asset-graph.png, dagster-dbt-asset.png

starts `dagster-webserver` on 127.0.0.1 (a free port) against $DAGSTER_HOME (default
data/dagster_home), waits until the code location has loaded, takes headless-Chromium
screenshots of UI pages, and stops the webserver by its process group.
tests/test_ui_metadata.py uses the same webserver to read metadata through GraphQL.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT_S = 240
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DagsterUI:
    def __init__(self, url: str) -> None:
        self.url = url

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        request = urllib.request.Request(
            f"{self.url}/graphql", data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer = json.loads(response.read())
        if answer.get("errors"):
            raise RuntimeError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]


LOCATIONS_QUERY = """{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }"""


@contextmanager
def dagster_webserver(dagster_home: Path, env: dict[str, str] | None = None) -> Iterator[DagsterUI]:
    """dagster-webserver for `dagster_home` until the block ends; its output goes to <home>/webserver.log."""
    port = free_port()
    bin_dir = Path(sys.executable).parent
    environment = {**os.environ, **(env or {}), "DAGSTER_HOME": str(dagster_home),
                   "DAGSTER_TELEMETRY_ENABLED": "false",
                   "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    log = (dagster_home / "webserver.log").open("ab")
    process = subprocess.Popen(
        [str(bin_dir / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port),
         "-w", str(REPO_ROOT / "workspace.yaml")],
        cwd=REPO_ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        ui = DagsterUI(f"http://127.0.0.1:{port}")
        _wait_until_loaded(ui, process, dagster_home / "webserver.log")
        yield ui
    finally:
        _stop(process)
        log.close()


def _wait_until_loaded(ui: DagsterUI, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"dagster-webserver exited with {process.returncode}; see {log_path}")
        try:
            entries = ui.graphql(LOCATIONS_QUERY, timeout=10)["workspaceOrError"]["locationEntries"]
            last = json.dumps(entries)[:2000]
            if entries and all(entry["loadStatus"] == "LOADED" for entry in entries):
                errors = [entry for entry in entries
                          if entry["locationOrLoadError"]["__typename"] == "PythonError"]
                if errors:
                    raise RuntimeError(f"the code location did not load: {last}")
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
            pass
        time.sleep(1)
    raise TimeoutError(f"dagster-webserver did not load the code location in {STARTUP_TIMEOUT_S}s "
                       f"(last answer: {last}); see {log_path}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the webserver's process group (it starts a code server), SIGKILL after 20 s."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        raise RuntimeError("headless Chromium not found: apt-get install -y chromium")
    return found


def screenshot(url: str, out: Path, width: int = 1600, height: int = 1000,
               render_budget_ms: int = 20000, timeout_s: int = 180) -> Path:
    """A PNG of `url` after `render_budget_ms` of page time (the graph's layout runs in a worker)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        subprocess.run(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
             f"--virtual-time-budget={render_budget_ms}", f"--screenshot={out}", url],
            check=True, timeout=timeout_s, capture_output=True)
    if not out.exists() or out.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no screenshot of {url}")
    return out


# The README's screenshots: the publish group's asset graph (gates and their results, the
# outbox, the serving copy) and a dbt model's overview with its row count.
DEFAULT_SHOTS = [
    f"/locations/loyalty_warehouse/asset-groups/publish={REPO_ROOT / 'docs/img/dagster-asset-graph.png'}",
    f"/assets/marts/tier_list={REPO_ROOT / 'docs/img/dagster-dbt-asset.png'}",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dagster-home", default=os.environ.get("DAGSTER_HOME", "data/dagster_home"))
    parser.add_argument("--shot", action="append", metavar="UI_PATH=PNG",
                        help="a UI page and the PNG to write (repeatable; default: the README's two)")
    parser.add_argument("--width", type=int, default=1800)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--render-budget-ms", type=int, default=20000)
    args = parser.parse_args(argv)
    home = Path(args.dagster_home).resolve()
    if not (home / "dagster.yaml").exists():
        print(f"{home}/dagster.yaml not found: run `make demo` first (or pass --dagster-home)", file=sys.stderr)
        return 2
    with dagster_webserver(home) as ui:
        for shot in args.shot or DEFAULT_SHOTS:
            page, out = shot.split("=", 1)
            path = screenshot(ui.url + page, Path(out), args.width, args.height, args.render_budget_ms)
            print(f"wrote {path} ({page})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
