"""dbt models as Dagster assets, built for the partition's as-of date."""


import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, dbt_assets

from ingestion.owner_only import owner_only_umask
from orchestration.defs.partitions import ONE_DAY_PER_RUN, WAREHOUSE_POOL, business_days
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.project import loyalty_dbt_project
from orchestration.defs.transform.translator import LoyaltyTranslator
from orchestration.settings import load_program


def dbt_build_args(program: dict) -> list[str]:
    """`dbt build` under one program configuration (the as-of date is in the environment).

    The as-of date travels as LOYALTY_AS_OF_DATE, not --vars: dbt re-parses the whole project
    whenever --vars change, and the program's vars are the same from one day to the next.
    dbt unit tests test the SQL, not the day's data: pytest runs them (tests/test_dbt_*.py),
    the daily run skips them (they cost a fixed minute at chain scale).
    """
    return ["build", "--vars", json.dumps({"program": program}, sort_keys=True, ensure_ascii=False),
            "--exclude-resource-type", "unit_test"]


@contextmanager
def dbt_environment(**values: str) -> Iterator[None]:
    """Environment variables for the dbt process of this run only (restored afterwards):
    profiles.yml reads LOYALTY_DATA_DIR, the models read LOYALTY_AS_OF_DATE."""
    previous = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def with_row_counts(events: Iterable, manifest: dict,
                    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]) -> Iterator:
    """dbt's events, each built model's with its row count (`dagster/row_count`), views included.

    DuckDB has one writer and the dbt process holds the warehouse until it exits, so the events
    are held back until then and the counts read through one read-only connection (what
    dagster-dbt's fetch_row_counts() also waits for on DuckDB, but it skips views and opens dbt's
    adapter in this process). A failed build still reports the models it did build, then fails.
    """
    held, failure = [], None
    try:
        held.extend(events)
    except Exception as exc:  # dbt failed: its built models still get their counts
        failure = exc
    built = {id(event): manifest["nodes"][event.metadata["unique_id"].value]["relation_name"]
             for event in held
             if isinstance(event, (dg.Output, dg.AssetMaterialization)) and "unique_id" in event.metadata}
    counts, started = {}, time.monotonic()
    if built:
        with connect() as con:
            for key, relation in built.items():
                counts[key] = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
        dg.get_dagster_logger().info(
            f"row counts of {len(counts)} dbt models read in {time.monotonic() - started:.2f}s")
    for event in held:
        if id(event) in counts:
            event = event.with_metadata({**event.metadata,
                                         "dagster/row_count": counts[id(event)]})
        yield event
    if failure is not None:
        raise failure


@dbt_assets(
    manifest=loyalty_dbt_project.manifest_path,
    project=loyalty_dbt_project,
    partitions_def=business_days,
    backfill_policy=ONE_DAY_PER_RUN,
    dagster_dbt_translator=LoyaltyTranslator(),
    pool=WAREHOUSE_POOL,
)
def loyalty_dbt_models(context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource):
    settings = warehouse.settings()
    program = load_program(settings.program_path)
    # One target folder per warehouse (runs are serialised by the pool): each run starts from
    # the previous run's partial parse instead of parsing the project again.
    target = settings.data_dir / "dbt_target"
    # owner_only_umask: dbt writes raw PII to the warehouse's WAL and spill files
    with dbt_environment(LOYALTY_DATA_DIR=str(settings.data_dir), LOYALTY_AS_OF_DATE=context.partition_key), \
            owner_only_umask():
        invocation = dbt.cli(dbt_build_args(program), context=context, target_path=target)
        yield from with_row_counts(invocation.stream(), invocation.manifest,
                                   lambda: warehouse.connect(read_only=True))
