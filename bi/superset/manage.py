"""Superset for the loyalty warehouse: set up, serve, export (run with Superset's own venv).

    bi/superset/.venv/bin/python bi/superset/manage.py setup    # metadata DB, admin, roles, dashboard
    bi/superset/.venv/bin/python bi/superset/manage.py serve    # http://127.0.0.1:8088
    bi/superset/.venv/bin/python bi/superset/manage.py export   # the dashboard back into assets/

Environment: LOYALTY_DATA_DIR (default ./data; Superset's state goes to $LOYALTY_DATA_DIR/superset,
the dashboard reads $LOYALTY_DATA_DIR/serving/marts.duckdb), SUPERSET_ADMIN_USER (default admin),
SUPERSET_ADMIN_PASSWORD (default admin: local use only), SUPERSET_SECRET_KEY (default: a random
key kept in $LOYALTY_DATA_DIR/superset/secret_key).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ASSETS = HERE / "assets"
REPO_ROOT = HERE.parents[1]
# The committed database YAML names the serving copy by this placeholder; setup puts the real path.
SERVING_COPY_PLACEHOLDER = "__SERVING_COPY__"
DASHBOARD_TITLE = "Loyalty overview"

os.environ["SUPERSET_CONFIG_PATH"] = str(HERE / "superset_config.py")
os.environ.setdefault("FLASK_APP", "superset.app:create_app()")
os.environ.setdefault("SUPERSET_LOAD_EXAMPLES", "no")


def data_dir() -> Path:
    return Path(os.environ.get("LOYALTY_DATA_DIR") or REPO_ROOT / "data").resolve()


def serving_copy() -> Path:
    return data_dir() / "serving" / "marts.duckdb"


def admin_credentials() -> tuple[str, str]:
    return os.environ.get("SUPERSET_ADMIN_USER", "admin"), os.environ.get("SUPERSET_ADMIN_PASSWORD", "admin")


def check_serving_copy(path: Path) -> None:
    """Fail early, in words, when the dashboard would have nothing to read."""
    import duckdb

    if not path.exists():
        sys.exit(f"no serving copy at {path}: run the pipeline first (`make demo`, or `loyalty run --as-of D` "
                 f"with LOYALTY_DATA_DIR={data_dir()})")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            con.execute("SELECT count(*) FROM tier_list").fetchall()
    except duckdb.Error as error:
        sys.exit(f"Superset's DuckDB {duckdb.__version__} cannot read the serving copy {path} (the pipeline must "
                 f"write it in a storage version DuckDB 1.4/1.5 reads): {error}")


def _superset(*args: str) -> None:
    command = [str(Path(sys.executable).with_name("superset")), *args]
    done = subprocess.run(command, env=os.environ, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"`superset {' '.join(args)}` failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")


def asset_bundle(serving_path: Path) -> dict[str, str]:
    """The committed YAML (path relative to assets/ -> text), pointed at this serving copy."""
    contents = {}
    for path in sorted(ASSETS.rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        contents[path.relative_to(ASSETS).as_posix()] = text.replace(SERVING_COPY_PLACEHOLDER, str(serving_path))
    return contents


def setup() -> None:
    check_serving_copy(serving_copy())
    (data_dir() / "superset").mkdir(parents=True, exist_ok=True)
    _superset("db", "upgrade")
    _superset("init")  # roles and permissions

    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.importers.v1.assets import ImportAssetsCommand

        username, password = admin_credentials()
        user = security_manager.find_user(username=username)
        if user is None:
            user = security_manager.add_user(username, "Loyalty", "Admin", f"{username}@localhost",
                                             security_manager.find_role("Admin"), password=password)
            if not user:
                sys.exit(f"could not create the Superset admin user {username!r}")
        else:
            security_manager.reset_password(user.id, password)
        g.user = user  # the importer checks its permissions and makes it the owner
        # Databases, datasets, charts and the dashboard, overwriting earlier imports of the same uuids.
        ImportAssetsCommand(asset_bundle(serving_copy())).run()
    print(f"Superset ready: dashboard {DASHBOARD_TITLE!r} on {serving_copy()} (read-only); "
          f"admin user {username!r}; state in {data_dir() / 'superset'}")


def serve(host: str, port: int, workers: int) -> None:
    """gunicorn in this process (exec): stopping this pid's process group stops Superset."""
    gunicorn = Path(sys.executable).with_name("gunicorn")
    os.execv(str(gunicorn), [str(gunicorn), "--bind", f"{host}:{port}", "--workers", str(workers),
                             "--worker-class", "gthread", "--threads", "8", "--timeout", "120",
                             "--limit-request-line", "0", "--limit-request-field_size", "0",
                             "superset.app:create_app()"])


def export() -> None:
    """Write the dashboard, its charts, datasets and database back to assets/ (after editing in the UI)."""
    from flask import g
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import security_manager
        from superset.commands.dashboard.export import ExportDashboardsCommand
        from superset.extensions import db
        from superset.models.dashboard import Dashboard

        g.user = security_manager.find_user(username=admin_credentials()[0])
        dashboard = db.session.query(Dashboard).filter_by(dashboard_title=DASHBOARD_TITLE).one()
        # The command yields (name, content) lazily: read it inside the app context.
        files = {name: content() if callable(content) else content
                 for name, content in ExportDashboardsCommand([dashboard.id], export_related=True).run()}
    files["metadata.yaml"] = files["metadata.yaml"].replace("type: Dashboard", "type: assets")  # see setup()
    shutil.rmtree(ASSETS, ignore_errors=True)  # file names carry ids: start clean so nothing stale stays
    for name, text in files.items():
        target = ASSETS / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text.replace(str(serving_copy()), SERVING_COPY_PLACEHOLDER), encoding="utf-8")
    print(f"exported {len(files)} files to {ASSETS}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup", help="metadata DB, admin user, roles, serving-copy connection, dashboard")
    serve_parser = commands.add_parser("serve", help="run Superset (gunicorn) in the foreground")
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--port", type=int, default=int(os.environ.get("SUPERSET_PORT", "8088")))
    serve_parser.add_argument("--workers", type=int, default=1)
    commands.add_parser("export", help="write the dashboard back to bi/superset/assets")
    args = parser.parse_args(argv)
    if args.command == "setup":
        setup()
    elif args.command == "serve":
        serve(args.host, args.port, args.workers)
    else:
        export()


if __name__ == "__main__":
    main()
