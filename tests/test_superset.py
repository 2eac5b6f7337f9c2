"""Apache Superset on the serving copy, as an analyst meets it (opt-in: `make test-superset`).

A real pipeline run writes the serving copy of a small chain; `bi/superset/manage.py setup` (what
`make superset` runs) provisions Superset from the committed YAML; Superset runs under gunicorn on
127.0.0.1 in its own venv. Through its REST API: every chart of "Loyalty overview" returns rows, the
connection is read-only, and the dashboard keeps answering while the next day's `loyalty run`
replaces the copy under it. Headless Chromium then draws the dashboard.

The server tests are skipped unless LOYALTY_TEST_SUPERSET=1 (Superset's venv takes minutes to
install); CI runs them in their own step. The committed YAML is checked in every run.
"""

from __future__ import annotations

import http.cookiejar
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, SMALL_CHAIN
from processes import stop_process_group

needs_superset = pytest.mark.skipif(os.environ.get("LOYALTY_TEST_SUPERSET") != "1",
                                    reason="Superset test is opt-in: LOYALTY_TEST_SUPERSET=1 (make test-superset)")

SUPERSET_DIR = REPO_ROOT / "bi" / "superset"
SUPERSET_PYTHON = Path(os.environ.get("SUPERSET_VENV", SUPERSET_DIR / ".venv")).resolve() / "bin" / "python"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
DASHBOARD = "loyalty-overview"
EXPECTED_CHARTS = {
    "Data as of", "Customer pyramid", "Spend share by pyramid segment", "Tier mix",
    "Month-end tier movements", "Monthly churn", "Cohort retention",
    "Lapsed and at-risk members by win-back priority", "Key customers per store", "Key customers (masked)",
}
LAST_DAY = SMALL_CHAIN["start"] + timedelta(days=SMALL_CHAIN["days"] - 1)
FIRST_RUN_DAY, NEXT_RUN_DAY = LAST_DAY - timedelta(days=1), LAST_DAY
PIPELINE_TIMEOUT_S = 900
STARTUP_TIMEOUT_S = 300


def _run(command: list, env: dict, timeout: float, what: str) -> None:
    done = subprocess.run([str(part) for part in command], env=env, capture_output=True, text=True,
                          timeout=timeout, cwd=REPO_ROOT)
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Api:
    """Superset's REST API as a script sees it: JWT from /security/login, CSRF for writes."""

    def __init__(self, base_url: str):
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.headers: dict[str, str] = {}

    def call(self, method: str, path: str, body: dict | None = None, timeout: float = 120) -> tuple[int, dict]:
        request = urllib.request.Request(f"{self.base_url}{path}", method=method, headers=dict(self.headers),
                                         data=None if body is None else json.dumps(body).encode())
        if body is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(request, timeout=timeout) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, {"text": text[:2000]}

    def login(self, username: str, password: str) -> int:
        status, body = self.call("POST", "/api/v1/security/login",
                                 {"username": username, "password": password, "provider": "db", "refresh": False})
        if status == 200:
            self.headers["Authorization"] = f"Bearer {body['access_token']}"
            status, csrf = self.call("GET", "/api/v1/security/csrf_token/")
            assert status == 200, csrf
            self.headers["X-CSRFToken"] = csrf["result"]
            self.headers["Referer"] = self.base_url  # Flask-WTF checks it on writes
        return status

    def chart_data(self, chart_id: int) -> tuple[int, dict]:
        # force: bypass any result cache, so each call reads the serving copy
        return self.call("GET", f"/api/v1/chart/{chart_id}/data/?force=true")


@dataclass
class Superset:
    base_url: str
    env: dict
    data_dir: Path
    log: Path
    admin: tuple[str, str]

    def api(self) -> Api:
        api = Api(self.base_url)
        assert api.login(*self.admin) == 200
        return api


@pytest.fixture(scope="module")
def superset(tmp_path_factory, small_landing):
    """The pipeline's serving copy for FIRST_RUN_DAY, provisioned Superset, and gunicorn serving it."""
    if not SUPERSET_PYTHON.exists():
        pytest.fail(f"no Superset venv at {SUPERSET_PYTHON.parent.parent}: run `make superset-install` "
                    "(or `make test-superset`, which installs it)")
    root = tmp_path_factory.mktemp("superset")
    data_dir = root / "data"
    admin = ("loyalty-admin", secrets.token_urlsafe(12))
    project_bin = Path(sys.executable).parent
    env = {**os.environ, "LOYALTY_DATA_DIR": str(data_dir), "LOYALTY_LANDING_DIR": str(small_landing),
           "DAGSTER_HOME": str(root / "dagster_home"), "SUPERSET_ADMIN_USER": admin[0],
           "SUPERSET_ADMIN_PASSWORD": admin[1], "PATH": f"{project_bin}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("LOYALTY_PROGRAM", None)
    env.pop("SUPERSET_SECRET_KEY", None)
    _run([project_bin / "loyalty", "run", "--as-of", FIRST_RUN_DAY.isoformat()], env, PIPELINE_TIMEOUT_S,
         f"loyalty run --as-of {FIRST_RUN_DAY}")
    _run([SUPERSET_PYTHON, SUPERSET_DIR / "manage.py", "setup"], env, 900, "manage.py setup")

    port, log = _free_port(), root / "superset.log"
    with open(log, "w") as log_file:
        # Own session: gunicorn's master and workers form a process group stopped below by its id.
        server = subprocess.Popen([str(SUPERSET_PYTHON), str(SUPERSET_DIR / "manage.py"), "serve", "--port", str(port)],
                                  env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
                                  cwd=REPO_ROOT)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while True:
            assert server.poll() is None, f"Superset exited ({server.returncode}):\n{log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"{base_url}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no /health after {STARTUP_TIMEOUT_S}s:\n{log.read_text()[-3000:]}"
            time.sleep(1)
        yield Superset(base_url, env, data_dir, log, admin)
    finally:
        stop_process_group(server)


def _dashboard_charts(api: Api) -> dict[str, int]:
    status, body = api.call("GET", f"/api/v1/dashboard/{DASHBOARD}/charts")
    assert status == 200, body
    return {chart["slice_name"]: chart["id"] for chart in body["result"]}


def _rows(api: Api, chart_id: int) -> list[dict]:
    status, body = api.chart_data(chart_id)
    assert status == 200, f"chart {chart_id}: {status} {body}"
    return [row for result in body["result"] for row in result["data"]]


def _as_of_shown(api: Api, charts: dict[str, int]) -> date:
    (row,) = _rows(api, charts["Data as of"])
    return datetime.fromtimestamp(row["as_of"] / 1000, tz=timezone.utc).date()


@needs_superset
def test_admin_from_the_environment_and_every_chart_returns_rows(superset):
    assert Api(superset.base_url).login(superset.admin[0], "not-the-password") == 401
    api = superset.api()

    charts = _dashboard_charts(api)
    assert set(charts) == EXPECTED_CHARTS
    empty = [name for name, chart_id in charts.items() if not _rows(api, chart_id)]
    assert empty == []
    assert _as_of_shown(api, charts) == FIRST_RUN_DAY


@needs_superset
def test_the_connection_is_the_serving_copy_read_only(superset):
    api = superset.api()
    rison = "(filters:!((col:database_name,opr:eq,value:'Loyalty serving copy')))"
    status, body = api.call("GET", f"/api/v1/database/?q={urllib.parse.quote(rison)}")
    assert status == 200 and body["count"] == 1, body
    database_id = body["result"][0]["id"]
    status, body = api.call("GET", f"/api/v1/database/{database_id}/connection")
    assert status == 200, body
    serving_copy = superset.data_dir / "serving" / "marts.duckdb"
    assert body["result"]["sqlalchemy_uri"].startswith(f"duckdb:///{serving_copy}?")
    assert "access_mode=read_only" in body["result"]["sqlalchemy_uri"]

    def sql_lab(sql: str) -> tuple[int, dict]:
        return api.call("POST", "/api/v1/sqllab/execute/", {"database_id": database_id, "sql": sql, "runAsync": False,
                                                             "schema": "main", "client_id": secrets.token_hex(5)})

    status, body = sql_lab("SELECT count(*) AS members FROM tier_list")
    assert status == 200 and body["data"][0]["members"] > 0, body
    # DuckDB itself refuses: the file is opened read-only, and outside files are off limits.
    status, body = sql_lab("SELECT * FROM read_csv('/etc/hostname')")
    assert status != 200 and "disabled by configuration" in json.dumps(body), body


@needs_superset
def test_the_dashboard_answers_while_a_run_replaces_the_serving_copy(superset, tmp_path):
    api = superset.api()
    charts = _dashboard_charts(api)
    serving_copy = superset.data_dir / "serving" / "marts.duckdb"
    inode_before = serving_copy.stat().st_ino

    run_log = tmp_path / "loyalty-run.log"  # a file, not a pipe: nobody reads a pipe while polling
    with open(run_log, "w") as log_file:
        run = subprocess.Popen([str(Path(sys.executable).with_name("loyalty")), "run", "--as-of", NEXT_RUN_DAY.isoformat()],
                               env=superset.env, stdout=log_file, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                               start_new_session=True)
    rounds, failures = 0, []
    deadline = time.monotonic() + PIPELINE_TIMEOUT_S
    try:
        while run.poll() is None:
            assert time.monotonic() < deadline, f"loyalty run still going after {PIPELINE_TIMEOUT_S}s"
            for name, chart_id in charts.items():
                status, body = api.chart_data(chart_id)
                if status != 200 or not any(result["data"] for result in body["result"]):
                    failures.append((name, status, str(body)[:500]))
            rounds += 1
            time.sleep(0.5)  # leave the 2 cores to the pipeline now and then
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait(timeout=60)
    assert run.returncode == 0, run_log.read_text()[-3000:]
    assert failures == []
    assert rounds >= 2  # every chart asked at least twice while the run went on
    assert serving_copy.stat().st_ino != inode_before  # the copy was replaced, not written in place
    assert _as_of_shown(api, charts) == NEXT_RUN_DAY  # and the next query reads the new day


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@needs_superset
def test_headless_chromium_draws_every_chart(superset, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make chromium` (apt-get install chromium)")
    out = Path(os.environ.get("LOYALTY_SUPERSET_SCREENSHOT") or tmp_path / "loyalty-overview.png")
    # screenshot.py logs in through the /login/ form and waits until each chart holder holds a drawing.
    _run([SUPERSET_PYTHON, SUPERSET_DIR / "screenshot.py", "--url", superset.base_url, "--dashboard", DASHBOARD,
          "--out", out, "--charts", len(EXPECTED_CHARTS), "--chromium", CHROMIUM, "--timeout", 180],
         superset.env, 600, "screenshot.py")
    width, height = _png_size(out)
    assert width == 1600 and height > 1000  # the whole dashboard, not a login form


def _assets(folder: str) -> list[dict]:
    return [yaml.safe_load(path.read_text(encoding="utf-8"))
            for path in sorted((SUPERSET_DIR / "assets" / folder).rglob("*.yaml"))]


def test_committed_assets_are_portable_and_complete():
    """The exported YAML names no local path, stays read-only, and wires every chart to the dashboard."""
    (database,) = _assets("databases")
    assert database["sqlalchemy_uri"] == "duckdb:///__SERVING_COPY__?access_mode=read_only&enable_external_access=false"
    assert not any(database[flag] for flag in ("allow_dml", "allow_ctas", "allow_cvas", "allow_file_upload"))

    marts = {path.stem for path in (REPO_ROOT / "dbt_project" / "models" / "marts").glob("*.sql")}
    datasets = {dataset["uuid"]: dataset for dataset in _assets("datasets")}
    physical = {dataset["table_name"] for dataset in datasets.values() if not dataset["sql"]}
    assert physical - marts == set()  # a renamed mart fails here, not on a dashboard

    charts = _assets("charts")
    assert {chart["slice_name"] for chart in charts} == EXPECTED_CHARTS
    for chart in charts:
        assert chart["dataset_uuid"] in datasets, chart["slice_name"]
        # /api/v1/chart/<id>/data answers only for a chart saved with its query context
        assert json.loads(chart["query_context"] or "null"), f"{chart['slice_name']} has no query context"
    (dashboard,) = _assets("dashboards")
    placed = {item["meta"]["uuid"] for item in dashboard["position"].values()
              if isinstance(item, dict) and item.get("type") == "CHART"}
    assert placed == {chart["uuid"] for chart in charts}
