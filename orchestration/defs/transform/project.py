"""The dbt project, prepared once (manifest built by `dagster-dbt project prepare-and-package`)."""

from dagster_dbt import DbtProject

from orchestration.dbt_manifest import prepare_if_dev
from orchestration.settings import DBT_PROJECT_DIR

loyalty_dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)
prepare_if_dev(loyalty_dbt_project)
