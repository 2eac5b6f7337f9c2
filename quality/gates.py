"""Gate queries that decide whether an extract may be published (no Dagster here).

Each gate returns a GateResult with the failing count and a sample of failing
rows (member ids and counts only: no PII). They verify the marts independently
of how dbt computed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb


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
