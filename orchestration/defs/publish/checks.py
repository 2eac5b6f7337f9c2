"""Blocking audits of the staged extracts: a failure stops publishing for that day."""


import dagster as dg

from orchestration.defs.partitions import business_days
from orchestration.outbox import staging_dir
from orchestration.defs.resources import WarehouseResource
from orchestration.settings import load_program
from orchestration.defs.gates_common import check_result
from quality.gates import (
    lapsed_extract_rules, tier_list_members_once, tier_list_segments_match_pyramid, upgrade_nudges_rules,
)
from quality.suites import (
    read_staged_lapsed, read_staged_tier_list, read_staged_upgrade_nudges, validate_lapsed_extract,
    validate_tier_list, validate_upgrade_nudges,
)

STAGED_TIER_LIST = dg.AssetKey(["publish", "tier_list_staged"])
STAGED_LAPSED = dg.AssetKey(["publish", "lapsed_customers_staged"])
STAGED_UPGRADE_NUDGES = dg.AssetKey(["publish", "upgrade_nudges_staged"])




def _staged_csv(warehouse: WarehouseResource, as_of: str, name: str = "tier_list") -> str:
    return str(staging_dir(warehouse.settings().outbox_dir, as_of) / f"{name}.csv")


def _suite_result(outcome) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=outcome.success,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "evaluated_rows": outcome.evaluated_rows,
            "expectations": len(outcome.results),
            "failing_count": sum(r.unexpected_count for r in outcome.failed),
            "failed_expectations": dg.MetadataValue.json([
                {"expectation": r.expectation, "column": r.column,
                 "unexpected_count": r.unexpected_count} for r in outcome.failed]),
            # ids of failing rows only: the failing values may be PII (names, mobiles).
            "failing_sample": dg.MetadataValue.json([
                {"expectation": r.expectation, "column": r.column, "member_ids": r.member_ids}
                for r in outcome.failed]),
        },
    )


@dg.asset_check(asset=STAGED_TIER_LIST, blocking=True, partitions_def=business_days,
                description="Each listed member's segment is the one the pyramid mart gave them "
                            "(the pyramid's own rules are its dbt test).")
def tier_list_segments_match_pyramid_check(context: dg.AssetCheckExecutionContext,
                                           warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        gate = tier_list_segments_match_pyramid(con, _staged_csv(warehouse, context.partition_key))
    return check_result(gate)


@dg.asset_check(asset=STAGED_TIER_LIST, blocking=True, partitions_def=business_days,
                description="Each non-cancelled member exactly once; no cancelled or unknown member.")
def tier_list_members_once_check(context: dg.AssetCheckExecutionContext,
                                 warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        gate = tier_list_members_once(con, _staged_csv(warehouse, context.partition_key))
    return check_result(gate)


@dg.asset_check(asset=STAGED_TIER_LIST, blocking=True, partitions_def=business_days,
                description="great-expectations suite on the staged tier list (columns, "
                            "keys, known tiers and segments, as-of date).")
def tier_list_expectations_check(context: dg.AssetCheckExecutionContext,
                                 warehouse: WarehouseResource) -> dg.AssetCheckResult:
    program = load_program(warehouse.settings().program_path)
    tiers = [tier["name"] for tier in program["tiers"]["scheme"]]
    frame = read_staged_tier_list(_staged_csv(warehouse, context.partition_key))
    return _suite_result(validate_tier_list(frame, context.partition_key, tiers))


@dg.asset_check(asset=STAGED_LAPSED, blocking=True, partitions_def=business_days,
                description="Only consented, non-cancelled, adult members with valid mobiles, once "
                            "each; status and days since the last purchase those of the mart; `lapsed` rows past the threshold.")
def lapsed_extract_rules_check(context: dg.AssetCheckExecutionContext,
                               warehouse: WarehouseResource) -> dg.AssetCheckResult:
    program = load_program(warehouse.settings().program_path)
    with warehouse.connect(read_only=True) as con:
        gate = lapsed_extract_rules(
            con, _staged_csv(warehouse, context.partition_key, "lapsed_customers"),
            lapsed_days=program["lapsed"]["days"], mobile_pattern=program["lapsed"]["valid_mobile_pattern"])
    return check_result(gate)


@dg.asset_check(asset=STAGED_LAPSED, blocking=True, partitions_def=business_days,
                description="great-expectations suite on the staged lapsed-customer extract.")
def lapsed_extract_expectations_check(context: dg.AssetCheckExecutionContext,
                                      warehouse: WarehouseResource) -> dg.AssetCheckResult:
    program = load_program(warehouse.settings().program_path)
    frame = read_staged_lapsed(_staged_csv(warehouse, context.partition_key, "lapsed_customers"))
    return _suite_result(validate_lapsed_extract(frame, context.partition_key,
                                                 program["lapsed"]["valid_mobile_pattern"]))


@dg.asset_check(asset=STAGED_UPGRADE_NUDGES, blocking=True, partitions_def=business_days,
                description="Only consented, non-cancelled members with valid mobiles and a known adult "
                            "age, once each; every row a candidate of marts.upgrade_nudges with its gaps.")
def upgrade_nudges_rules_check(context: dg.AssetCheckExecutionContext,
                               warehouse: WarehouseResource) -> dg.AssetCheckResult:
    program = load_program(warehouse.settings().program_path)
    with warehouse.connect(read_only=True) as con:
        gate = upgrade_nudges_rules(con, _staged_csv(warehouse, context.partition_key, "upgrade_nudges"),
                                    mobile_pattern=program["lapsed"]["valid_mobile_pattern"])
    return check_result(gate)


@dg.asset_check(asset=STAGED_UPGRADE_NUDGES, blocking=True, partitions_def=business_days,
                description="great-expectations suite on the staged upgrade-nudge extract.")
def upgrade_nudges_expectations_check(context: dg.AssetCheckExecutionContext,
                                      warehouse: WarehouseResource) -> dg.AssetCheckResult:
    program = load_program(warehouse.settings().program_path)
    tiers = [tier["name"] for tier in program["tiers"]["scheme"]]
    frame = read_staged_upgrade_nudges(_staged_csv(warehouse, context.partition_key, "upgrade_nudges"))
    return _suite_result(validate_upgrade_nudges(frame, context.partition_key, tiers,
                                                 program["lapsed"]["valid_mobile_pattern"]))


staged_checks = [tier_list_segments_match_pyramid_check, tier_list_members_once_check, tier_list_expectations_check,
                 lapsed_extract_rules_check, lapsed_extract_expectations_check,
                 upgrade_nudges_rules_check, upgrade_nudges_expectations_check]
