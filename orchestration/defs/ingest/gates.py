"""Blocking gates on the day's POS ingestion: a missing or truncated store file stops the day.

A store missing from D would make its customers look lapsed; a cut file would
understate spend. Both block everything downstream of raw/pos_lines for D.
"""

import dagster as dg

from orchestration.defs.gates_common import check_result
from orchestration.defs.partitions import business_days
from orchestration.defs.resources import WarehouseResource
from quality.gates import load_gates_config, store_completeness, store_volume

RAW_POS_LINES = dg.AssetKey(["raw", "pos_lines"])


@dg.asset_check(asset=RAW_POS_LINES, name="store_completeness", blocking=True,
                partitions_def=business_days,
                description="Every store trading on D (stores.csv opened_on/closed_on) delivered a "
                            "loadable POS file for D.")
def store_completeness_check(context: dg.AssetCheckExecutionContext,
                             warehouse: WarehouseResource) -> dg.AssetCheckResult:
    with warehouse.connect(read_only=True) as con:
        return check_result(store_completeness(con, context.partition_key))


@dg.asset_check(asset=RAW_POS_LINES, name="store_volume", blocking=True,
                partitions_def=business_days,
                description="Each store's line count for D within the configured band around its "
                            "trailing median (quality/gates.yml: volume).")
def store_volume_check(context: dg.AssetCheckExecutionContext,
                       warehouse: WarehouseResource) -> dg.AssetCheckResult:
    volume = load_gates_config()["volume"]
    with warehouse.connect(read_only=True) as con:
        return check_result(store_volume(con, context.partition_key, volume))


@dg.definitions
def ingestion_gate_definitions() -> dg.Definitions:
    return dg.Definitions(asset_checks=[store_completeness_check, store_volume_check])
