"""End-to-end checks of the loyalty marts (loyalty-rules.md sections 3, 6, 7, 8) on DuckDB.

A small hand-made raw dataset spans two as-of dates, D1 = 2026-01-20 and D2 = 2026-02-04.
One module-scoped fixture runs dbt three times on the same warehouse: D1, D2 (a full
`dbt build`, tests included), then D1 again, so that the backfill check (rebuilding D1
gives exactly the tables of the first D1 run) and the D2 assertions share the builds.

member  story                                                              expected on D2 (default program)
A       joined 2025-01-01, born in March, bonus category skincare,         welcome 40; 12000 skincare on 2025-01-10
        activated, consented, valid mobile                                  x2 (bonus, no tier yet) = 2400; queen from
                                                                            2025-01-31: 1000 makeup on 2025-03-01 x3
                                                                            (tier beats birthday 2) = 300; 100 on
                                                                            2025-10-01 x3 = 30; +100 adjusted 2026-01-30
                                                                            -> 2870 (D1: 2770); lapsed (126 days)
B       joined 2025-06-01; 1000 on 2025-12-01 (charm: 100 points),         40 + 100 - 140 - 50 = -50: negative (warned)
        redeems 140 on 2025-12-05, returns 500 on 2026-01-25 (-50 on 01-26)
C       never activated, tries to redeem                                   redemption ignored (warned), balance 40
E/F/G   lapsed: a minor / no consent / a 7-digit mobile                     excluded: minor 1, no_consent 1, invalid_mobile 1
H       moves city on 2026-01-25 (after D1)                                 two versions in dim_members_history on D2
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest
import yaml

from ingestion.contract import ADJUSTMENTS, MEMBERS, POS_LINES, PRODUCTS, REDEMPTIONS, STORES, create_raw_schema
from tests.test_dbt_rules import DBT_PROJECT, _insert, load_default_program, run_dbt

D1, D2 = "2026-01-20", "2026-02-04"
CARD_LADDER_FILE = DBT_PROJECT / "program" / "card_ladder.yml"


def _member(member_id, join_date, *, name="王小红", mobile="13800000001", birth="1990-03-15", activated=True,
            consent=True, bonus=None, city="Shanghai", updated=None, status="active"):
    day = updated or join_date
    return {
        "member_id": member_id, "card_no": f"C{member_id}", "name": name, "gender": "F",
        "birth_date": birth, "mobile": mobile, "city": city, "address": "某路1号",
        "join_date": join_date, "join_store_id": "S1", "enrolled_by": "E01", "activated": activated,
        "status": status, "marketing_consent": consent, "bonus_category": bonus,
        "updated_at": f"{day} 09:00:00", "business_day": day,
        "_source_file": f"members/members_{day.replace('-', '')}.csv", "_row_number": ord(member_id[0]),
    }


MEMBER_ROWS = [
    _member("A", "2025-01-01", bonus="skincare"),
    _member("B", "2025-06-01", name="李四", mobile="13800000002", birth="1985-07-07"),
    _member("C", "2025-06-01", name="张三", mobile="13800000003", activated=False),
    _member("E", "2025-05-01", name="小明", mobile="13800000005", birth="2015-05-05"),
    _member("F", "2025-05-01", name="赵六", mobile="13800000006", consent=False),
    _member("G", "2025-05-01", name="钱七", mobile="1380000"),
    _member("H", "2025-05-01", name="孙八", mobile="13800000008"),
    _member("H", "2025-05-01", name="孙八", mobile="13800000008", city="Beijing", updated="2026-01-25"),
]


def _line(txn_id, day, card, amount, sku="P2", original=None):
    return {
        "txn_id": txn_id, "line_no": 1, "store_id": "S1", "txn_ts": f"{day} 11:00:00", "card_no": card,
        "sku": sku, "category": "skincare" if sku == "P1" else "makeup", "qty": 1 if amount > 0 else -1,
        "unit_price": abs(amount), "discount": 0, "net_amount": amount, "original_txn_id": original,
        "business_day": day, "_source_file": f"pos/pos_{day.replace('-', '')}_S1.csv", "_row_number": 1,
    }


POS_ROWS = [
    _line("TA1", "2025-01-10", "CA", 12000.00, sku="P1"),
    _line("TA2", "2025-03-01", "CA", 1000.00),
    _line("TA3", "2025-10-01", "CA", 100.00),
    _line("TB1", "2025-12-01", "CB", 1000.00),
    _line("TB2", "2026-01-25", "CB", -500.00, original="TB1"),
    _line("TE1", "2025-06-01", "CE", 50.00),
    _line("TF1", "2025-06-01", "CF", 50.00),
    _line("TG1", "2025-06-01", "CG", 50.00),
    _line("TH1", "2026-01-10", "CH", 30.00),
    _line("TH2", "2026-01-30", "CH", 40.00),
]

REDEMPTION_ROWS = [
    {"redemption_id": "RB1", "card_no": "CB", "redeemed_at": "2025-12-05 12:00:00", "store_id": "S1",
     "points": 140, "reason": "gift", "business_day": "2025-12-05",
     "_source_file": "redemptions/redemptions_20251205.csv", "_row_number": 1},
    {"redemption_id": "RC1", "card_no": "CC", "redeemed_at": "2025-07-01 12:00:00", "store_id": "S1",
     "points": 10, "reason": "gift", "business_day": "2025-07-01",
     "_source_file": "redemptions/redemptions_20250701.csv", "_row_number": 1},
]

ADJUSTMENT_ROWS = [
    {"adjustment_id": "J1", "member_id": "A", "adjusted_at": "2026-01-30 15:00:00", "points": 100,
     "reason": "goodwill", "business_day": "2026-01-30",
     "_source_file": "adjustments/adjustments_20260130.csv", "_row_number": 1},
]

STORE_ROWS = [{"store_id": "S1", "name": "门店S1", "city": "Shanghai", "opened_on": "2020-01-01", "closed_on": None,
               "business_day": None, "_source_file": "reference/stores.csv", "_row_number": 1}]
PRODUCT_ROWS = [
    {"sku": "P1", "name": "面霜", "category": "skincare", "brand": "X", "own_brand": False,
     "business_day": None, "_source_file": "reference/products.csv", "_row_number": 1},
    {"sku": "P2", "name": "口红", "category": "makeup", "brand": None, "own_brand": True,
     "business_day": None, "_source_file": "reference/products.csv", "_row_number": 2},
]


def make_warehouse(data_dir: Path) -> Path:
    path = data_dir / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        create_raw_schema(con)
        for source, rows in [(STORES, STORE_ROWS), (PRODUCTS, PRODUCT_ROWS), (MEMBERS, MEMBER_ROWS),
                             (POS_LINES, POS_ROWS), (REDEMPTIONS, REDEMPTION_ROWS), (ADJUSTMENTS, ADJUSTMENT_ROWS)]:
            _insert(con, source, rows)
    finally:
        con.close()
    return path


def dbt_ok(command: str, data_dir: Path, program: dict, as_of: str, *extra: str):
    result = run_dbt(command, data_dir, program, as_of, *extra)
    failed = [f"{r.node.unique_id}: {r.status}: {r.message}" for r in getattr(result.result, "results", None) or []
              if r.status not in ("success", "pass", "warn")]
    assert result.success, f"dbt {command} for {as_of} failed: {result.exception or failed}"
    return result


def snapshot(path: Path) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every table and view dbt built (all schemas but raw): column names and sorted rows."""
    con = duckdb.connect(str(path))
    try:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts', 'restricted') order by 1, 2").fetchall()
        out = {}
        for schema, name in names:
            cursor = con.execute(f'select * from "{schema}"."{name}" order by all')
            out[f"{schema}.{name}"] = ([d[0] for d in cursor.description], cursor.fetchall())
        return out
    finally:
        con.close()


def table(snap: dict, name: str) -> list[dict]:
    columns, values = snap[name]
    return [dict(zip(columns, row)) for row in values]


def by_member(snap: dict, name: str, *columns: str) -> dict:
    return {r["member_id"]: tuple(r[c] for c in columns) for r in table(snap, name)}


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict:
    data_dir = tmp_path_factory.mktemp("marts")
    path = make_warehouse(data_dir)
    program = load_default_program()
    dbt_ok("run", data_dir, program, D1)
    first_d1 = snapshot(path)
    d2_result = dbt_ok("build", data_dir, program, D2)
    d2 = snapshot(path)
    # an earlier D after a later one: only a full rebuild is right, and dbt says so first
    back = run_dbt("run", data_dir, program, D1)
    assert not back.success and "FULL_REFRESH_REQUIRED" in str(back.exception)
    dbt_ok("run", data_dir, program, D1, "--full-refresh")
    again_d1 = snapshot(path)
    statuses = {r.node.name: (str(r.status), r.failures) for r in d2_result.result.results}
    return {"first_d1": first_d1, "d2": d2, "again_d1": again_d1, "d2_statuses": statuses,
            "data_dir": data_dir}


@pytest.fixture(scope="module")
def d2(runs) -> dict:
    return runs["d2"]


# --------------------------------------------------------------------------- backfills

def test_rebuilding_an_earlier_day_gives_the_same_tables(runs):
    first, again, later = runs["first_d1"], runs["again_d1"], runs["d2"]
    assert set(first) == set(again)
    assert [t for t in first if first[t] != again[t]] == []
    # not vacuous: D2 knows more (H's move, B's return, A's adjustment)
    assert first["marts.member_points_balances"] != later["marts.member_points_balances"]
    assert len(first["marts.dim_members_history"][1]) + 1 == len(later["marts.dim_members_history"][1])
    assert by_member(first, "marts.member_points_balances", "points_balance")["A"] == (2770,)


# --------------------------------------------------------------------------- points

def test_points_ledger_and_balances(d2):
    ledger = sorted((r["member_id"], str(r["entry_date"]), r["entry_type"], r["points"], r["source_id"])
                    for r in table(d2, "marts.fct_points_ledger") if r["member_id"] in ("A", "B"))
    assert ledger == sorted([
        ("A", "2025-01-01", "welcome", 40, None),
        ("A", "2025-01-10", "earn", 2400, "TA1"),   # 12000 skincare x2 (bonus; no month-end yet)
        ("A", "2025-03-01", "earn", 300, "TA2"),    # queen at 2025-02-28: x3 beats birthday x2
        ("A", "2025-10-01", "earn", 30, "TA3"),
        ("A", "2026-01-30", "adjust", 100, "J1"),
        ("B", "2025-06-01", "welcome", 40, None),
        ("B", "2025-12-01", "earn", 100, "TB1"),
        ("B", "2025-12-05", "redeem", -140, "RB1"),
        ("B", "2026-01-26", "return", -50, "TB2"),  # the day after the return
    ])
    balances = by_member(d2, "marts.member_points_balances", "points_balance", "negative_balance")
    assert balances["A"] == (2870, False)
    assert balances["B"] == (-50, True)
    assert balances["C"] == (40, False)  # the non-activated card's redemption is ignored
    tier_list = by_member(d2, "marts.tier_list", "points_balance")
    assert tier_list["A"] == (2870,) and tier_list["B"] == (-50,)


def test_warnings_list_negative_balances_and_rejected_redemptions(runs):
    statuses = runs["d2_statuses"]
    assert statuses["assert_no_negative_points_balances"] == ("warn", 1)
    assert statuses["assert_no_rejected_redemptions"] == ("warn", 1)
    assert statuses["assert_points_balances_equal_their_ledger"][0] == "pass"


# --------------------------------------------------------------------------- lapsed, privacy

def test_lapsed_customers_and_the_restricted_extract(d2):
    lapsed = by_member(d2, "marts.lapsed_customers", "status", "days_since_last_purchase", "winback_priority",
                       "masked_name", "masked_mobile")
    # N = 6 members with spend: no vip or key place, 1 ordinary (A, 1100): the ordinary cut-off is
    # 1100; A's year up to 2025-10-01 is worth 13100 -> win_back; E/F/G's 50 -> opportunistic
    assert lapsed == {
        "A": ("lapsed", 126, "win_back", "王**", "138****0001"),
        "E": ("lapsed", 248, "opportunistic", "小*", "138****0005"),
        "F": ("lapsed", 248, "opportunistic", "赵*", "138****0006"),
        "G": ("lapsed", 248, "opportunistic", "钱*", "****"),  # a 7-digit "mobile" is masked whole
    }
    columns, values = d2["restricted.lapsed_customers_extract"]
    assert columns == ["member_id", "card_no", "name", "mobile", "status", "days_since_last_purchase",
                       "last_purchase_date", "winback_priority", "segment", "favourite_category", "as_of"]
    assert values == [("A", "CA", "王小红", "13800000001", "lapsed", 126, date(2025, 10, 1), "win_back",
                       "ordinary", "makeup", date(2026, 2, 4))]
    excluded = {r["reason"]: r["members"] for r in table(d2, "restricted.lapsed_customers_excluded")}
    assert excluded == {"no_consent": 1, "minor": 1, "invalid_mobile": 1}


def test_bi_marts_carry_no_full_pii(d2):
    pii = {"name", "mobile", "birth_date", "address"}
    marts = {name: columns for name, (columns, _) in d2.items() if name.startswith("marts.")}
    assert {name: set(columns) & pii for name, columns in marts.items() if set(columns) & pii} == {}
    everything = repr([values for name, (_, values) in d2.items() if name.startswith("marts.")])
    for member in MEMBER_ROWS:
        assert member["mobile"] not in everything and member["name"] not in everything
    assert set(d2["restricted.member_pii"][0]) == {"member_id"} | pii


# --------------------------------------------------------------------------- other marts

def test_profile_history_birthday_and_store_view(d2):
    profile = by_member(d2, "marts.member_profile", "first_purchase_date", "second_purchase_date",
                        "second_purchase_category", "last_purchase_date", "favourite_category", "points_balance")
    assert profile["A"] == (date(2025, 1, 10), date(2025, 3, 1), "makeup", date(2025, 10, 1), "makeup", 2870)
    history = sorted((str(r["effective_from"]), r["tier"]) for r in table(d2, "marts.member_tier_history")
                     if r["member_id"] == "A")
    # queen from the 2025-01-31 evaluation (12000 in the year), charm from 2026-01-31 (1100)
    assert history == [("2025-02-01", "queen"), ("2026-02-01", "charm")]
    # D2 is in February: the list is March birthdays of activated members (C never activated)
    assert [r["member_id"] for r in table(d2, "marts.birthday_list")] == ["A", "F", "G", "H"]
    assert [r["name"] for r in table(d2, "restricted.birthday_list_contacts")] == ["王小红", "赵六", "钱七", "孙八"]
    store = table(d2, "marts.store_staff_members")
    assert [(r["store_id"], r["enrolled_by"], r["members_enrolled"], r["ordinary_members"]) for r in store] == [
        ("S1", "E01", 7, 1)]
    versions = sorted((r["city"], r["is_current"]) for r in table(d2, "marts.dim_members_history") if r["member_id"] == "H")
    assert versions == [("Beijing", True), ("Shanghai", False)]


def test_docs_catalogue_documents_every_model_and_column(runs):
    data_dir = runs["data_dir"]
    from dbt.cli.main import dbtRunner

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOYALTY_DATA_DIR", str(data_dir))
        result = dbtRunner().invoke([
            "docs", "generate", "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
            "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs"),
            "--vars", json.dumps({"as_of_date": D1, "program": load_default_program()})])
    assert result.success
    manifest = json.loads((data_dir / "target" / "manifest.json").read_text())
    catalog = json.loads((data_dir / "target" / "catalog.json").read_text())
    problems = []
    for unique_id, node in manifest["nodes"].items():
        if node["resource_type"] != "model":
            continue
        built = {c.lower() for c in catalog["nodes"].get(unique_id, {}).get("columns", {})}
        documented = {c.lower(): m.get("description", "").strip() for c, m in node["columns"].items()}
        if not node["description"].strip() or not built:
            problems.append((node["name"], "model"))
        problems += [(node["name"], c) for c in built ^ set(documented)]
        problems += [(node["name"], c) for c, text in documented.items() if not text]
    assert problems == []


# --------------------------------------------------------------------------- configuration

def test_card_ladder_program_runs_end_to_end(tmp_path):
    program = yaml.safe_load(CARD_LADDER_FILE.read_text(encoding="utf-8"))
    path = make_warehouse(tmp_path)
    dbt_ok("build", tmp_path, program, D2)
    con = duckdb.connect(str(path))
    try:
        tiers = dict(con.execute("select member_id, tier from marts.tier_list").fetchall())
        earn = dict(con.execute(
            "select source_id, points from marts.fct_points_ledger where member_id = 'A' and entry_type = 'earn'"
        ).fetchall())
        history = con.execute(
            "select tier from marts.member_tier_history where member_id = 'A' order by effective_from").fetchall()
    finally:
        con.close()
    assert set(tiers.values()) <= {"diamond", "gold", "silver", "points"}
    assert tiers["A"] == "points"  # 110 qualifying points in the year to D2
    # silver (x1.5) from 2025-01-31 (1200 qualifying points): birthday x2 wins in March; x1.5 in October
    assert earn == {"TA1": 2400, "TA2": 200, "TA3": 15}
    assert [t for (t,) in history] == ["silver", "points"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p["lapsed"].update(days="ninety"), "'lapsed.days' must be a"),
        (lambda p: p["pyramid"].update(vip_shares=0.01), "unknown setting 'pyramid.vip_shares'"),
        (lambda p: p["points"].pop("welcome_bonus"), "missing setting 'points.welcome_bonus'"),
        (lambda p: p["conversion"].update(window_days=[30, 0]), "'conversion.window_days[1]' must be a whole number >= 1"),
    ],
)
def test_an_invalid_program_stops_the_run_before_any_model(tmp_path, change, message):
    program = load_default_program()
    change(program)
    make_warehouse(tmp_path)
    result = run_dbt("run", tmp_path, program, as_of=D2)
    assert not result.success
    # type errors stop already at parse time (a model reads the setting), the rest in the
    # on-run-start validation; either way the message names the key and nothing is built
    assert message in str(result.exception) or message in repr(result.result)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    try:
        built = con.execute("select count(*) from information_schema.tables where table_schema <> 'raw'").fetchall()
    finally:
        con.close()
    assert built == [(0,)]


# --------------------------------------------------------------------------- tests of the tests

def test_marts_with_a_month_end_column_are_partitioned_by_month_end(runs):
    """The serving copy re-copies a mart with a month_end column (and no business_day) only for
    the month-ends the build evaluated (orchestration/serving.py): such a mart must be
    partitioned by month-end, so that no other month-end of it changes. Documented columns are
    the built ones (the test above)."""
    manifest = json.loads((runs["data_dir"] / "target" / "manifest.json").read_text())
    month_end_marts = {node["name"]: (node["config"]["materialized"], node["config"].get("partition_by"))
                       for node in manifest["nodes"].values()
                       if node["resource_type"] == "model" and node["original_file_path"].startswith("models/marts/")
                       and "month_end" in node["columns"] and "business_day" not in node["columns"]}
    assert "member_segment_history" in month_end_marts
    assert month_end_marts == {name: ("incremental", ["month_end"]) for name in month_end_marts}


def test_a_null_in_a_checked_column_fails_the_models_one_not_null_test(runs, tmp_path):
    """Each model has one not_null_columns test (one node, one scan) for all its required
    columns; a null in any of them fails it and names the column."""
    with duckdb.connect(str(runs["data_dir"] / "warehouse.duckdb")) as con:
        con.execute("CHECKPOINT")  # the copy must not miss what is still in the WAL
    shutil.copy(runs["data_dir"] / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        con.execute("UPDATE marts.tier_list SET card_no = NULL, trailing_spend = NULL "
                    "WHERE member_id = (SELECT min(member_id) FROM marts.tier_list)")
    result = run_dbt("test", tmp_path, load_default_program(), D2, "--select", "tier_list")
    outcome = {r.node.name: (str(r.status), r.failures) for r in result.result.results}
    not_null = [name for name in outcome if name.startswith("not_null_columns_tier_list")]
    # one failing row per column with nulls
    assert len(not_null) == 1 and outcome[not_null[0]] == ("fail", 2), outcome
    assert all(status in ("pass", "success") for name, (status, _) in outcome.items()
               if name not in not_null and not name.startswith("accepted_values")), outcome


def test_a_repeated_recent_key_that_holds_its_date_fails_the_uniqueness_test(runs, tmp_path):
    """A uniqueness test whose key holds its recent column checks the recent rows among
    themselves; a repeated recent row still fails it."""
    with duckdb.connect(str(runs["data_dir"] / "warehouse.duckdb")) as con:
        con.execute("CHECKPOINT")
    shutil.copy(runs["data_dir"] / "warehouse.duckdb", tmp_path / "warehouse.duckdb")
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        # the same member-day twice on D (within the recent days the test reads)
        for _ in range(2):
            con.execute("INSERT INTO intermediate.int_member_daily_sales SELECT * REPLACE (DATE '2026-02-04' AS "
                        "business_day, DATE '2026-02-04' AS sales_day) FROM intermediate.int_member_daily_sales LIMIT 1")
    result = run_dbt("test", tmp_path, load_default_program(), D2, "--select", "int_member_daily_sales")
    outcome = {r.node.name: (str(r.status), r.failures) for r in result.result.results}
    unique = [name for name in outcome if name.startswith("unique_combination_of_columns_int_member_daily_sales")]
    assert len(unique) == 1 and outcome[unique[0]] == ("fail", 1), outcome
