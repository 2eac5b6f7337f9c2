"""The outbox: staged extracts (write), gated by blocking checks (audit), then published."""

import json

import dagster as dg
import duckdb

from ingestion.fingerprint import file_sha256
from orchestration.defs.partitions import ONE_DAY_PER_RUN, WAREHOUSE_POOL, business_days
from orchestration.already_published import gates_sha256
from orchestration.build_log import latest_build
from orchestration.defs.insights.assets import MEMBER_CLV
from orchestration.defs.publish.checks import STAGED_LAPSED, STAGED_TIER_LIST, STAGED_UPGRADE_NUDGES
from orchestration.outbox import (
    LAPSED_SQL, TIER_LIST_SQL, UPGRADE_NUDGES_SQL, left_out_by_reason, publish, stage_extract,
    staging_dir, write_manifest,
)
from orchestration.serving import PREVIEWED_MARTS, markdown_preview, refresh_serving_copy
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import load_program, program_sha256
from quality.gates import store_days_without_lines

PUBLISHED_OUTBOX = dg.AssetKey(["publish", "outbox"])
SERVING_COPY = dg.AssetKey(["publish", "serving_copy"])
EXTRACTS = ("tier_list", "lapsed_customers", "upgrade_nudges")

# Every gated asset is upstream of the staged extracts, so its blocking checks stop publishing.
GATED_UPSTREAM = [
    dg.AssetKey(["raw", "pos_lines"]),
    dg.AssetKey(["marts", "fct_sales_lines"]),
    dg.AssetKey(["marts", "member_points_balances"]),
]


def passed_in_this_run(context: dg.AssetExecutionContext) -> list[str]:
    """The checks evaluated and passed in this run (the blocking ones among them gated us)."""
    records = context.instance.get_records_for_run(
        context.run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION).records
    passed = set()
    for record in records:
        evaluation = record.event_log_entry.dagster_event.event_specific_data
        if evaluation.passed:
            passed.add(f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}")
    return sorted(passed)


def build_staged_extract(key: dg.AssetKey, name: str, sql: str, sources: list[dg.AssetKey],
                         description: str) -> dg.AssetsDefinition:
    """The "write" step of one extract: <name>.csv (+ .parquet) into outbox/.staging/<D>/."""

    @dg.asset(
        key=key,
        deps=[*sources, *GATED_UPSTREAM],
        partitions_def=business_days,
        backfill_policy=ONE_DAY_PER_RUN,
        group_name="publish",
        kinds={"csv", "parquet"},
        pool=WAREHOUSE_POOL,
        description=description,
    )
    def _staged(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        with warehouse.connect(read_only=True) as con:
            path, rows = stage_extract(con, sql, warehouse.settings().outbox_dir,
                                       context.partition_key, name)
        return dg.MaterializeResult(metadata={
            "dagster/row_count": rows,
            "staged_path": dg.MetadataValue.path(str(path)),
            "sha256": file_sha256(path),
        })

    return _staged


tier_list_staged = build_staged_extract(
    STAGED_TIER_LIST, "tier_list", TIER_LIST_SQL, [dg.AssetKey(["marts", "tier_list"])],
    # Descriptions are Markdown in the UI: a bare <D> would be swallowed as an HTML tag.
    "`tier_list.csv` (+ `.parquet`) for the as-of day, written to `outbox/.staging/YYYY-MM-DD/` "
    "for audit by the blocking checks below.")

lapsed_customers_staged = build_staged_extract(
    STAGED_LAPSED, "lapsed_customers", LAPSED_SQL,
    [dg.AssetKey(["restricted", "lapsed_customers_extract"]),
     dg.AssetKey(["restricted", "lapsed_customers_excluded"]), MEMBER_CLV],
    "`lapsed_customers.csv` (+ `.parquet`): the outreach extract (consented lapsed and at-risk "
    "members with a valid mobile, each win-back priority ordered by p_alive), staged in `outbox/.staging/YYYY-MM-DD/` for audit. Holds PII: "
    "owner-only; its metadata has counts and paths only.")

upgrade_nudges_staged = build_staged_extract(
    STAGED_UPGRADE_NUDGES, "upgrade_nudges", UPGRADE_NUDGES_SQL,
    [dg.AssetKey(["restricted", "upgrade_nudges_extract"]),
     dg.AssetKey(["restricted", "upgrade_nudges_excluded"])],
    "`upgrade_nudges.csv` (+ `.parquet`): the outreach extract of members close to the next tier "
    "or pyramid segment (consented adults with a valid mobile), staged in "
    "`outbox/.staging/YYYY-MM-DD/` for audit. Holds PII: owner-only; its metadata has counts and "
    "paths only.")


@dg.asset(
    key=PUBLISHED_OUTBOX,
    deps=[STAGED_TIER_LIST, STAGED_LAPSED, STAGED_UPGRADE_NUDGES],
    partitions_def=business_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name="publish",
    kinds={"csv", "json"},
    description="`outbox/YYYY-MM-DD/` with `tier_list`, `lapsed_customers`, `upgrade_nudges` "
                "(CSV + Parquet) and "
                "`manifest.json`, moved into place atomically after every blocking gate passed.",
)
def outbox(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    as_of = context.partition_key
    folder = staging_dir(settings.outbox_dir, as_of)
    with warehouse.connect(read_only=True) as con:
        build = latest_build(con)  # `loyalty run` compares it to tell a rerun with nothing new
        left_out = {"lapsed_at_risk_left_out": left_out_by_reason(con, "lapsed_customers"),
                    "upgrade_nudges_left_out": left_out_by_reason(con, "upgrade_nudges")}
        # the warning check's count: trailing-year figures miss these store-days' sales
        without_lines = store_days_without_lines(con, as_of)
        files = {}
        for name in EXTRACTS:
            rows = con.execute(f"SELECT count(*) FROM read_csv('{folder / (name + '.csv')}', "
                               "all_varchar = true, header = true)").fetchall()[0][0]
            files[f"{name}.csv"] = rows
            files[f"{name}.parquet"] = rows
    manifest = write_manifest(
        folder, as_of, files, checks_passed=passed_in_this_run(context),
        program_sha256=program_sha256(load_program(settings.program_path)),
        extra={"build": build, "gates_sha256": gates_sha256(),
               **left_out,
               "store_days_without_lines": {"count": without_lines.failing_count,
                                            **without_lines.details["window"]}})
    target = publish(folder, settings.outbox_dir, as_of)
    context.log.info(f"published {target}")
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(target)),
        **{f"{name.replace('.', '_')}_path": dg.MetadataValue.path(str(target / name))
           for name in [*files, "manifest.json"]},
        "checks_passed": len(manifest["checks_passed"]),
        "tier_list_rows": files["tier_list.csv"],
        "lapsed_customers_rows": files["lapsed_customers.csv"],
        "upgrade_nudges_rows": files["upgrade_nudges.csv"],
        **{key: dg.MetadataValue.json(manifest[key]) for key in left_out},
        "store_days_without_lines": without_lines.failing_count,
        "manifest": dg.MetadataValue.json(json.loads((target / "manifest.json").read_text())),
    })


@dg.asset(
    key=SERVING_COPY,
    deps=[PUBLISHED_OUTBOX],
    partitions_def=business_days,
    backfill_policy=ONE_DAY_PER_RUN,
    group_name="publish",
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    description="The masked marts for BI tools: `serving/marts.duckdb` (in the storage format of "
                "`LOYALTY_SERVING_STORAGE_VERSION`, default v1.4.0, which DuckDB 1.4 LTS and 1.5 "
                "drivers open) and the same tables as Parquet, one folder per mart under "
                "`serving/parquet/`. Both replaced atomically after each successful publish (open "
                "readers keep the previous copy until they reconnect).",
)
def serving_copy(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    settings = warehouse.settings()
    refresh = refresh_serving_copy(settings.warehouse_path, settings.serving_dir)
    copy_path = settings.serving_dir / "marts.duckdb"
    with duckdb.connect(str(copy_path), read_only=True) as con:
        previews = {f"preview_{mart}": dg.MetadataValue.md(markdown_preview(con, mart))
                    for mart in PREVIEWED_MARTS if mart in refresh.counts}
    return dg.MaterializeResult(metadata={
        "path": dg.MetadataValue.path(str(copy_path)),
        "parquet_path": dg.MetadataValue.path(str(refresh.parquet_dir)),
        "parquet_version": dg.MetadataValue.path(str(refresh.parquet_dir.resolve())),
        "storage_version": refresh.storage_version,
        "dagster/row_count": sum(refresh.counts.values()),  # rows of all served tables
        "tables": len(refresh.counts),
        "rows_per_table": dg.MetadataValue.json(refresh.counts),
        # Incremental refresh: only the differing business days and month-ends, and the tables
        # without either whose content changed.
        "business_days_recopied": sum(len(days) for days in refresh.days_recopied.values()),
        "month_ends_recopied": sum(len(ends) for ends in refresh.month_ends_recopied.values()),
        "tables_fully_copied": len(refresh.tables_copied),
        "tables_unchanged": len(refresh.tables_unchanged),
        "already_level": refresh.already_level,  # it mirrored the latest build: nothing rewritten
        "recopied_days": dg.MetadataValue.json(
            {table: [str(day) for day in days] for table, days in refresh.days_recopied.items()}),
        "recopied_month_ends": dg.MetadataValue.json(
            {table: [str(end) for end in ends] for table, ends in refresh.month_ends_recopied.items()}),
        **previews,
    })


@dg.definitions
def publish_definitions() -> dg.Definitions:
    from orchestration.defs.publish.checks import staged_checks

    return dg.Definitions(assets=[tier_list_staged, lapsed_customers_staged, upgrade_nudges_staged, outbox,
                                  serving_copy],
                          asset_checks=staged_checks)
