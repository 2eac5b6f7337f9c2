"""Blocking gates on the marts: sales fact (stores/products known, money reconciled) and points."""

import dagster as dg

from orchestration.defs.gates_common import check_result
from orchestration.defs.partitions import business_days
from orchestration.defs.resources import WarehouseResource
from quality.gates import balances_equal_ledger, referential_integrity, sales_reconciliation

FCT_SALES_LINES = dg.AssetKey(["marts", "fct_sales_lines"])
MEMBER_POINTS_BALANCES = dg.AssetKey(["marts", "member_points_balances"])


@dg.asset_check(asset=FCT_SALES_LINES, name="referential_integrity", blocking=True,
                partitions_def=business_days,
                description="Sales lines' stores and products exist in the reference files; "
                            "unknown member cards are counted (metadata), not failed.")
def referential_integrity_check(warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        return check_result(referential_integrity(con))


@dg.asset_check(asset=FCT_SALES_LINES, name="sales_reconciliation", blocking=True,
                partitions_def=business_days,
                description="Per business day <= D: amount and line count of the raw valid lines "
                            "equal those of the sales fact.")
def sales_reconciliation_check(context: dg.AssetCheckExecutionContext,
                               warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        return check_result(sales_reconciliation(con, context.partition_key))


@dg.asset_check(asset=MEMBER_POINTS_BALANCES, name="balances_equal_ledger", blocking=True,
                partitions_def=business_days,
                description="Every balance equals the sum of its ledger entries dated <= D, no null "
                            "points, and the tier list carries the same balance.")
def balances_equal_ledger_check(context: dg.AssetCheckExecutionContext,
                                warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        return check_result(balances_equal_ledger(con, context.partition_key))


@dg.definitions
def transform_gate_definitions() -> dg.Definitions:
    return dg.Definitions(asset_checks=[referential_integrity_check, sales_reconciliation_check,
                                              balances_equal_ledger_check])
