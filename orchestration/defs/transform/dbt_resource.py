"""dagster-dbt's dbt resource without two start-up costs it pays on every run.

- The dbt version: dagster-dbt runs `dbt --version` in a subprocess (about 3 s: it imports dbt)
  to tell dbt Core from the Fusion engine. The dbt it runs is this interpreter's
  (`dbt_executable()`), so the installed dbt-core package says the same for free.
- A dbt adapter in the Dagster process: dagster-dbt opens one before each invocation for its
  optional row-count and column-metadata fetches. This project fetches neither (each model's
  post-hook logs its row count: macros/row_counts.sql), so none is opened;
  dagster-dbt handles a missing adapter (as under Fusion) by skipping those fetches.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from importlib.metadata import version as installed_version

from dagster_dbt import DbtCliResource
from packaging import version


class LocalDbtCliResource(DbtCliResource):
    """DbtCliResource for the dbt installed beside Dagster (orchestration.dbt_manifest.dbt_executable)."""

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(installed_version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args: Sequence[str]):
        return None
