"""One daily-partitioned asset per landing source: landing files -> raw.<table>.

Materializing partition D ingests every delivered file of that source for
business days <= D that is new or changed (so a first run catches up, and a
late file is picked up by its own day or the next run); files for later days
are left alone, so a run for D never sees data after D.
"""


from datetime import date

import dagster as dg

from ingestion.contract import SOURCES, Source
from ingestion.load import LandingDirectoryMissing, LoadOutcome, ingest_source, require_landing_dir
from ingestion.sink import WarehouseSink
from orchestration.defs.partitions import ONE_DAY_PER_RUN, WAREHOUSE_POOL, business_days
from orchestration.defs.resources import WarehouseResource
from quality.ingest_suites import batch_frame, validate_batch

def landing_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["landing", source.folder])


def raw_key(source: Source) -> dg.AssetKey:
    return dg.AssetKey(["raw", source.name])


landing_specs = [
    dg.AssetSpec(
        key=dg.AssetKey(["landing", folder]),
        description=f"Files delivered to `LOYALTY_LANDING_DIR/{folder}/` (see shared/spec/data-contract.md).",
        group_name="landing",
        kinds={"file"},
    )
    for folder in sorted({s.folder for s in SOURCES})
]


def _summary_metadata(outcomes: list[LoadOutcome], table_rows: int) -> dict:
    by_action: dict[str, int] = {}
    for outcome in outcomes:
        by_action[outcome.action] = by_action.get(outcome.action, 0) + 1
    reasons: dict[str, int] = {}
    for outcome in outcomes:
        for reason, count in outcome.reason_counts.items():
            reasons[reason] = reasons.get(reason, 0) + count
    rejected = {o.file_label: o.reason for o in outcomes if o.action == "rejected"}
    return {
        "files_loaded": by_action.get("loaded", 0),
        "files_corrected": by_action.get("corrected", 0),
        "files_unchanged": by_action.get("unchanged", 0),
        "files_rejected": by_action.get("rejected", 0),
        "rows_read": sum(o.rows_read for o in outcomes),
        "rows_loaded": sum(o.rows_loaded for o in outcomes),
        "rows_quarantined": sum(o.rows_quarantined for o in outcomes),
        "quarantine_reasons": dg.MetadataValue.json(reasons),
        "rejected_files": dg.MetadataValue.json(rejected),
        "dagster/row_count": table_rows,
    }


def _log_problems(context: dg.AssetExecutionContext, outcomes: list[LoadOutcome]) -> None:
    # File names, row numbers and rule names only: cell values are PII.
    for outcome in outcomes:
        if outcome.action == "rejected":
            context.log.error(f"REJECTED {outcome.reason}")
        elif outcome.rows_quarantined:
            sample = "; ".join(f"row {row}: {why}" for row, why in outcome.first_bad_rows)
            context.log.warning(
                f"{outcome.file_label}: {outcome.rows_quarantined} of {outcome.rows_read} rows "
                f"quarantined ({sample})")
        if outcome.extra_columns:
            context.log.warning(f"{outcome.file_label}: unknown columns kept aside: {outcome.extra_columns}")


def build_ingest_asset(source: Source) -> dg.AssetsDefinition:
    deps = [landing_key(source)]
    if source.store_column is not None:  # validated against the stores file: loaded first
        deps.append(dg.AssetKey(["raw", "stores"]))
    if source.name == "redemptions":  # only an activated, non-cancelled card may redeem
        deps.append(dg.AssetKey(["raw", "members"]))

    @dg.asset(
        key=raw_key(source),
        deps=deps,
        partitions_def=business_days,
        backfill_policy=ONE_DAY_PER_RUN,
        group_name="raw",
        kinds={"duckdb", "polars"},
        pool=WAREHOUSE_POOL,
        description=f"Validated rows of the `{source.folder}/` files matching `{source.file_pattern}`, "
                    f"in {source.table}; failing rows in raw.quarantined_rows.",
        retry_policy=dg.RetryPolicy(max_retries=2, delay=5, backoff=dg.Backoff.EXPONENTIAL),
        check_specs=[
            dg.AssetCheckSpec(
                "ge_batch", asset=raw_key(source), blocking=True,
                description="great-expectations suite of the contract's rules on the rows loaded "
                            "by this materialization (quality/ingest_suites.py)."),
            dg.AssetCheckSpec(
                "no_rejected_files", asset=raw_key(source),
                description="Warns when this materialization quarantined whole files (reasons in metadata)."),
        ],
    )
    def _ingest(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
        settings = warehouse.settings()
        as_of = date.fromisoformat(context.partition_key)
        try:
            require_landing_dir(settings.landing_dir)
        except LandingDirectoryMissing as exc:  # a wrong path: retrying will not bring it
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        with warehouse.connect() as con:
            sink = WarehouseSink(con, settings.lake_dir)
            outcomes = ingest_source(
                sink, settings.landing_dir, source, as_of, quarantine_dir=settings.quarantine_dir)
            table_rows = con.execute(f"SELECT count(*) FROM {source.table}").fetchall()[0][0]
            loaded = [o.file_label for o in outcomes if o.action in ("loaded", "corrected")]
            frame, sampled = batch_frame(con, source.name, loaded) if loaded else (None, False)
        _log_problems(context, outcomes)
        suite = validate_batch(source.name, frame) if frame is not None else None
        return dg.MaterializeResult(
            metadata=_summary_metadata(outcomes, table_rows),
            check_results=[_ge_result(suite, len(loaded), sampled), _rejected_result(outcomes)],
        )

    return _ingest


def _ge_result(suite, files: int, sampled: bool) -> dg.AssetCheckResult:
    if suite is None:
        return dg.AssetCheckResult(check_name="ge_batch", passed=True,
                                   metadata={"files": 0, "evaluated_rows": 0, "expectations": 0})
    failed = suite.failed
    return dg.AssetCheckResult(
        check_name="ge_batch",
        passed=suite.success,
        metadata={
            "files": files,
            "evaluated_rows": suite.evaluated_rows,
            "sampled": sampled,
            "expectations": len(suite.results),
            "failed_expectations": len(failed),
            "unexpected_rows": sum(r.unexpected_count for r in suite.results),
            "results": dg.MetadataValue.json([
                {"expectation": r.expectation, "column": r.column, "success": r.success,
                 "unexpected_count": r.unexpected_count} for r in suite.results]),
        },
    )


def _rejected_result(outcomes: list[LoadOutcome]) -> dg.AssetCheckResult:
    rejected = {o.file_label: o.reason for o in outcomes if o.action == "rejected"}
    return dg.AssetCheckResult(
        check_name="no_rejected_files", passed=not rejected, severity=dg.AssetCheckSeverity.WARN,
        metadata={"rejected_files": len(rejected), "reasons": dg.MetadataValue.json(rejected)},
    )


def build_reconciliation_check(source: Source) -> dg.AssetChecksDefinition:
    @dg.asset_check(
        asset=raw_key(source), name="reconciliation", blocking=True, partitions_def=business_days,
        description="Every file: rows read = rows loaded + rows quarantined, and the raw table "
                    "holds exactly rows_loaded rows of it.",
    )
    def _check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        with warehouse.connect(read_only=True) as con:
            failing = con.execute(
                f"""
                WITH loaded AS (
                    SELECT _source_file, count(*) AS n FROM {source.table} GROUP BY _source_file)
                SELECT f.file_name, f.rows_read, f.rows_loaded, f.rows_quarantined,
                       coalesce(l.n, 0) AS rows_in_table
                FROM raw.ingested_files f LEFT JOIN loaded l ON l._source_file = f.file_name
                WHERE f.source = ? AND f.status = 'loaded'
                  AND (f.rows_read <> f.rows_loaded + f.rows_quarantined
                       OR coalesce(l.n, 0) <> f.rows_loaded)
                ORDER BY f.file_name
                """, [source.name]).fetchall()
            files = con.execute(
                "SELECT count(*) FROM raw.ingested_files WHERE source = ? AND status = 'loaded'",
                [source.name]).fetchall()[0][0]
        return dg.AssetCheckResult(
            passed=not failing,
            metadata={
                "files_checked": files,
                "failing_files": len(failing),
                "sample": dg.MetadataValue.json([list(map(str, row)) for row in failing[:10]]),
            },
        )

    return _check


ingest_assets = [build_ingest_asset(s) for s in SOURCES]
ingest_checks = [build_reconciliation_check(s) for s in SOURCES]


@dg.definitions
def ingest_definitions() -> dg.Definitions:
    return dg.Definitions(assets=[*landing_specs, *ingest_assets], asset_checks=ingest_checks)
