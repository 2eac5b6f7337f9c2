from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

import dagster as dg
import duckdb

from ingestion.owner_only import make_owner_only, owner_only_umask
from orchestration.dbt_manifest import dbt_executable
from orchestration.defs.partitions import WAREHOUSE_POOL
from orchestration.defs.transform.dbt_resource import LocalDbtCliResource
from orchestration.defs.transform.project import loyalty_dbt_project
from orchestration.run_guard import guarded_run
from orchestration.settings import Settings, duckdb_config, settings_from_env


class WarehouseResource(dg.ConfigurableResource):
    """Paths of the warehouse. Unset fields come from the LOYALTY_* environment at run time."""

    landing_dir: str | None = None
    data_dir: str | None = None
    program_path: str | None = None

    def settings(self) -> Settings:
        env = settings_from_env()
        return Settings(
            landing_dir=_path_or(self.landing_dir, env.landing_dir),
            data_dir=_path_or(self.data_dir, env.data_dir),
            program_path=Path(self.program_path).resolve() if self.program_path else env.program_path,
            engine=env.engine,
        )

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator["WarehouseResource"]:
        """A run holds the warehouse from before its first step claims a pool slot to its end,
        after failing and freeing runs whose process died (orchestration/run_guard.py)."""
        if context.run is None:  # built outside a run: nothing to guard
            yield self
            return
        settings = self.settings()
        log = context.log
        with guarded_run(context.instance, settings.data_dir, settings.warehouse_path, context.run.run_id,
                         WAREHOUSE_POOL, log=log.info if log else print,
                         warn=log.warning if log else print):
            yield self

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.settings().warehouse_path
        path.parent.mkdir(parents=True, exist_ok=True)
        # raw PII: the file, its WAL and spill files owner-only (DuckDB makes them as it writes)
        with nullcontext() if read_only else owner_only_umask():
            con = duckdb.connect(str(path), read_only=read_only, config=duckdb_config())
            make_owner_only(path)
            try:
                yield con
            finally:
                con.close()


def _path_or(value: str | None, default: Path) -> Path:
    return Path(value).resolve() if value else default


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "dbt": LocalDbtCliResource(project_dir=loyalty_dbt_project, dbt_executable=dbt_executable()),
        }
    )
