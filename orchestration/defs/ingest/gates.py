"""Gates on the day's POS ingestion: a missing or truncated store file stops the day.

A store missing from D would make its customers look lapsed; a cut file would
understate spend. Both block everything downstream of raw/pos_lines for D.
Earlier store-days without lines only warn: D's figures are published with them listed.
"""

import dagster as dg

from orchestration.defs.gates_common import check_result
from orchestration.defs.partitions import business_days
from orchestration.defs.resources import WarehouseResource
from quality.gates import (
    confirmed_stores, load_gates_config, store_completeness, store_days_without_lines, store_volume,
)

RAW_POS_LINES = dg.AssetKey(["raw", "pos_lines"])


@dg.asset_check(asset=RAW_POS_LINES, name="store_completeness", blocking=True,
                partitions_def=business_days,
                description="Every store trading on D (stores.csv opened_on/closed_on) has POS lines "
                            "loaded for D: a missing, rejected, header-only or wholly quarantined "
                            "file blocks (the sample names the store and the file).")
def store_completeness_check(context: dg.AssetCheckExecutionContext,
                             warehouse: WarehouseResource) -> dg.AssetCheckResult:
    confirmed = confirmed_stores(load_gates_config(), context.partition_key)
    with warehouse.connect(read_only=True) as con:
        return check_result(store_completeness(con, context.partition_key, confirmed))


@dg.asset_check(asset=RAW_POS_LINES, name="store_volume", blocking=True,
                partitions_def=business_days,
                description="Each store's line count for D within the band around its trailing "
                            "median m: [min(0.2m, m-3*sqrt(m)), max(4m, m+3*sqrt(m))] by default "
                            "(quality/gates.yml: volume).")
def store_volume_check(context: dg.AssetCheckExecutionContext,
                       warehouse: WarehouseResource) -> dg.AssetCheckResult:
    config = load_gates_config()
    with warehouse.connect(read_only=True) as con:
        return check_result(store_volume(con, context.partition_key, config["volume"],
                                         confirmed_stores(config, context.partition_key)))


@dg.asset_check(asset=RAW_POS_LINES, name="store_days_without_lines", blocking=False,
                partitions_def=business_days,
                description="Warns about open store-days before D in its trailing year with no loaded POS "
                            "line (file lost, rejected whole, header-only or never sent); lists them "
                            "(newest first) with the full count, also written to manifest.json.")
def store_days_without_lines_check(context: dg.AssetCheckExecutionContext,
                                   warehouse: WarehouseResource) -> dg.AssetCheckResult:
    sample_size = int(load_gates_config().get("sample_rows", 10))
    with warehouse.connect(read_only=True) as con:
        gate = store_days_without_lines(con, context.partition_key, sample_size)
    return check_result(gate, severity=dg.AssetCheckSeverity.WARN)


@dg.definitions
def ingestion_gate_definitions() -> dg.Definitions:
    return dg.Definitions(asset_checks=[store_completeness_check, store_volume_check,
                                        store_days_without_lines_check])
