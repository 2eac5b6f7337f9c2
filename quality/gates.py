"""Gate queries that decide whether an extract may be published (no Dagster here).

Each gate returns a GateResult with the failing count and a sample of failing
rows (member ids and counts only: no PII). They verify the marts independently
of how dbt computed them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import yaml


@dataclass
class GateResult:
    passed: bool
    failing_count: int
    sample: list[dict] = field(default_factory=list)
    details: dict = field(default_factory=dict)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def pyramid_segment_sizes(con: duckdb.DuckDBPyConnection, staged_csv: str, pyramid: dict) -> GateResult:
    """The staged tier list's segments match the floor formulas of the pyramid.

    For each band (vip, key, ordinary) the members published in the band plus the
    one-off members capped out of it must equal floor(share * N) minus the places
    of the better bands; N is recomputed from the staged trailing spends.
    """
    rows = _rows(con, f"""
        WITH staged AS (
            SELECT member_id, segment, CAST(trailing_spend AS DECIMAL(18,2)) AS trailing_spend
            FROM read_csv('{staged_csv}', all_varchar = true, header = true)
        ),
        population AS (SELECT count(*) AS n FROM staged WHERE trailing_spend > 0),
        bands AS (
            SELECT 'vip' AS band, CAST(floor(n * CAST(? AS DECIMAL(9,6))) AS BIGINT) AS upto FROM population
            UNION ALL SELECT 'key', CAST(floor(n * CAST(? AS DECIMAL(9,6))) AS BIGINT) FROM population
            UNION ALL SELECT 'ordinary', CAST(floor(n * CAST(? AS DECIMAL(9,6))) AS BIGINT) FROM population
        ),
        ranked AS (
            SELECT s.member_id, s.segment, p.one_off_capped,
                   row_number() OVER (ORDER BY s.trailing_spend DESC, s.member_id) AS spend_rank
            FROM staged s LEFT JOIN marts.customer_pyramid p USING (member_id)
            WHERE s.trailing_spend > 0
        ),
        expected AS (
            SELECT member_id, segment AS published, one_off_capped,
                   CASE WHEN spend_rank <= (SELECT upto FROM bands WHERE band = 'vip') THEN 'vip'
                        WHEN spend_rank <= (SELECT upto FROM bands WHERE band = 'key') THEN 'key'
                        WHEN spend_rank <= (SELECT upto FROM bands WHERE band = 'ordinary') THEN 'ordinary'
                        ELSE 'small' END AS by_rank
            FROM ranked
        )
        SELECT member_id, published, by_rank, coalesce(one_off_capped, false) AS one_off_capped
        FROM expected
        WHERE NOT (published = by_rank
                   OR (one_off_capped AND by_rank IN ('vip', 'key') AND published = 'ordinary'))
        UNION ALL
        SELECT member_id, segment, 'inactive', false FROM staged
        WHERE coalesce(trailing_spend, 0) <= 0 AND segment <> 'inactive'
        ORDER BY member_id
    """, [pyramid["vip_share"], pyramid["key_share"], pyramid["ordinary_share"]])
    sizes = _rows(con, f"""
        SELECT segment, count(*) AS members
        FROM read_csv('{staged_csv}', all_varchar = true, header = true)
        GROUP BY segment ORDER BY segment""")
    return GateResult(
        passed=not rows, failing_count=len(rows), sample=[
            {k: str(v) for k, v in r.items()} for r in rows[:10]],
        details={"segment_sizes": {r["segment"]: r["members"] for r in sizes}},
    )


def tier_list_members_once(con: duckdb.DuckDBPyConnection, staged_csv: str) -> GateResult:
    """Every non-cancelled member exactly once; nobody else (no cancelled, no unknown)."""
    rows = _rows(con, f"""
        WITH staged AS (
            SELECT member_id, count(*) AS times
            FROM read_csv('{staged_csv}', all_varchar = true, header = true) GROUP BY member_id
        ),
        eligible AS (SELECT member_id FROM marts.dim_members WHERE status <> 'cancelled')
        SELECT coalesce(s.member_id, e.member_id) AS member_id, coalesce(s.times, 0) AS times,
               CASE WHEN e.member_id IS NULL THEN 'not an eligible member'
                    WHEN s.member_id IS NULL THEN 'missing'
                    ELSE 'listed more than once' END AS problem
        FROM staged s FULL OUTER JOIN eligible e ON s.member_id = e.member_id
        WHERE s.member_id IS NULL OR e.member_id IS NULL OR s.times <> 1
        ORDER BY 1
    """)
    return GateResult(passed=not rows, failing_count=len(rows),
                      sample=[{k: str(v) for k, v in r.items()} for r in rows[:10]])


# -- configuration ----------------------------------------------------------------

GATES_CONFIG_DEFAULT = Path(__file__).with_name("gates.yml")


def load_gates_config(path: Path | None = None) -> dict:
    path = path or Path(os.environ.get("LOYALTY_GATES_CONFIG", GATES_CONFIG_DEFAULT))
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    volume = config.get("volume", {})
    for key in ("trailing_days", "min_history_days", "min_median_lines", "lower_ratio", "upper_ratio"):
        if not isinstance(volume.get(key), (int, float)):
            raise ValueError(f"{path}: volume.{key} must be a number")
    return config


def _sample(rows: list[dict], size: int = 10) -> list[dict]:
    return [{k: str(v) for k, v in r.items()} for r in rows[:size]]


# -- ingestion gates (raw POS lines of day D) --------------------------------------

_POS_FILE_STORE = r"regexp_extract(file_name, 'pos_\d{8}_([A-Za-z0-9-]+)\.', 1)"


def store_completeness(con: duckdb.DuckDBPyConnection, as_of: str) -> GateResult:
    """Every store trading on D delivered a loadable POS file for D."""
    rows = _rows(con, f"""
        WITH trading AS (
            SELECT store_id FROM raw.stores
            WHERE opened_on <= CAST(? AS DATE)
              AND (closed_on IS NULL OR CAST(? AS DATE) < closed_on)
        ),
        delivered AS (
            SELECT DISTINCT {_POS_FILE_STORE} AS store_id
            FROM raw.ingested_files
            WHERE source = 'pos_lines' AND status = 'loaded' AND business_day = CAST(? AS DATE)
        )
        SELECT t.store_id, 'no POS file loaded for this day' AS problem
        FROM trading t LEFT JOIN delivered d USING (store_id)
        WHERE d.store_id IS NULL
        ORDER BY t.store_id
    """, [as_of, as_of, as_of])
    trading = _rows(con, """SELECT count(*) AS n FROM raw.stores WHERE opened_on <= CAST(? AS DATE)
                            AND (closed_on IS NULL OR CAST(? AS DATE) < closed_on)""", [as_of, as_of])
    return GateResult(passed=not rows, failing_count=len(rows), sample=_sample(rows),
                      details={"stores_trading": trading[0]["n"]})


def store_volume(con: duckdb.DuckDBPyConnection, as_of: str, volume: dict) -> GateResult:
    """Each store's line count for D lies within a band around its trailing median."""
    rows = _rows(con, """
        WITH days AS (
            SELECT store_id, business_day, count(*) AS lines
            FROM raw.pos_lines
            WHERE business_day BETWEEN CAST(? AS DATE) - CAST(? AS INTEGER) AND CAST(? AS DATE)
            GROUP BY store_id, business_day
        ),
        history AS (
            SELECT store_id, median(lines) AS median_lines, count(*) AS history_days
            FROM days WHERE business_day < CAST(? AS DATE) GROUP BY store_id
        ),
        today AS (
            SELECT f.store_id, coalesce(d.lines, 0) AS lines
            FROM (SELECT DISTINCT regexp_extract(file_name, 'pos_\\d{8}_([A-Za-z0-9-]+)\\.', 1) AS store_id
                  FROM raw.ingested_files
                  WHERE source = 'pos_lines' AND status = 'loaded'
                    AND business_day = CAST(? AS DATE)) f
            LEFT JOIN days d ON d.store_id = f.store_id AND d.business_day = CAST(? AS DATE)
        )
        SELECT t.store_id, t.lines, h.median_lines, h.history_days,
               CASE WHEN h.history_days IS NULL OR h.history_days < ? THEN 'not judged: short history'
                    WHEN h.median_lines < ? THEN 'not judged: small store'
                    WHEN t.lines < h.median_lines * ? THEN 'too few lines'
                    WHEN t.lines > h.median_lines * ? THEN 'too many lines'
                    ELSE 'ok' END AS verdict
        FROM today t LEFT JOIN history h USING (store_id)
        ORDER BY t.store_id
    """, [as_of, volume["trailing_days"], as_of, as_of, as_of, as_of,
          volume["min_history_days"], volume["min_median_lines"],
          volume["lower_ratio"], volume["upper_ratio"]])
    failing = [r for r in rows if r["verdict"] in ("too few lines", "too many lines")]
    verdicts: dict[str, int] = {}
    for r in rows:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    return GateResult(passed=not failing, failing_count=len(failing), sample=_sample(failing),
                      details={"stores_by_verdict": verdicts})


# -- mart gates -----------------------------------------------------------------------

def referential_integrity(con: duckdb.DuckDBPyConnection) -> GateResult:
    """Sales lines' stores and products exist; unknown member cards are counted, not failed."""
    rows = _rows(con, """
        SELECT 'unknown store' AS problem, f.store_id AS code, count(*) AS lines
        FROM marts.fct_sales_lines f LEFT JOIN raw.stores s ON s.store_id = f.store_id
        WHERE s.store_id IS NULL GROUP BY f.store_id
        UNION ALL
        SELECT 'unknown product', f.sku, count(*)
        FROM marts.fct_sales_lines f LEFT JOIN raw.products p ON p.sku = f.sku
        WHERE p.sku IS NULL GROUP BY f.sku
        ORDER BY 1, 2
    """)
    unknown_cards = _rows(con, """
        SELECT count(DISTINCT card_no) AS cards, count(*) AS lines FROM marts.fct_sales_lines
        WHERE card_no IS NOT NULL AND member_id IS NULL""")[0]
    return GateResult(passed=not rows, failing_count=sum(r["lines"] for r in rows), sample=_sample(rows),
                      details={"unknown_member_cards": unknown_cards})


def sales_reconciliation(con: duckdb.DuckDBPyConnection, as_of: str) -> GateResult:
    """Money in raw valid lines for days <= D equals money in the sales fact, per day."""
    rows = _rows(con, """
        WITH raw_days AS (
            SELECT business_day, sum(net_amount) AS amount, count(*) AS lines
            FROM raw.pos_lines WHERE business_day <= CAST(? AS DATE) GROUP BY business_day
        ),
        fact_days AS (
            SELECT business_day, sum(net_amount) AS amount, count(*) AS lines
            FROM marts.fct_sales_lines GROUP BY business_day
        )
        SELECT coalesce(r.business_day, f.business_day) AS business_day,
               r.amount AS raw_amount, f.amount AS fact_amount, r.lines AS raw_lines, f.lines AS fact_lines
        FROM raw_days r FULL OUTER JOIN fact_days f USING (business_day)
        WHERE r.amount IS DISTINCT FROM f.amount OR r.lines IS DISTINCT FROM f.lines
        ORDER BY 1
    """, [as_of])
    total = _rows(con, "SELECT coalesce(sum(net_amount), 0) AS amount FROM marts.fct_sales_lines")[0]
    return GateResult(passed=not rows, failing_count=len(rows), sample=_sample(rows),
                      details={"fact_amount": str(total["amount"])})


# -- points -------------------------------------------------------------------------

def balances_equal_ledger(con: duckdb.DuckDBPyConnection, as_of: str) -> GateResult:
    """Every balance equals the sum of its ledger entries dated <= D; no null points;
    the tier list carries the same balance."""
    rows = _rows(con, """
        WITH ledger AS (
            SELECT member_id, sum(points) AS ledger_points, count(*) FILTER (WHERE points IS NULL) AS nulls
            FROM marts.fct_points_ledger WHERE entry_date <= CAST(? AS DATE) GROUP BY member_id
        )
        SELECT b.member_id, b.points_balance, coalesce(l.ledger_points, 0) AS ledger_points,
               t.points_balance AS tier_list_points,
               CASE WHEN b.points_balance IS NULL THEN 'null balance'
                    WHEN coalesce(l.nulls, 0) > 0 THEN 'null ledger points'
                    WHEN b.points_balance <> coalesce(l.ledger_points, 0) THEN 'balance differs from ledger'
                    ELSE 'tier list differs from balance' END AS problem
        FROM marts.member_points_balances b
        LEFT JOIN ledger l USING (member_id)
        LEFT JOIN marts.tier_list t USING (member_id)
        WHERE b.points_balance IS NULL OR coalesce(l.nulls, 0) > 0
           OR b.points_balance <> coalesce(l.ledger_points, 0)
           OR (t.member_id IS NOT NULL AND t.points_balance IS DISTINCT FROM b.points_balance)
        ORDER BY b.member_id
    """, [as_of])
    orphans = _rows(con, """
        SELECT count(*) AS n FROM marts.fct_points_ledger l
        LEFT JOIN marts.member_points_balances b USING (member_id) WHERE b.member_id IS NULL""")[0]["n"]
    if orphans:
        rows.append({"member_id": "(ledger entries of members without a balance)", "problem": str(orphans)})
    return GateResult(passed=not rows, failing_count=len(rows), sample=_sample(rows))


# -- the lapsed-customer extract ------------------------------------------------------

def lapsed_extract_rules(con: duckdb.DuckDBPyConnection, staged_csv: str, as_of: str,
                         lapsed_days: int, minor_age: int, mobile_pattern: str) -> GateResult:
    """Only consented, non-cancelled adult members with valid mobiles, once each, and
    every `lapsed` row really past the threshold (re-derived from the sales fact)."""
    escaped = staged_csv.replace("'", "''")
    rows = _rows(con, f"""
        WITH staged AS (
            SELECT *, count(*) OVER (PARTITION BY member_id) AS times
            FROM read_csv('{escaped}', all_varchar = true, header = true)
        ),
        last_purchase AS (
            SELECT member_id, max(sales_day) AS last_day
            FROM (SELECT member_id, txn_id, min(sales_day) AS sales_day, sum(net_amount) AS amount
                  FROM marts.fct_sales_lines
                  -- only the listed members' lines: grouping all 50M lines took seconds
                  WHERE member_id IN (SELECT member_id FROM staged)
                  GROUP BY member_id, txn_id)
            WHERE amount > 0 GROUP BY member_id
        ),
        judged AS (
            SELECT s.member_id,
                   CASE WHEN s.times > 1 THEN 'listed more than once'
                        WHEN m.member_id IS NULL THEN 'not a member'
                        WHEN m.status = 'cancelled' THEN 'cancelled member'
                        WHEN NOT m.marketing_consent THEN 'no marketing consent'
                        WHEN NOT regexp_full_match(coalesce(s.mobile, ''), ?) THEN 'invalid mobile'
                        WHEN p.birth_date IS NOT NULL
                             AND p.birth_date > CAST(? AS DATE) - to_years(CAST(? AS INTEGER)) THEN 'minor'
                        WHEN s.status NOT IN ('lapsed', 'at_risk') THEN 'unknown status'
                        WHEN CAST(s.days_since_last_purchase AS INTEGER)
                             <> date_diff('day', lp.last_day, CAST(? AS DATE)) THEN 'days since last purchase wrong'
                        WHEN s.status = 'lapsed' AND date_diff('day', lp.last_day, CAST(? AS DATE)) <= ?
                             THEN 'lapsed but not past the threshold'
                        ELSE NULL END AS problem
            FROM staged s
            LEFT JOIN marts.dim_members m USING (member_id)
            LEFT JOIN restricted.member_pii p USING (member_id)
            LEFT JOIN last_purchase lp USING (member_id)
        )
        SELECT member_id, problem FROM judged WHERE problem IS NOT NULL ORDER BY member_id
    """, [mobile_pattern, as_of, minor_age, as_of, as_of, lapsed_days])
    return GateResult(passed=not rows, failing_count=len(rows), sample=_sample(rows))
