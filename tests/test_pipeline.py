"""End to end: generated landing files -> Dagster job (ingest, dbt, gates) -> outbox."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from orchestration.cli import main as loyalty
from orchestration.definitions import defs
from quality.gates import GATES_CONFIG_DEFAULT

AS_OF = "2025-04-10"  # well before the generated chain's last day (2025-04-30)


def independent_tier_list(landing: Path, as_of: str) -> dict[str, dict]:
    """Tier, segment and trailing values per member, from the landing CSVs in plain SQL.

    Written from loyalty-rules.md sections 1, 2, 4 and 5 without reading the dbt models.
    """
    rows = duckdb.sql(f"""
        WITH pos AS (
            SELECT *, strptime(regexp_extract(filename, 'pos_(\\d{{8}})_', 1), '%Y%m%d')::DATE AS file_day
            FROM read_csv('{landing}/pos/*.csv', all_varchar = true, filename = true)
        ),
        member_rows AS (
            SELECT *, strptime(regexp_extract(filename, 'members_(\\d{{8}})', 1), '%Y%m%d')::DATE AS file_day
            FROM read_csv('{landing}/members/*.csv', all_varchar = true, filename = true)
        ),
        members AS (
            SELECT member_id, card_no, join_date::DATE AS join_date, status
            FROM (SELECT *, row_number() OVER (PARTITION BY member_id
                                               ORDER BY updated_at::TIMESTAMP DESC) AS newest
                  FROM member_rows WHERE file_day <= DATE '{as_of}')
            WHERE newest = 1
        ),
        txns AS (
            SELECT txn_id, any_value(card_no) AS card_no, min(txn_ts::TIMESTAMP)::DATE AS day,
                   sum(net_amount::DECIMAL(18, 2)) AS amount
            FROM pos WHERE file_day <= DATE '{as_of}' GROUP BY txn_id
        ),
        window_txns AS (
            SELECT m.member_id, t.amount, t.day
            FROM txns t JOIN members m ON m.card_no = t.card_no AND t.day >= m.join_date
            WHERE t.day BETWEEN DATE '{as_of}' - INTERVAL 364 DAY AND DATE '{as_of}'
        ),
        member_window AS (
            SELECT m.member_id,
                   coalesce(sum(w.amount), 0) AS spend,
                   count(*) FILTER (WHERE w.amount > 0) AS transactions,
                   count(DISTINCT date_trunc('month', w.day)) FILTER (WHERE w.amount > 0) AS months
            FROM members m LEFT JOIN window_txns w USING (member_id)
            WHERE m.status <> 'cancelled'
            GROUP BY m.member_id
        ),
        ranked AS (
            SELECT *, CASE WHEN spend > 0 THEN row_number() OVER (
                          ORDER BY CASE WHEN spend > 0 THEN 0 ELSE 1 END, spend DESC, member_id) END AS r,
                   count(*) FILTER (WHERE spend > 0) OVER () AS n
            FROM member_window
        )
        SELECT member_id,
               CASE WHEN spend >= 3990 OR transactions >= 200 THEN 'queen'
                    WHEN spend >= 1990 OR transactions >= 100 THEN 'goddess'
                    ELSE 'charm' END AS tier,
               CASE WHEN r IS NULL THEN 'inactive'
                    WHEN r <= n // 100 THEN (CASE WHEN months < 2 THEN 'ordinary' ELSE 'vip' END)
                    WHEN r <= n * 5 // 100 THEN (CASE WHEN months < 2 THEN 'ordinary' ELSE 'key' END)
                    WHEN r <= n * 20 // 100 THEN 'ordinary'
                    ELSE 'small' END AS segment,
               printf('%.2f', spend) AS trailing_spend,
               transactions::VARCHAR AS trailing_transactions
        FROM ranked
    """).fetchall()
    return {r[0]: {"tier": r[1], "segment": r[2], "trailing_spend": r[3],
                   "trailing_transactions": r[4]} for r in rows}


def published_tier_list(outbox: Path, as_of: str) -> dict[str, dict]:
    rows = duckdb.sql(f"SELECT * FROM read_csv('{outbox / as_of / 'tier_list.csv'}', all_varchar = true)")
    names = rows.columns
    return {r[0]: dict(zip(names, r)) for r in rows.fetchall()}


def test_published_tier_list_matches_an_independent_computation(data_env, small_landing, capsys, tmp_path,
                                                                monkeypatch):
    assert loyalty(["run", "--as-of", AS_OF]) == 0
    assert f"published: {data_env / 'outbox' / AS_OF}" in capsys.readouterr().out

    published = published_tier_list(data_env / "outbox", AS_OF)
    expected = independent_tier_list(small_landing, AS_OF)
    assert set(published) == set(expected)
    for member_id, want in expected.items():
        got = published[member_id]
        assert {k: got[k] for k in want} == want, member_id
        assert got["as_of"] == AS_OF
    # the sample chain has real structure, so the comparison is not vacuous
    segments = {row["segment"] for row in expected.values()}
    assert {"vip", "key", "ordinary", "small", "inactive"} <= segments
    assert {"queen", "goddess", "charm"} <= {row["tier"] for row in expected.values()}

    manifest = json.loads((data_env / "outbox" / AS_OF / "manifest.json").read_text())
    csv_bytes = (data_env / "outbox" / AS_OF / "tier_list.csv").read_bytes()
    assert manifest["as_of"] == AS_OF
    assert manifest["files"]["tier_list.csv"] == {
        "rows": len(expected), "sha256": hashlib.sha256(csv_bytes).hexdigest()}
    assert "publish/tier_list_staged:tier_list_segments_match_pyramid_check" in manifest["checks_passed"]
    assert (data_env / "outbox" / AS_OF / "tier_list.csv").stat().st_mode & 0o077 == 0

    # the run for D never read files of later days
    with duckdb.connect(str(data_env / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT max(business_day) FROM raw.pos_lines").fetchall()[0][0] == date.fromisoformat(AS_OF)
        assert con.execute("SELECT max(business_day) FROM raw.members").fetchall()[0][0] <= date.fromisoformat(AS_OF)

    # the outreach extract and its manifest: everyone lapsed/at-risk is listed or counted as left out
    lapsed_bytes = (data_env / "outbox" / AS_OF / "lapsed_customers.csv").read_bytes()
    with duckdb.connect(str(data_env / "warehouse.duckdb"), read_only=True) as con:
        lapsed_or_at_risk = con.execute("SELECT count(*) FROM marts.lapsed_customers").fetchall()[0][0]
    listed = manifest["files"]["lapsed_customers.csv"]["rows"]
    assert listed == lapsed_bytes.count(b"\n") - 1 and listed > 0
    assert listed + manifest["lapsed_at_risk_left_out"]["total"] == lapsed_or_at_risk
    assert (data_env / "outbox" / AS_OF / "lapsed_customers.csv").stat().st_mode & 0o077 == 0

    # the upgrade-nudge extract: every candidate listed or counted as left out, owner-only
    nudges_path = data_env / "outbox" / AS_OF / "upgrade_nudges.csv"
    with duckdb.connect(str(data_env / "warehouse.duckdb"), read_only=True) as con:
        candidates = con.execute("SELECT count(*) FROM marts.upgrade_nudges").fetchall()[0][0]
    nudged = manifest["files"]["upgrade_nudges.csv"]["rows"]
    assert nudged == nudges_path.read_bytes().count(b"\n") - 1 and nudged > 0
    assert nudged + manifest["upgrade_nudges_left_out"]["total"] == candidates
    assert set(manifest["upgrade_nudges_left_out"]["by_reason"]) == {"no_consent", "minor", "invalid_mobile"}
    assert nudges_path.stat().st_mode & 0o077 == 0
    assert "publish/upgrade_nudges_staged:upgrade_nudges_rules_check" in manifest["checks_passed"]

    # the same day again with nothing new starts no run
    capsys.readouterr()
    assert loyalty(["run", "--as-of", AS_OF]) == 0
    out = capsys.readouterr().out
    assert "nothing to do" in out and "succeeded" not in out
    assert manifest["build"]["as_of_date"] == AS_OF
    # another gates configuration is something new: a run; so is --force; both republish the same bytes
    gates = tmp_path / "gates.yml"
    gates.write_text(GATES_CONFIG_DEFAULT.read_text() + "\n# reviewed\n")
    monkeypatch.setenv("LOYALTY_GATES_CONFIG", str(gates))
    for args in (["run", "--as-of", AS_OF], ["run", "--as-of", AS_OF, "--force"]):
        assert loyalty(args) == 0
        assert "succeeded" in capsys.readouterr().out
        assert (data_env / "outbox" / AS_OF / "tier_list.csv").read_bytes() == csv_bytes
        assert (data_env / "outbox" / AS_OF / "lapsed_customers.csv").read_bytes() == lapsed_bytes


def _keys(group: str) -> list[dg.AssetKey]:
    graph = defs().resolve_asset_graph()
    return [k for k in graph.get_all_asset_keys()
            if graph.get(k).is_materializable and (graph.get(k).group_name == "publish") == (group == "publish")]


def test_a_failing_gate_publishes_nothing_and_leaves_earlier_days_untouched(data_env):
    job = defs().resolve_job_def("daily_pipeline")
    instance = dg.DagsterInstance.ephemeral()
    earlier, day = "2025-04-05", "2025-04-06"
    assert job.execute_in_process(partition_key=earlier, instance=instance).success
    earlier_files = {p.name: p.read_bytes() for p in (data_env / "outbox" / earlier).iterdir()}

    # build everything up to the marts for `day`, then corrupt one segment in the mart
    assert job.execute_in_process(partition_key=day, instance=instance,
                                  asset_selection=_keys("build")).success
    with duckdb.connect(str(data_env / "warehouse.duckdb")) as con:
        con.execute("""UPDATE marts.tier_list SET segment = 'vip'
                       WHERE member_id = (SELECT min(member_id) FROM marts.tier_list WHERE segment = 'small')""")
    result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False,
                                    asset_selection=_keys("publish"))
    assert not result.success
    failed = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert set(failed) == {"tier_list_segments_match_pyramid_check"}
    assert failed["tier_list_segments_match_pyramid_check"].metadata["failing_count"].value == 1
    assert not (data_env / "outbox" / day).exists()
    assert {p.name: p.read_bytes() for p in (data_env / "outbox" / earlier).iterdir()} == earlier_files


def _table_digests(path: Path) -> dict[str, str]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [r[0] for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'raw'").fetchall()]
        return {t: hashlib.sha256(repr(con.execute(f"SELECT * FROM raw.{t} ORDER BY ALL").fetchall()).encode()).hexdigest()
                for t in sorted(tables)}


def test_ingesting_the_same_landing_twice_gives_identical_tables(data_env):
    job = defs().resolve_job_def("daily_pipeline")
    raw_keys = [k for k in _keys("build") if k.path[0] == "raw"]
    first = job.execute_in_process(partition_key=AS_OF, asset_selection=raw_keys)
    digests = _table_digests(data_env / "warehouse.duckdb")
    second = job.execute_in_process(partition_key=AS_OF, asset_selection=raw_keys)
    assert _table_digests(data_env / "warehouse.duckdb") == digests

    def loaded(result) -> int:
        return sum(m.metadata["files_loaded"].value for m in result.asset_materializations_for_node("raw__pos_lines"))

    assert loaded(first) > 100 and loaded(second) == 0
