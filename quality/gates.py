"""Gate queries that decide whether an extract may be published (no Dagster here).

Each gate returns a GateResult with the failing count and a sample of failing
rows (member ids and counts only: no PII). They verify the marts independently
of how dbt computed them.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb
import yaml

from ingestion.contract import POS_LINES


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


def tier_list_segments_match_pyramid(con: duckdb.DuckDBPyConnection, staged_csv: str) -> GateResult:
    """Each member of the staged tier list carries the segment the pyramid mart gave them.

    The pyramid's own rules (floor formulas, one-off capping) are the dbt test
    assert_pyramid_segment_sizes_match_floor_formulas; this gate only holds the file to the mart.
    """
    rows = _rows(con, f"""
        WITH staged AS (
            SELECT member_id, segment
            FROM read_csv('{staged_csv}', all_varchar = true, header = true)
        )
        SELECT staged.member_id, staged.segment AS published, pyramid.segment AS in_pyramid
        FROM staged LEFT JOIN marts.customer_pyramid AS pyramid USING (member_id)
        WHERE pyramid.segment IS DISTINCT FROM staged.segment
        ORDER BY staged.member_id
    """)
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
VOLUME_KEYS = ("trailing_days", "min_history_days", "lower_ratio", "upper_ratio", "noise_sigmas")


def gates_config_path() -> Path:
    """The gates configuration in effect: LOYALTY_GATES_CONFIG, else quality/gates.yml."""
    return Path(os.environ.get("LOYALTY_GATES_CONFIG", GATES_CONFIG_DEFAULT))


def load_gates_config(path: Path | None = None) -> dict:
    path = path or gates_config_path()
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    volume = config.get("volume", {})
    for key in VOLUME_KEYS:
        if not isinstance(volume.get(key), (int, float)) or isinstance(volume.get(key), bool):
            raise ValueError(f"{path}: volume.{key} must be a number")
    unknown = sorted(set(volume) - set(VOLUME_KEYS))
    if unknown:  # e.g. min_median_lines, which no longer exists: say so rather than ignore it
        raise ValueError(f"{path}: unknown volume setting(s) {unknown}; known: {list(VOLUME_KEYS)}")
    confirmed = config.get("confirmed_store_days") or []
    bad = [entry for entry in confirmed
           if not isinstance(entry, str) or not re.fullmatch(r"[A-Za-z0-9-]+ \d{4}-\d{2}-\d{2}", entry)]
    if not isinstance(confirmed, list) or bad:
        raise ValueError(f"{path}: confirmed_store_days must be a list of 'STORE YYYY-MM-DD', got {bad or confirmed}")
    return config


def confirmed_stores(config: dict, as_of: str) -> frozenset[str]:
    """Stores whose delivery for D an operator confirmed as complete (gates.yml
    confirmed_store_days): the completeness and volume gates do not block them."""
    return frozenset(entry.split()[0] for entry in config.get("confirmed_store_days") or []
                     if entry.split()[1] == as_of)


def _sample(rows: list[dict], size: int = 10) -> list[dict]:
    """JSON-ready rows: values as text, a missing value as null (not the text "None")."""
    return [{k: None if v is None else str(v) for k, v in r.items()} for r in rows[:size]]


# -- ingestion gates (POS lines per store and business day) -------------------------

# the store of a POS file, from its name by the contract's own pattern (RE2 reads it as Python does)
_POS_FILE_STORE = (f"regexp_extract(file_name, '{POS_LINES.file_pattern}', "
                   f"{re.compile(POS_LINES.file_pattern).groupindex['store']})")

# Loaded lines per store-day from the per-file load records (one row per file, not per
# line: cheap at chain scale). Lines of a file are its store's (ingestion quarantines any
# other store) and the blocking reconciliation check holds rows_loaded to the raw table.
# Parameters: first day, last day.
_STORE_DAY_FILES = f"""
    SELECT {_POS_FILE_STORE} AS store_id, business_day,
           coalesce(sum(rows_loaded) FILTER (WHERE status = 'loaded'), 0) AS lines,
           coalesce(sum(rows_read) FILTER (WHERE status = 'loaded'), 0) AS rows_read,
           count(*) FILTER (WHERE status = 'loaded') AS files_loaded,
           count(*) FILTER (WHERE status = 'rejected') AS files_rejected
    FROM raw.ingested_files
    WHERE source = 'pos_lines' AND status <> 'superseded'
      AND business_day BETWEEN CAST(? AS DATE) AND CAST(? AS DATE)
    GROUP BY ALL
"""

# Store-days in [first, last] on which the store traded (stores.csv: opened_on <= d <
# closed_on) and no POS line was loaded, with the cause and the files' names (looked up for
# those store-days only). Parameters: first, last, first, last.
_OPEN_STORE_DAYS_WITHOUT_LINES = f"""
    WITH open_store_days AS (
        SELECT s.store_id, CAST(d.day AS DATE) AS business_day
        FROM raw.stores s
        JOIN generate_series(CAST(? AS DATE), CAST(? AS DATE), INTERVAL 1 DAY) AS d(day)
          ON s.opened_on <= d.day AND (s.closed_on IS NULL OR d.day < s.closed_on)
    ),
    store_day_files AS ({_STORE_DAY_FILES})
    SELECT o.store_id, o.business_day,
           CASE WHEN f.store_id IS NULL THEN 'no POS file delivered'
                WHEN f.files_loaded = 0 THEN 'POS file rejected whole'
                WHEN f.rows_read = 0 THEN 'header-only POS file (no lines)'
                ELSE 'every line of the POS file quarantined' END AS problem
    FROM open_store_days o
    LEFT JOIN store_day_files f USING (store_id, business_day)
    WHERE coalesce(f.lines, 0) = 0
"""


def _with_files(con: duckdb.DuckDBPyConnection, rows: list[dict], as_of: str | None = None) -> list[dict]:
    """The rows (store_id, business_day or as_of) with the names of their POS files, if any."""
    days = sorted({str(r.get("business_day", as_of)) for r in rows})
    files = {(r["store_id"], str(r["business_day"])): r["files"] for r in _rows(con, f"""
        SELECT {_POS_FILE_STORE} AS store_id, business_day, string_agg(file_name, ', ' ORDER BY file_name) AS files
        FROM raw.ingested_files
        WHERE source = 'pos_lines' AND status <> 'superseded' AND list_contains(CAST(? AS DATE[]), business_day)
        GROUP BY ALL""", [days])} if rows else {}
    return [{**r, "files": files.get((r["store_id"], str(r.get("business_day", as_of))))} for r in rows]


def store_completeness(con: duckdb.DuckDBPyConnection, as_of: str,
                       confirmed: frozenset[str] = frozenset()) -> GateResult:
    """Every store trading on D has at least one loaded POS line for D: a missing, rejected,
    header-only or wholly quarantined file of an open store is a missing day (unless an
    operator confirmed that store-day)."""
    rows = _with_files(con, _rows(con, f"""
        SELECT store_id, problem FROM ({_OPEN_STORE_DAYS_WITHOUT_LINES})
        ORDER BY store_id
    """, [as_of, as_of, as_of, as_of]), as_of)
    trading = _rows(con, """SELECT count(*) AS n FROM raw.stores WHERE opened_on <= CAST(? AS DATE)
                            AND (closed_on IS NULL OR CAST(? AS DATE) < closed_on)""", [as_of, as_of])
    failing = [r for r in rows if r["store_id"] not in confirmed]
    details = {"stores_trading": trading[0]["n"]}
    if len(failing) < len(rows):
        details["confirmed_by_operator"] = _sample([r for r in rows if r["store_id"] in confirmed], len(rows))
    return GateResult(passed=not failing, failing_count=len(failing), sample=_sample(failing), details=details)


def store_days_without_lines(con: duckdb.DuckDBPyConnection, as_of: str,
                             sample_size: int = 10) -> GateResult:
    """Open store-days before D within D's trailing year (D-364 .. D-1, from the first day
    the warehouse has POS files) with no loaded line: a file lost, rejected whole or never
    sent. A warning: those days' sales are missing from every trailing-year figure."""
    first_pos_day = _rows(con, "SELECT min(business_day) AS day FROM raw.ingested_files "
                               "WHERE source = 'pos_lines' AND status <> 'superseded'")[0]["day"]
    window = _rows(con, """
        SELECT greatest(CAST(? AS DATE) - 364, coalesce(CAST(? AS DATE), CAST(? AS DATE))) AS first_day,
               CAST(? AS DATE) - 1 AS last_day""", [as_of, first_pos_day, as_of, as_of])[0]
    first, last = window["first_day"].isoformat(), window["last_day"].isoformat()
    # one pass over the window; the three summaries read the materialized result
    summaries = _rows(con, f"""
        WITH found AS MATERIALIZED ({_OPEN_STORE_DAYS_WITHOUT_LINES}),
        newest AS (SELECT * FROM found ORDER BY business_day DESC, store_id LIMIT {int(sample_size)}),
        worst AS (SELECT store_id, count(*) AS n FROM found GROUP BY store_id
                  ORDER BY n DESC, store_id LIMIT {int(sample_size)})
        SELECT (SELECT count(*) FROM found) AS total,
               (SELECT map(list(problem ORDER BY problem), list(n ORDER BY problem))
                FROM (SELECT problem, count(*) AS n FROM found GROUP BY problem)) AS by_problem,
               (SELECT list({{'store_id': store_id, 'business_day': business_day, 'problem': problem}}
                            ORDER BY business_day DESC, store_id) FROM newest) AS sample,
               (SELECT map(list(store_id ORDER BY n DESC, store_id), list(n ORDER BY n DESC, store_id))
                FROM worst) AS by_store
    """, [first, last, first, last])[0]
    total = summaries["total"]
    sample = _with_files(con, summaries["sample"] or [])
    return GateResult(
        passed=total == 0, failing_count=total, sample=_sample(sample, sample_size),
        details={"window": {"first_day": first, "last_day": last},
                 "store_days_by_problem": dict(summaries["by_problem"] or {}),
                 "stores_most_affected": dict(summaries["by_store"] or {})})


def store_volume(con: duckdb.DuckDBPyConnection, as_of: str, volume: dict,
                 confirmed: frozenset[str] = frozenset()) -> GateResult:
    """Each store's line count for D lies within a band around its trailing median m.

    The band is [min(lower_ratio*m, m - z*sqrt(m)), max(upper_ratio*m, m + z*sqrt(m))]
    with z = noise_sigmas: the ratios judge big stores, the Poisson-like sqrt term keeps
    a small store's ordinary swing (a few lines either way) from blocking.
    """
    rows = store_volume_verdicts(con, as_of, volume)
    for r in rows:
        if r["store_id"] in confirmed and r["verdict"] in ("too few lines", "too many lines"):
            r["verdict"] = f"confirmed by operator ({r['verdict']})"
    failing = [r for r in rows if r["verdict"] in ("too few lines", "too many lines")]
    verdicts: dict[str, int] = {}
    for r in rows:
        verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
    return GateResult(passed=not failing, failing_count=len(failing), sample=_sample(failing),
                      details={"stores_by_verdict": verdicts})


def store_volume_verdicts(con: duckdb.DuckDBPyConnection, as_of: str, volume: dict) -> list[dict]:
    """Per store with a loaded POS file for D: its lines, trailing median, band and verdict."""
    return _rows(con, f"""
        WITH days AS ({_STORE_DAY_FILES}),
        history AS (
            SELECT store_id, median(lines) AS median_lines, count(*) AS history_days
            FROM days WHERE business_day < CAST(? AS DATE) AND lines > 0 GROUP BY store_id
        ),
        bands AS (
            SELECT *, least(median_lines * ?, median_lines - ? * sqrt(median_lines)) AS lowest_ok,
                      greatest(median_lines * ?, median_lines + ? * sqrt(median_lines)) AS highest_ok
            FROM history
        ),
        today AS (
            SELECT store_id, lines FROM days WHERE business_day = CAST(? AS DATE) AND files_loaded > 0
        )
        SELECT t.store_id, t.lines, b.median_lines, b.history_days,
               round(b.lowest_ok, 1) AS lowest_ok, round(b.highest_ok, 1) AS highest_ok,
               CASE WHEN b.history_days IS NULL OR b.history_days < ? THEN 'not judged: short history'
                    WHEN t.lines < b.lowest_ok THEN 'too few lines'
                    WHEN t.lines > b.highest_ok THEN 'too many lines'
                    ELSE 'ok' END AS verdict
        FROM today t LEFT JOIN bands b USING (store_id)
        ORDER BY t.store_id
    """, [_days_before(as_of, volume["trailing_days"]), as_of, as_of,
          volume["lower_ratio"], volume["noise_sigmas"], volume["upper_ratio"], volume["noise_sigmas"],
          as_of, volume["min_history_days"]])


def _days_before(day: str, days: int) -> str:
    return (date.fromisoformat(day) - timedelta(days=int(days))).isoformat()


# -- the outreach extracts (lapsed customers, upgrade nudges) ------------------------

def _outreach_extract_rules(con: duckdb.DuckDBPyConnection, staged_csv: str, mobile_pattern: str,
                            mart: str, not_listed: str, mart_problems: str,
                            params: tuple = ()) -> GateResult:
    """The judgement every outreach extract shares: each row a consented, non-cancelled member with
    a valid mobile, once, listed in its mart (`not_listed` otherwise); then `mart_problems`, more
    CASE branches comparing the staged row `s` with its mart's row `t` (the mart's rules are its
    dbt tests; the gate holds the file to the mart)."""
    escaped = staged_csv.replace("'", "''")
    rows = _rows(con, f"""
        WITH staged AS (
            SELECT *, count(*) OVER (PARTITION BY member_id) AS times
            FROM read_csv('{escaped}', all_varchar = true, header = true)
        ),
        judged AS (
            SELECT s.member_id,
                   CASE WHEN s.times > 1 THEN 'listed more than once'
                        WHEN m.member_id IS NULL THEN 'not a member'
                        WHEN m.status = 'cancelled' THEN 'cancelled member'
                        WHEN NOT m.marketing_consent THEN 'no marketing consent'
                        WHEN NOT regexp_full_match(coalesce(s.mobile, ''), ?) THEN 'invalid mobile'
                        WHEN t.member_id IS NULL THEN '{not_listed}'
                        {mart_problems}
                        ELSE NULL END AS problem
            FROM staged s
            LEFT JOIN marts.dim_members m USING (member_id)
            LEFT JOIN marts.{mart} t USING (member_id)
        )
        SELECT member_id, problem FROM judged WHERE problem IS NOT NULL ORDER BY member_id
    """, [mobile_pattern, *params])
    return GateResult(passed=not rows, failing_count=len(rows), sample=_sample(rows))


def lapsed_extract_rules(con: duckdb.DuckDBPyConnection, staged_csv: str,
                         lapsed_days: int, mobile_pattern: str) -> GateResult:
    """The lapsed extract: the shared outreach judgement, each row's status and days since the
    last purchase those of marts.lapsed_customers, every `lapsed` row past the threshold, and
    each p_alive that of marts.member_clv.

    "Minor" is marts.lapsed_customers.is_minor: the age rule lives in one place (dbt macro
    is_under_age, unit-tested on 29 February), so this gate cannot drift from it."""
    return _outreach_extract_rules(
        con, staged_csv, mobile_pattern, "lapsed_customers",
        not_listed="not lapsed or at risk in marts.lapsed_customers",
        mart_problems="""
                        WHEN t.is_minor THEN 'minor'
                        WHEN s.status IS DISTINCT FROM t.status THEN 'status differs from marts.lapsed_customers'
                        WHEN CAST(s.days_since_last_purchase AS INTEGER) IS DISTINCT FROM t.days_since_last_purchase
                             THEN 'days since last purchase differ from marts.lapsed_customers'
                        WHEN s.status = 'lapsed' AND t.days_since_last_purchase <= ?
                             THEN 'lapsed but not past the threshold'
                        WHEN CAST(nullif(s.p_alive, '') AS DECIMAL(6, 4)) IS DISTINCT FROM
                             (SELECT c.p_alive FROM marts.member_clv c WHERE c.member_id = s.member_id)
                             THEN 'p_alive differs from marts.member_clv'""",
        params=(lapsed_days,))


def upgrade_nudges_rules(con: duckdb.DuckDBPyConnection, staged_csv: str, mobile_pattern: str) -> GateResult:
    """The upgrade-nudge extract: the shared outreach judgement, no minor (the mart's is_minor: an
    unknown birth date counts as one), and each row's gaps those of marts.upgrade_nudges. The
    nudge rules themselves are the mart's unit test."""
    return _outreach_extract_rules(
        con, staged_csv, mobile_pattern, "upgrade_nudges",
        not_listed="not a candidate in marts.upgrade_nudges",
        mart_problems="""
                        WHEN t.is_minor THEN 'minor or unknown age'
                        WHEN CAST(s.spend_gap AS DECIMAL(18, 2)) IS DISTINCT FROM t.spend_gap
                             OR CAST(s.transactions_gap AS BIGINT) IS DISTINCT FROM t.transactions_gap
                             OR CAST(s.segment_gap AS DECIMAL(18, 2)) IS DISTINCT FROM t.segment_gap
                             THEN 'gaps differ from marts.upgrade_nudges'""")
