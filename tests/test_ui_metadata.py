"""The Dagster UI after a run, read back through its GraphQL API (a real dagster-webserver):
row counts on every dbt model, useful metadata on every published asset and gate, no PII."""

from __future__ import annotations

import json
import re
import sys

import duckdb
import pytest

from conftest import REPO_ROOT
from published_run import published_run

sys.path.insert(0, str(REPO_ROOT))
from bench.dagster_ui import dagster_webserver  # noqa: E402

METADATA = """metadataEntries { label __typename
    ... on IntMetadataEntry { intValue } ... on TextMetadataEntry { text }
    ... on PathMetadataEntry { path } ... on JsonMetadataEntry { jsonString }
    ... on MarkdownMetadataEntry { mdStr } }"""
ASSET_NODES = """{ assetNodes { assetKey { path } description groupName isMaterializable kinds
    assetMaterializations(limit: 1) { partition %s }
    assetChecksOrError { ... on AssetChecks { checks { name description } } } } }""" % METADATA
CHECK_EXECUTIONS = """query ($key: AssetKeyInput!, $check: String!) {
    assetCheckExecutions(assetKey: $key, checkName: $check, limit: 1) { status evaluation { %s } } }""" % METADATA


def _value(entry: dict):
    for field in ("intValue", "text", "path", "mdStr"):
        if field in entry:
            return entry[field]
    return json.loads(entry["jsonString"]) if "jsonString" in entry else None


@pytest.fixture(scope="module")
def ui_state(tmp_path_factory, small_landing) -> dict:
    """Asset nodes (latest materialization metadata) and the publish group's latest check evaluations."""
    run = published_run(tmp_path_factory, small_landing)
    with dagster_webserver(run.dagster_home, env=run.env) as ui:
        nodes = {"/".join(n["assetKey"]["path"]): n for n in ui.graphql(ASSET_NODES)["assetNodes"]}
        checks = {}
        for key, node in nodes.items():
            if node["groupName"] == "publish":
                for check in node["assetChecksOrError"]["checks"]:
                    executions = ui.graphql(CHECK_EXECUTIONS, {"key": {"path": node["assetKey"]["path"]},
                                                               "check": check["name"]})["assetCheckExecutions"]
                    checks[f"{key}:{check['name']}"] = executions
    return {"run": run, "nodes": nodes, "checks": checks}


def _latest(node: dict) -> dict:
    assert node["assetMaterializations"], f"{node['assetKey']} was not materialized"
    return {e["label"]: _value(e) for e in node["assetMaterializations"][0]["metadataEntries"]}


def test_every_dbt_model_asset_shows_its_row_count(ui_state):
    dbt_models = {key: node for key, node in ui_state["nodes"].items()
                  if "dbt" in node["kinds"] and node["isMaterializable"]}
    assert len(dbt_models) >= 40
    missing = [key for key, node in dbt_models.items()
               if not isinstance(_latest(node).get("dagster/row_count"), int)]
    assert missing == []
    with duckdb.connect(str(ui_state["run"].data_dir / "warehouse.duckdb"), read_only=True) as con:
        for key in ("marts/tier_list", "marts/fct_sales_lines", "staging/stg_pos__lines"):  # tables and a view
            schema, table = key.split("/")
            if key in dbt_models:
                rows = con.execute(f"SELECT count(*) FROM {schema}.{table}").fetchall()[0][0]
                assert _latest(dbt_models[key])["dagster/row_count"] == rows > 0


def test_published_assets_carry_counts_paths_and_previews(ui_state):
    nodes, run = ui_state["nodes"], ui_state["run"]
    for name in ("tier_list_staged", "lapsed_customers_staged", "upgrade_nudges_staged"):
        staged = _latest(nodes[f"publish/{name}"])
        assert staged["dagster/row_count"] > 0 and {"staged_path", "sha256"} <= staged.keys()

    outbox = _latest(nodes["publish/outbox"])
    assert outbox["path"] == str(run.data_dir / "outbox" / run.as_of)
    assert outbox["tier_list_csv_path"] == str(run.data_dir / "outbox" / run.as_of / "tier_list.csv")
    assert {"tier_list_parquet_path", "lapsed_customers_csv_path", "upgrade_nudges_csv_path",
            "manifest_json_path"} <= outbox.keys()
    assert outbox["tier_list_rows"] == outbox["manifest"]["files"]["tier_list.csv"]["rows"] > 0
    assert outbox["checks_passed"] == len(outbox["manifest"]["checks_passed"]) >= 5

    serving = _latest(nodes["publish/serving_copy"])
    assert serving["storage_version"] == "v1.4.0+"
    assert serving["parquet_path"] == str(run.data_dir / "serving" / "parquet")
    assert serving["dagster/row_count"] == sum(serving["rows_per_table"].values()) > 0
    for mart in ("tier_list", "customer_pyramid", "lapsed_customers"):
        preview = serving[f"preview_{mart}"]
        header = preview.splitlines()[2]
        assert header.startswith("| ") and len(preview.splitlines()) == 4 + 5  # title, blank, header, rule, 5 rows
        assert f"of {serving['rows_per_table'][mart]:,} rows" in preview
    assert "masked_mobile" in serving["preview_lapsed_customers"]


def test_every_publish_gate_reports_counts_and_an_id_only_sample(ui_state):
    checks = ui_state["checks"]
    assert len(checks) == 7  # tier list 3, lapsed list 2, upgrade nudges 2
    for name, executions in checks.items():
        assert executions and executions[0]["status"] == "SUCCEEDED", name
        labels = {e["label"] for e in executions[0]["evaluation"]["metadataEntries"]}
        assert {"failing_count", "failing_sample"} <= labels, name


def test_descriptions_render_as_written(ui_state):
    """The UI renders descriptions as Markdown: a bare <D> or <landing> vanishes as an HTML tag."""
    texts = {key: node["description"] or "" for key, node in ui_state["nodes"].items()}
    texts.update({f"{key}:{c['name']}": c["description"] or "" for key, node in ui_state["nodes"].items()
                  for c in (node["assetChecksOrError"] or {}).get("checks", [])})
    swallowed = {key: text for key, text in texts.items()
                 if re.search(r"<[A-Za-z/][^>]*>", re.sub(r"`[^`]*`", "", text))}
    assert swallowed == {}
    assert "`outbox/.staging/YYYY-MM-DD/`" in texts["publish/tier_list_staged"]


def test_no_personal_data_in_any_metadata(ui_state):
    with duckdb.connect(str(ui_state["run"].data_dir / "warehouse.duckdb"), read_only=True) as con:
        pii = con.execute("SELECT name, mobile, address FROM restricted.member_pii").fetchall()
    assert len(pii) > 100
    shown = json.dumps([node["assetMaterializations"] for node in ui_state["nodes"].values()]
                       + list(ui_state["checks"].values()), ensure_ascii=False)
    cells = set(re.split(r'[|"\s,:]+', shown))
    assert not [m for _, m, _ in pii if m and m in shown]
    assert not [a for _, _, a in pii if a and a in shown]
    assert not [n for n, _, _ in pii if n and n in cells]
