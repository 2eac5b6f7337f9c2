"""The outbox: staged extracts (write), gated by blocking checks (audit), then published."""


import dagster as dg

from orchestration.defs.partitions import ONE_DAY_PER_RUN, WAREHOUSE_POOL, business_days
from orchestration.defs.publish.checks import STAGED_TIER_LIST, publish_gates
from orchestration.defs.publish.serving import refresh_serving_copy
from orchestration.defs.publish.outbox import (
    TIER_LIST_SQL, fresh_staging, publish, sha256_file, staging_dir, write_csv, write_manifest,
)
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import program_sha256

PUBLISHED_OUTBOX = dg.AssetKey(["publish", "outbox"])
SERVING_COPY = dg.AssetKey(["publish", "serving_copy"])


@dg.asset(
    key=STAGED_TIER_LIST,
    # every gated asset is upstream, so its blocking checks stop publishing
    deps=[dg.AssetKey(["marts", "tier_list"]), dg.AssetKey(["marts", "fct_sales_lines"]),
          dg.AssetKey(["raw", "pos_lines"])],
    partitions_def=business_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name="publish",
    kinds={"csv"},
    pool=WAREHOUSE_POOL,
    description="tier_list.csv for the as-of day, written to outbox/.staging/<D>/ for audit.",
)
def tier_list_staged(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    folder = fresh_staging(settings.outbox_dir, context.partition_key)
    with warehouse.connect(read_only=True) as con:
        rows = write_csv(con, TIER_LIST_SQL, folder / "tier_list.csv")
    return dg.MaterializeResult(metadata={
        "dagster/row_count": rows,
        "staged_path": dg.MetadataValue.path(str(folder / "tier_list.csv")),
        "sha256": sha256_file(folder / "tier_list.csv"),
    })


@dg.asset(
    key=PUBLISHED_OUTBOX,
    deps=[STAGED_TIER_LIST],
    partitions_def=business_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name="publish",
    kinds={"csv", "json"},
    description="outbox/<D>/ with tier_list.csv and manifest.json, moved into place atomically "
                "after every blocking gate passed.",
)
def outbox(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    as_of = context.partition_key
    folder = staging_dir(settings.outbox_dir, as_of)
    rows = sum(1 for _ in (folder / "tier_list.csv").open(encoding="utf-8")) - 1
    manifest = write_manifest(
        folder, as_of, {"tier_list.csv": rows}, checks_passed=publish_gates(),
        program_sha256=program_sha256(settings.program_path))
    target = publish(folder, settings.outbox_dir, as_of)
    context.log.info(f"published {target}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(target)),
        "tier_list_rows": rows,
        "tier_list_sha256": manifest["files"]["tier_list.csv"]["sha256"],
    })


@dg.asset(
    key=SERVING_COPY,
    deps=[PUBLISHED_OUTBOX],
    partitions_def=business_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name="publish",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="serving/marts.duckdb: the masked marts for BI tools, replaced atomically after "
                "each successful publish (open readers keep the previous copy until they reconnect).",
)
def serving_copy(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    counts = refresh_serving_copy(settings.warehouse_path, settings.serving_dir)
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(settings.serving_dir / "marts.duckdb")),
        "tables": len(counts),
        "rows_per_table": dg.MetadataValue.json(counts),
    })


@dg.definitions
def publish_definitions() -> dg.Definitions:
    from orchestration.defs.publish.checks import staged_checks

    return dg.Definitions(assets=[tier_list_staged, outbox, serving_copy], asset_checks=staged_checks)
