from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings

# dbt source `raw.<table>` is the ingestion asset raw/<table>: one lineage from landing to marts.
RAW_SOURCE_NAME = "raw"


class LoyaltyTranslator(DagsterDbtTranslator):
    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        node = manifest["sources"].get(unique_id) or manifest["nodes"].get(unique_id) or {}
        if node.get("resource_type") == "source" and node.get("source_name") == RAW_SOURCE_NAME:
            return spec.replace_attributes(key=dg.AssetKey(["raw", node["name"]]))
        if node.get("resource_type") in ("model", "snapshot", "seed"):
            folder = node["fqn"][1] if len(node.get("fqn", [])) > 2 else "dbt"
            return spec.replace_attributes(group_name=folder)
        return spec
