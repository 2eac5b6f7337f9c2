"""dbt models as Dagster assets, built for the partition's as-of date."""


import json
import os
import time
from datetime import date
from graphlib import TopologicalSorter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, dbt_assets

from ingestion.lake_schema import lake_tables
from ingestion.owner_only import owner_only_umask
from ingestion.sink import WarehouseSink
from orchestration.build_log import FULL_REFRESH_REQUIRED, is_up_to_date, latest_build
from orchestration.defs.partitions import ONE_DAY_PER_RUN, WAREHOUSE_POOL, business_days
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.project import loyalty_dbt_project
from orchestration.defs.transform.translator import LoyaltyTranslator
from orchestration.settings import Settings, load_program
from orchestration.spark_snapshot import clear_snapshot, load_snapshot


def dbt_build_args(program: dict, settings: Settings | None = None, whole_build: bool = False) -> list[str]:
    """`dbt build` under one program configuration (the as-of date is in the environment).

    A daily build runs two models or tests at a time on DuckDB (profiles.yml: dbt's per-node
    overhead overlaps the other node's query); a `whole_build` (an empty warehouse, a full
    refresh) runs one at a time, so no two history-wide queries share DuckDB's memory limit.

    The as-of date travels as LOYALTY_AS_OF_DATE, not --vars: dbt re-parses the whole project
    whenever --vars change, and the program's vars are the same from one day to the next (so
    are the Spark engine's: the lake's tables and where the built marts are exported).
    dbt unit tests test the SQL, not the day's data: pytest runs them (tests/test_dbt_*.py),
    the daily run skips them (they cost a fixed minute at chain scale).
    """
    variables = {"program": program}
    if settings is not None and settings.engine == "spark":
        variables["lake_tables"] = lake_tables(settings.lake_dir)
        variables["snapshot_dir"] = str(settings.spark_snapshot_dir)
    return ["build", "--vars", json.dumps(variables, sort_keys=True, ensure_ascii=False),
            "--exclude-resource-type", "unit_test", *(["--threads", "1"] if whole_build else [])]


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


ROW_COUNT_LOG = "loyalty_row_count "


def with_logged_row_counts(invocation) -> Iterator:
    """dbt's events as dbt reports them, each built model's with the row count its post-hook
    logged (macros/row_counts.sql) as `dagster/row_count`: every node is recorded while dbt runs,
    not all of them after dbt exits (about 500 events, 5-7 s at 1M members)."""
    counts: dict[str, int] = {}
    for raw in invocation.stream_raw_events():
        info, node = raw.raw_event["info"], raw.raw_event["data"].get("node_info") or {}
        if info.get("name") == "JinjaLogInfo" and info.get("msg", "").startswith(ROW_COUNT_LOG):
            counts[node.get("unique_id")] = int(info["msg"][len(ROW_COUNT_LOG):])
            continue
        for event in raw.to_default_asset_events(
                manifest=invocation.manifest, dagster_dbt_translator=invocation.dagster_dbt_translator,
                context=invocation.context, target_path=invocation.target_path, project=invocation.project):
            unique_id = event.metadata.get("unique_id") if isinstance(event, (dg.Output, dg.AssetMaterialization)) else None
            if unique_id is not None and unique_id.value in counts:
                event = event.with_metadata({**event.metadata, "dagster/row_count": counts.pop(unique_id.value)})
            yield event


def with_row_counts(events: list, manifest: dict,
                    connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]) -> Iterator:
    """A finished build's events, each built model's with its row count (`dagster/row_count`)
    read through one read-only DuckDB connection (Spark: from the snapshot loaded after it)."""
    built = {id(event): manifest["nodes"][event.metadata["unique_id"].value]["relation_name"]
             for event in events
             if isinstance(event, (dg.Output, dg.AssetMaterialization)) and "unique_id" in event.metadata}
    counts, started = {}, time.monotonic()
    if built:
        with connect() as con:
            for key, relation in built.items():
                try:
                    counts[key] = con.execute(f"SELECT count(*) FROM {relation}").fetchall()[0][0]
                except duckdb.CatalogException:  # built by Spark and not exported (staging, intermediate)
                    continue
        dg.get_dagster_logger().info(
            f"row counts of {len(counts)} dbt models read in {time.monotonic() - started:.2f}s")
    for event in events:
        if id(event) in counts:
            event = event.with_metadata({**event.metadata,
                                         "dagster/row_count": counts[id(event)]})
        yield event


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
    up_to_date, first_build = False, True
    if settings.warehouse_path.exists():
        with warehouse.connect(read_only=True) as con:
            up_to_date = is_up_to_date(con, date.fromisoformat(context.partition_key), program)
            first_build = latest_build(con) is None
    if up_to_date:
        # nothing to rebuild: the last successful build was for this day and program, and no file
        # was loaded since (a rerun); the gates and the publishing downstream still run
        context.log.info(f"dbt: the warehouse is already built for {context.partition_key} from every "
                         "load record; no model rebuilt")
        for output_name in _in_dependency_order(context):
            yield dg.Output(None, output_name=output_name, metadata={"dbt_skipped": "up to date"})
        return
    with dbt_environment(LOYALTY_DATA_DIR=str(settings.data_dir), LOYALTY_AS_OF_DATE=context.partition_key), \
            owner_only_umask():
        def build(*extra: str):
            return dbt.cli([*dbt_build_args(program, settings, whole_build=first_build or bool(extra)), *extra],
                           context=context, target_path=target, raise_on_error=False)

        if settings.engine == "spark":
            yield from _build_on_spark(context, build, warehouse, settings)
        else:
            yield from _events_of_build(context, build, with_logged_row_counts)


def _events_of_build(context: dg.AssetExecutionContext, build: Callable, stream: Callable) -> Iterator:
    """The events (`stream(invocation)`) of `dbt build`, then its error raised. A build dbt stopped
    at its start with FULL_REFRESH_REQUIRED (macros/change_record.sql) runs again as a full rebuild."""
    invocation, reported = build(), 0
    for event in stream(invocation):
        reported += 1
        yield event
    error = invocation.get_error()
    if error is not None and FULL_REFRESH_REQUIRED in str(error) and not reported:
        context.log.warning(f"dbt: {_full_refresh_reason(str(error))}; rebuilding everything")
        invocation = build("--full-refresh")
        yield from stream(invocation)
        error = invocation.get_error()
    if error is not None:
        raise error


def _build_on_spark(context: dg.AssetExecutionContext, build: Callable, warehouse: WarehouseResource,
                    settings: Settings) -> Iterator:
    """Spark builds the models; their events wait for the snapshot DuckDB counts them in."""
    clear_snapshot(settings.spark_snapshot_dir)
    with warehouse.connect() as con:  # the load records beside the lake, for Spark's change record
        WarehouseSink(con, settings.lake_dir).export_load_records()
    invocations, held, failure = [], [], None

    def stream(invocation):
        invocations.append(invocation)
        return invocation.stream()

    try:
        held.extend(_events_of_build(context, build, stream))
    except Exception as exc:  # dbt failed: its built models still get their counts
        failure = exc
    # what Spark built, where the gates, extracts and serving copy read it
    with warehouse.connect() as con:
        loaded = load_snapshot(con, settings.spark_snapshot_dir)
    context.log.info(f"Spark: {len(loaded)} tables of marts, restricted and meta loaded for the gates")
    yield from with_row_counts(held, invocations[-1].manifest, lambda: warehouse.connect(read_only=True))
    if failure is not None:
        raise failure


def _in_dependency_order(context: dg.AssetExecutionContext) -> list[str]:
    """The selected outputs, each after the assets it depends on (Dagster's rule for multi-assets)."""
    assets_def = context.assets_def
    selected = set(context.op_execution_context.selected_output_names)
    key_of = {name: key for name, key in assets_def.keys_by_output_name.items() if name in selected}
    name_of = {key: name for name, key in key_of.items()}
    graph = {key: {dep for dep in assets_def.asset_deps.get(key, ()) if dep in name_of} for key in name_of}
    return [name_of[key] for key in TopologicalSorter(graph).static_order()]


def _full_refresh_reason(message: str) -> str:
    """The reason dbt gave after the marker, on one line."""
    tail = message.split(FULL_REFRESH_REQUIRED, 1)[1]
    return FULL_REFRESH_REQUIRED + tail.split("\n", 1)[0]
