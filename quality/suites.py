"""great-expectations 1.x suites, validated on pandas batches (no Dagster here).

GX's SQL datasource does not work with DuckDB 2, so callers pass a pandas
DataFrame read from DuckDB or from a staged extract.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from dataclasses import dataclass, field

import pandas as pd

from quality.frames import pandas_frame

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations as gx  # noqa: E402  (analytics must be off before import)
import great_expectations.expectations as gxe  # noqa: E402
from great_expectations.data_context.types.base import ProgressBarsConfig  # noqa: E402
from great_expectations.execution_engine import pandas_execution_engine  # noqa: E402

logging.getLogger("great_expectations").setLevel(logging.WARNING)
# GX fingerprints every pandas batch under 1 GB (a hash of all its cells, twice per validation)
# for a batch marker nothing here reads: 1.3 s of the 1.6 s a 1M-member tier list takes to
# validate. A threshold of 0 skips it; the expectations see the same frame.
pandas_execution_engine.HASH_THRESHOLD = 0

TIER_LIST_COLUMNS = [
    "member_id", "card_no", "tier", "segment", "trailing_spend",
    "trailing_transactions", "points_balance", "as_of",
]
SEGMENTS = ["vip", "key", "ordinary", "small", "inactive"]


ID_COLUMN = "member_id"
_batch_numbers = itertools.count()


@dataclass
class ExpectationOutcome:
    expectation: str
    column: str | None
    success: bool
    unexpected_count: int
    sample: list = field(default_factory=list)
    member_ids: list[str] = field(default_factory=list)  # of failing rows: safe to show (no PII)


@dataclass
class SuiteOutcome:
    suite: str
    success: bool
    evaluated_rows: int
    results: list[ExpectationOutcome]

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]


@functools.cache
def _context():
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


def run_suite(name: str, frame: pd.DataFrame, expectations: list) -> SuiteOutcome:
    """The one great-expectations runner: `expectations` on the pandas batch `frame`. Counts and
    a sample of failing values per expectation; the failing rows' member ids when the frame has
    them (never the values beside them)."""
    context = _context()
    n = next(_batch_numbers)  # one data source per batch in the shared context, removed after
    batch_definition = (
        context.data_sources.add_pandas(f"{name}_source_{n}")
        .add_dataframe_asset(name=f"{name}_asset_{n}")
        .add_batch_definition_whole_dataframe(f"{name}_batch_{n}")
    )
    suite = gx.ExpectationSuite(name=f"{name}_{n}")
    for expectation in expectations:
        suite.add_expectation(expectation)
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": 5}
    if ID_COLUMN in frame.columns:
        result_format["unexpected_index_column_names"] = [ID_COLUMN]
    try:
        result = batch.validate(suite, result_format=result_format)
    finally:
        context.data_sources.delete(f"{name}_source_{n}")
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        details = item.result or {}
        outcomes.append(ExpectationOutcome(
            expectation=config.type,
            column=config.kwargs.get("column") or ",".join(config.kwargs.get("column_list") or []) or None,
            success=bool(item.success),
            unexpected_count=int(details.get("unexpected_count") or (0 if item.success else 1)),
            sample=[str(v) for v in details.get("partial_unexpected_list", [])][:5],
            # GE puts the failing value beside the id: keep the id only.
            member_ids=[str(index.get(ID_COLUMN)) for index in details.get("partial_unexpected_index_list") or []
                        if isinstance(index, dict)][:5],
        ))
    return SuiteOutcome(name, bool(result.success), len(frame), outcomes)


def tier_list_expectations(as_of: str, tier_names: list[str]) -> list:
    return [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=TIER_LIST_COLUMNS),
        gxe.ExpectColumnValuesToNotBeNull(column="member_id"),
        gxe.ExpectColumnValuesToBeUnique(column="member_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="card_no"),
        gxe.ExpectColumnValuesToBeInSet(column="tier", value_set=tier_names),
        gxe.ExpectColumnValuesToNotBeNull(column="tier"),
        gxe.ExpectColumnValuesToBeInSet(column="segment", value_set=SEGMENTS),
        gxe.ExpectColumnValuesToNotBeNull(column="segment"),
        gxe.ExpectColumnValuesToNotBeNull(column="trailing_spend"),
        gxe.ExpectColumnValuesToBeBetween(column="trailing_transactions", min_value=0),
        gxe.ExpectColumnValuesToBeInSet(column="as_of", value_set=[as_of]),
    ]


def read_staged_tier_list(path: str) -> pd.DataFrame:
    """The staged CSV with numeric columns typed (a non-numeric cell fails the read)."""
    import duckdb

    escaped = path.replace("'", "''")
    return pandas_frame(duckdb.sql(f"""
        SELECT member_id, card_no, tier, segment,
               CAST(trailing_spend AS DOUBLE) AS trailing_spend,
               CAST(trailing_transactions AS BIGINT) AS trailing_transactions,
               CAST(points_balance AS BIGINT) AS points_balance,
               as_of
        FROM read_csv('{escaped}', all_varchar = true, header = true)
    """))


def validate_tier_list(frame: pd.DataFrame, as_of: str, tier_names: list[str]) -> SuiteOutcome:
    return run_suite("tier_list", frame, tier_list_expectations(as_of, tier_names))


LAPSED_COLUMNS = [
    "member_id", "card_no", "name", "mobile", "status", "days_since_last_purchase",
    "last_purchase_date", "winback_priority", "p_alive", "segment", "favourite_category", "as_of",
]


def read_staged_lapsed(path: str) -> pd.DataFrame:
    import duckdb

    escaped = path.replace("'", "''")
    return pandas_frame(duckdb.sql(f"""
        SELECT * REPLACE (CAST(days_since_last_purchase AS BIGINT) AS days_since_last_purchase,
                          CAST(p_alive AS DOUBLE) AS p_alive)
        FROM read_csv('{escaped}', all_varchar = true, header = true)
    """))


def validate_lapsed_extract(frame: pd.DataFrame, as_of: str, mobile_pattern: str) -> SuiteOutcome:
    return run_suite("lapsed_customers", frame, [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=LAPSED_COLUMNS),
        gxe.ExpectColumnValuesToNotBeNull(column="member_id"),
        gxe.ExpectColumnValuesToBeUnique(column="member_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="name"),
        gxe.ExpectColumnValuesToMatchRegex(column="mobile", regex=f"^{mobile_pattern}$"),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["lapsed", "at_risk"]),
        gxe.ExpectColumnValuesToBeInSet(column="winback_priority",
                                        value_set=["must_win_back", "win_back", "opportunistic"]),
        gxe.ExpectColumnValuesToBeInSet(column="segment", value_set=SEGMENTS),
        gxe.ExpectColumnValuesToBeBetween(column="days_since_last_purchase", min_value=0),
        # null where the models could not score the member (or the fit did not converge)
        gxe.ExpectColumnValuesToBeBetween(column="p_alive", min_value=0, max_value=1),
        gxe.ExpectColumnValuesToBeInSet(column="as_of", value_set=[as_of]),
    ])


UPGRADE_NUDGES_COLUMNS = [
    "member_id", "card_no", "name", "mobile", "current_tier", "next_tier", "spend_gap",
    "transactions_gap", "segment", "next_segment", "segment_gap", "as_of",
]


def read_staged_upgrade_nudges(path: str) -> pd.DataFrame:
    """The staged CSV with the gaps typed (a non-numeric cell fails the read)."""
    import duckdb

    escaped = path.replace("'", "''")
    return pandas_frame(duckdb.sql(f"""
        SELECT * REPLACE (CAST(spend_gap AS DOUBLE) AS spend_gap,
                          CAST(transactions_gap AS BIGINT) AS transactions_gap,
                          CAST(segment_gap AS DOUBLE) AS segment_gap)
        FROM read_csv('{escaped}', all_varchar = true, header = true)
    """))


def validate_upgrade_nudges(frame: pd.DataFrame, as_of: str, tier_names: list[str],
                            mobile_pattern: str) -> SuiteOutcome:
    """Gaps are positive where they apply (empty cells are not judged)."""
    return run_suite("upgrade_nudges", frame, [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=UPGRADE_NUDGES_COLUMNS),
        gxe.ExpectColumnValuesToNotBeNull(column="member_id"),
        gxe.ExpectColumnValuesToBeUnique(column="member_id"),
        gxe.ExpectColumnValuesToNotBeNull(column="name"),
        gxe.ExpectColumnValuesToMatchRegex(column="mobile", regex=f"^{mobile_pattern}$"),
        gxe.ExpectColumnValuesToBeInSet(column="current_tier", value_set=tier_names),
        gxe.ExpectColumnValuesToBeInSet(column="next_tier", value_set=tier_names),
        gxe.ExpectColumnValuesToBeBetween(column="spend_gap", min_value=0, strict_min=True),
        gxe.ExpectColumnValuesToBeBetween(column="transactions_gap", min_value=0, strict_min=True),
        gxe.ExpectColumnValuesToBeInSet(column="segment", value_set=SEGMENTS),
        gxe.ExpectColumnValuesToBeInSet(column="next_segment", value_set=["ordinary", "key", "vip"]),
        gxe.ExpectColumnValuesToBeBetween(column="segment_gap", min_value=0, strict_min=True),
        gxe.ExpectColumnValuesToBeInSet(column="as_of", value_set=[as_of]),
    ])
