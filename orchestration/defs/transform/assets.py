"""dbt models as Dagster assets, built for the partition's as-of date."""


import json
import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
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
        yield from dbt.cli(dbt_build_args(program), context=context, target_path=target).stream()
