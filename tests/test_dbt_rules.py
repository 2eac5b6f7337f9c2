"""End-to-end checks of the dbt rules (loyalty-rules.md sections 1, 2, 4, 5) on DuckDB.

A tiny hand-made raw dataset is loaded into a fresh warehouse (through the ingestion
contract's DDL), `dbt build` runs programmatically (unit tests and data tests included),
and the marts are compared with values computed by hand below.

As-of date D = 2026-02-04, so the trailing year is 2025-02-05 .. 2026-02-04.

member  card  story                                                      expected on D
M1      C1    9000 on D-365 (out), 3000 on D-364 (in), 1200 in Jan 2026,   spend 4000, 2 txns, 2 months,
              a -200 return in Jan 2026 (reduces spend, not a txn)        400 qualifying points -> queen
M2      C2    updated twice (city Shanghai -> Beijing); a cancellation    spend 2100, 2 txns -> goddess
              and a 5000 sale that land after D are ignored
M3      C3    cancelled on 2026-01-10 (spent 5000)                        not in tier list / pyramid
M4      C4    card used on 2026-01-10, before joining on 2026-01-15       spend 50 -> charm
              (not M4's sale), 50 on 2026-01-20
M5      C5    no purchases                                                spend 0 -> charm, inactive
--      --    a sale without card, a sale with an unknown card            member_id null in the fact
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal as Dec
from pathlib import Path

import duckdb
import pytest

from ingestion.contract import MEMBERS, POS_LINES, PRODUCTS, STORES, create_raw_schema

DBT_PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
AS_OF = "2026-02-04"


def load_default_program() -> dict:
    from orchestration.settings import load_program

    return load_program(None)


# --------------------------------------------------------------------------- raw data

def _member(member_id, card_no, join_date, updated_at, day, row, *, city="Shanghai", status="active"):
    return {
        "member_id": member_id, "card_no": card_no, "name": "王小红", "gender": "F",
        "birth_date": "1990-05-01", "mobile": "13800001234", "city": city, "address": "某路1号",
        "join_date": join_date, "join_store_id": "S1", "enrolled_by": "E01", "activated": True,
        "status": status, "marketing_consent": True, "bonus_category": None,
        "updated_at": updated_at, "business_day": day,
        "_source_file": f"members/members_{day.replace('-', '')}.csv", "_row_number": row,
    }


MEMBER_ROWS = [
    _member("M1", "C1", "2024-06-01", "2024-06-01 10:00:00", "2024-06-01", 1),
    _member("M2", "C2", "2025-03-01", "2025-03-01 10:00:00", "2025-03-01", 1, city="Shanghai"),
    _member("M2", "C2", "2025-03-01", "2025-12-01 10:00:00", "2025-12-01", 1, city="Beijing"),
    # landed after D: must not be seen on D
    _member("M2", "C2", "2025-03-01", "2026-02-10 10:00:00", "2026-02-10", 1, city="Beijing", status="cancelled"),
    _member("M3", "C3", "2025-01-01", "2025-01-01 10:00:00", "2025-01-01", 1),
    _member("M3", "C3", "2025-01-01", "2026-01-10 10:00:00", "2026-01-10", 1, status="cancelled"),
    _member("M4", "C4", "2026-01-15", "2026-01-15 10:00:00", "2026-01-15", 1),
    _member("M5", "C5", "2025-05-01", "2025-05-01 10:00:00", "2025-05-01", 1),
]


def _line(txn_id, line_no, day, card_no, net_amount, *, sku="P1", store="S1", original=None):
    qty = 1 if net_amount >= 0 else -1
    return {
        "txn_id": txn_id, "line_no": line_no, "store_id": store, "txn_ts": f"{day} 11:00:00",
        "card_no": card_no, "sku": sku, "category": "skincare" if sku == "P1" else "makeup",
        "qty": qty, "unit_price": abs(net_amount), "discount": 0, "net_amount": net_amount,
        "original_txn_id": original, "business_day": day,
        "_source_file": f"pos/pos_{day.replace('-', '')}_{store}.csv", "_row_number": line_no,
    }


POS_ROWS = [
    _line("T01", 1, "2025-02-04", "C1", 9000.00),  # D-365: outside the trailing year
    _line("T02", 1, "2025-02-05", "C1", 2000.00),  # D-364: inside
    _line("T02", 2, "2025-02-05", "C1", 1000.00, sku="P2"),
    _line("T03", 1, "2026-01-10", "C1", 1200.00),
    _line("T04", 1, "2026-01-20", "C1", -200.00, original="T03"),  # a return
    _line("T05", 1, "2025-06-01", "C2", 1500.00, store="S2"),
    _line("T06", 1, "2025-09-01", "C2", 600.00),
    _line("T07", 1, "2026-02-05", "C2", 5000.00),  # landed after D: ignored
    _line("T08", 1, "2026-01-05", "C3", 5000.00),  # cancelled member
    _line("T09", 1, "2026-01-10", "C4", 800.00),  # card used before M4 joined
    _line("T10", 1, "2026-01-20", "C4", 50.00),
    _line("T11", 1, "2026-02-01", None, 300.00),  # non-member sale
    _line("T12", 1, "2026-02-02", "C999", 100.00),  # unknown card (a warning, not an error)
]

STORE_ROWS = [
    {"store_id": s, "name": f"门店{s}", "city": "Shanghai", "opened_on": "2020-01-01", "closed_on": None,
     "business_day": None, "_source_file": "reference/stores.csv", "_row_number": i}
    for i, s in enumerate(["S1", "S2"], start=1)
]
PRODUCT_ROWS = [
    {"sku": "P1", "name": "面霜", "category": "skincare", "brand": "X", "own_brand": False,
     "business_day": None, "_source_file": "reference/products.csv", "_row_number": 1},
    {"sku": "P2", "name": "口红", "category": "makeup", "brand": None, "own_brand": True,
     "business_day": None, "_source_file": "reference/products.csv", "_row_number": 2},
]


def _insert(con, source, rows) -> None:
    names = [c.name for c in source.columns] + ["business_day", "_source_file", "_row_number"]
    placeholders = ", ".join("?" for _ in names)
    con.executemany(
        f"insert into {source.table} ({', '.join(names)}) values ({placeholders})",
        [[row.get(n) for n in names] for row in rows],
    )


def make_warehouse(data_dir: Path) -> Path:
    path = data_dir / "warehouse.duckdb"
    con = duckdb.connect(str(path))
    try:
        create_raw_schema(con)
        _insert(con, STORES, STORE_ROWS)
        _insert(con, PRODUCTS, PRODUCT_ROWS)
        _insert(con, MEMBERS, MEMBER_ROWS)
        _insert(con, POS_LINES, POS_ROWS)
    finally:
        con.close()
    return path


# --------------------------------------------------------------------------- dbt

def run_dbt(command: str, data_dir: Path, program: dict, as_of: str = AS_OF, *extra: str):
    from dbt.cli.main import dbtRunner

    args = [
        command, *extra,
        "--project-dir", str(DBT_PROJECT),
        "--profiles-dir", str(DBT_PROJECT),
        "--target-path", str(data_dir / "target"),
        "--log-path", str(data_dir / "logs"),
        "--vars", json.dumps({"as_of_date": as_of, "program": program}),
    ]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOYALTY_DATA_DIR", str(data_dir))
        return dbtRunner().invoke(args)


def build(data_dir: Path, program: dict) -> Path:
    path = make_warehouse(data_dir)
    result = run_dbt("build", data_dir, program)
    failed = [
        f"{r.node.unique_id}: {r.status}: {r.message}"
        for r in getattr(result.result, "results", [])
        if r.status not in ("success", "pass", "warn")
    ]
    assert result.success, f"dbt build failed: {result.exception or failed}"
    return path


def query(path: Path, sql: str) -> list[tuple]:
    # not read_only: dbt-duckdb keeps its in-process handle on the file open after the run,
    # and DuckDB refuses a second in-process connection with a different configuration
    con = duckdb.connect(str(path))
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def by_member(path: Path, sql: str) -> dict:
    return {row[0]: row[1:] for row in query(path, sql)}


@pytest.fixture(scope="module")
def default_warehouse(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("default"), load_default_program())


# --------------------------------------------------------------------------- tests

def test_trailing_year_window_returns_and_cancelled(default_warehouse):
    rows = by_member(
        default_warehouse,
        "select member_id, as_of_date, trailing_spend, trailing_transactions, "
        "trailing_purchase_months, trailing_qualifying_points from marts.member_trailing_year",
    )
    d = date(2026, 2, 4)
    assert rows == {
        # 3000 (D-364) + 1200 - 200 (return); 9000 on D-365 is out
        "M1": (d, Dec("4000.00"), 2, 2, 400),
        "M2": (d, Dec("2100.00"), 2, 2, 210),
        "M4": (d, Dec("50.00"), 1, 1, 5),
        "M5": (d, Dec("0.00"), 0, 0, 0),
    }


def test_tiers_default_scheme(default_warehouse):
    tiers = by_member(
        default_warehouse,
        "select member_id, tier, tier_rank, points_multiplier, member_discount from marts.loyalty_tiers",
    )
    assert {m: t[0] for m, t in tiers.items()} == {"M1": "queen", "M2": "goddess", "M4": "charm", "M5": "charm"}
    assert tiers["M1"][1:] == (1, Dec("3.00"), Dec("0.1000"))
    assert tiers["M5"][1:] == (3, Dec("1.00"), Dec("0.0000"))


def test_pyramid_default_shares(default_warehouse):
    # N = 3 (M1, M2, M4): floor(0.03) = floor(0.15) = floor(0.6) = 0, so everyone with spend is small
    rows = by_member(
        default_warehouse,
        "select member_id, population_size, spend_rank, rank_segment, segment, one_off_capped "
        "from marts.customer_pyramid",
    )
    assert rows == {
        "M1": (3, 1, "small", "small", False),
        "M2": (3, 2, "small", "small", False),
        "M4": (3, 3, "small", "small", False),
        "M5": (3, None, "inactive", "inactive", False),
    }


def test_tier_list(default_warehouse):
    rows = query(
        default_warehouse,
        "select member_id, card_no, tier, segment, cast(trailing_spend as varchar), trailing_transactions, "
        "points_balance, cast(as_of as varchar) from marts.tier_list order by member_id",
    )
    assert rows == [
        # points: M1 40 welcome + 900 (T01) + 300 (T02) + 3 x 1200 / 10 = 360 (T03, queen at the
        # 2025-12-31 month-end) - 3 x 200 / 10 = 60 (T04 returned 2026-01-20, posted 2026-01-21)
        ("M1", "C1", "queen", "small", "4000.00", 2, 1540, AS_OF),
        ("M2", "C2", "goddess", "small", "2100.00", 2, 40 + 150 + 60, AS_OF),
        ("M4", "C4", "charm", "small", "50.00", 1, 40 + 5, AS_OF),
        ("M5", "C5", "charm", "inactive", "0.00", 0, 40, AS_OF),
    ]
    types = dict(query(
        default_warehouse,
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'marts' and table_name = 'tier_list'",
    ))
    assert types["trailing_spend"] == "DECIMAL(14,2)"
    assert types["points_balance"] == "INTEGER"
    assert types["as_of"] == "DATE"


def test_member_attribution_in_sales_fact(default_warehouse):
    lines = dict(query(default_warehouse, "select txn_id || '/' || line_no, member_id from marts.fct_sales_lines"))
    assert len(lines) == len(POS_ROWS) - 1  # T07 landed after D
    assert lines["T09/1"] is None  # C4 used before M4's join_date
    assert lines["T10/1"] == "M4"
    assert lines["T11/1"] is None  # no card
    assert lines["T12/1"] is None  # unknown card
    assert lines["T08/1"] == "M3"  # a cancelled member's sales stay attributed
    assert lines["T04/1"] == "M1"
    (total,) = query(default_warehouse, "select sum(net_amount) from marts.fct_sales_lines")[0]
    assert float(total) == sum(r["net_amount"] for r in POS_ROWS if r["business_day"] <= AS_OF)


def test_dim_members_as_of_without_pii(default_warehouse):
    rows = by_member(
        default_warehouse,
        "select member_id, city, status, cast(first_purchase_date as varchar), "
        "cast(last_purchase_date as varchar), lifetime_spend, lifetime_transactions from marts.dim_members",
    )
    assert rows["M2"][:2] == ("Beijing", "active")  # second update wins; the post-D cancellation is unseen
    assert rows["M3"][1] == "cancelled"
    assert rows["M1"][2:] == ("2025-02-04", "2026-01-10", Dec("13000.00"), 3)
    assert rows["M5"][2:] == (None, None, Dec("0.00"), 0)
    columns = {c for (c,) in query(
        default_warehouse,
        "select column_name from information_schema.columns where table_schema = 'marts' and table_name = 'dim_members'",
    )}
    assert not columns & {"name", "mobile", "address", "birth_date"}


def test_non_default_program_moves_tiers_and_segments(tmp_path):
    program = load_default_program()
    program["program_name"] = "test-raised-thresholds"
    program["tiers"]["scheme"][0]["thresholds"] = {"spend": 5000, "transactions": 200}  # queen now needs 5000
    program["pyramid"].update(vip_share=0.34, key_share=0.67, ordinary_share=1.0, one_off_min_months=2)
    path = build(tmp_path, program)

    tiers = by_member(path, "select member_id, tier from marts.tier_list")
    assert tiers == {"M1": ("goddess",), "M2": ("goddess",), "M4": ("charm",), "M5": ("charm",)}
    # N = 3: floor(3 * 0.34) = 1 vip, floor(3 * 0.67) = 2, floor(3 * 1.0) = 3; M4 bought in
    # one month only but its rank is ordinary, so the one-off guard does not apply
    segments = by_member(path, "select member_id, segment, one_off_capped from marts.customer_pyramid")
    assert segments == {
        "M1": ("vip", False),
        "M2": ("key", False),
        "M4": ("ordinary", False),
        "M5": ("inactive", False),
    }


@pytest.mark.parametrize(
    ("tier_index", "thresholds", "message"),
    [
        (1, {"spent": 1990}, "unknown threshold key 'spent'"),
        (2, {"spend": 1}, "the last tier must have no thresholds"),
    ],
)
def test_bad_tier_scheme_is_a_compile_error(tmp_path, tier_index, thresholds, message):
    program = load_default_program()
    program["tiers"]["scheme"][tier_index]["thresholds"] = thresholds
    result = run_dbt("parse", tmp_path, program)
    assert not result.success
    assert message in str(result.exception)


def test_a_pii_column_in_any_marts_table_fails_the_bi_gate(tmp_path):
    """The BI gate lists columns through the adapter (portable to Spark) and sees every marts table."""
    data_dir = tmp_path / "pii"
    data_dir.mkdir()
    build(data_dir, load_default_program())
    query(data_dir / "warehouse.duckdb", "create table marts.member_contacts as select 'M1' as member_id, '13800001234' as Mobile")
    result = run_dbt("test", data_dir, load_default_program(), AS_OF, "--select", "assert_bi_marts_carry_no_pii")
    [outcome] = [r for r in result.result.results if r.node.name == "assert_bi_marts_carry_no_pii"]
    assert (outcome.status, outcome.failures) == ("fail", 1), outcome.message


def test_a_plain_dbt_build_runs_as_of_yesterday_with_the_default_program(tmp_path, monkeypatch):
    """No --vars and no LOYALTY_AS_OF_DATE: the program in dbt_project.yml, as of yesterday (UTC)."""
    from datetime import datetime, timedelta, timezone

    from dbt.cli.main import dbtRunner

    data_dir = tmp_path / "plain"
    data_dir.mkdir()
    path = make_warehouse(data_dir)
    monkeypatch.setenv("LOYALTY_DATA_DIR", str(data_dir))
    monkeypatch.delenv("LOYALTY_AS_OF_DATE", raising=False)
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    result = dbtRunner().invoke(["build", "--exclude-resource-type", "unit_test",
                                 "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
                                 "--target-path", str(data_dir / "target"), "--log-path", str(data_dir / "logs")])
    assert result.success, result.exception
    [(as_of, program_json)] = query(path, "select as_of_date, program_json from meta.build_log")
    assert (as_of, json.loads(program_json)) == (yesterday, load_default_program())
