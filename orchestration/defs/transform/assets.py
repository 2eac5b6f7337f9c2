"""dbt models as Dagster assets, built for the partition's as-of date."""


import json
import os

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.defs.partitions import ONE_DAY_PER_RUN, WAREHOUSE_POOL, business_days
from orchestration.defs.resources import WarehouseResource
from orchestration.defs.transform.project import loyalty_dbt_project
from orchestration.defs.transform.translator import LoyaltyTranslator
from orchestration.settings import load_program


def dbt_build_args(as_of: str, program: dict) -> list[str]:
    """`dbt build` for one as-of date under one program configuration.

    dbt unit tests test the SQL, not the day's data: pytest runs them (tests/test_dbt_*.py),
    the daily run skips them (they cost a fixed minute at chain scale).
    """
    variables = {"as_of_date": as_of, "program": program}
    return ["build", "--vars", json.dumps(variables, sort_keys=True, ensure_ascii=False),
            "--exclude-resource-type", "unit_test"]


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
    # profiles.yml reads the warehouse location from the environment of the dbt process.
    os.environ["LOYALTY_DATA_DIR"] = str(settings.data_dir)
    program = load_program(settings.program_path)
    yield from dbt.cli(dbt_build_args(context.partition_key, program), context=context).stream()
