"""great-expectations suites for a batch of ingested raw rows (the contract's rules).

The caller reads the rows of the files loaded in one materialization back from
DuckDB (`batch_frame`), with a few helper columns computed in SQL for the rules
GE has no expectation for (net_amount arithmetic, day of the file), and gets a
SuiteOutcome with counts. No Dagster here.
"""

from __future__ import annotations

import os

import pandas as pd

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

import great_expectations.expectations as gxe  # noqa: E402

from ingestion.contract import NET_AMOUNT_TOLERANCE  # noqa: E402
from quality.suites import SuiteOutcome, run_suite  # noqa: E402

# Rows read back per batch at most; above it a deterministic sample (hash of file
# and row) is validated and the outcome says so.
MAX_ROWS = 500_000

# helper columns computed in SQL: (name, SQL expression) per source
HELPERS = {
    "pos_lines": [
        ("_net_diff", "abs(net_amount - sign(qty) * (abs(qty) * unit_price - discount))"),
        ("_day_ok", "CAST(txn_ts AS DATE) = business_day"),
    ],
    "redemptions": [("_day_ok", "CAST(redeemed_at AS DATE) = business_day")],
}


def _helpers(source) -> list[tuple[str, str]]:
    """The source's helper columns, with the store check of a source that names a store."""
    store = [] if source.store_column is None else [
        ("_store_ok", f"{source.store_column} IN (SELECT store_id FROM raw.stores)")]
    return HELPERS.get(source.name, []) + store


def expectations(source_name: str, columns: list[str]) -> list:
    from ingestion.contract import SOURCES_BY_NAME

    source = SOURCES_BY_NAME[source_name]
    out: list = [gxe.ExpectTableColumnsToMatchSet(
        column_set=columns + [h for h, _ in _helpers(source)], exact_match=True)]
    out += [gxe.ExpectColumnValuesToNotBeNull(column=c.name) for c in source.columns if not c.nullable]
    if len(source.key) == 1 and source_name not in ("members",):
        out.append(gxe.ExpectColumnValuesToBeUnique(column=source.key[0]))
    elif source.key:
        out.append(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(source.key)))
    for helper, _ in _helpers(source):
        if helper == "_net_diff":
            out.append(gxe.ExpectColumnValuesToBeBetween(column=helper, min_value=0, max_value=NET_AMOUNT_TOLERANCE))
        else:
            out.append(gxe.ExpectColumnValuesToBeInSet(column=helper, value_set=[True]))
    if source_name == "pos_lines":
        out += [
            gxe.ExpectColumnValuesToBeBetween(column="line_no", min_value=1),
            gxe.ExpectColumnValuesToNotBeInSet(column="qty", value_set=[0]),
            gxe.ExpectColumnValuesToBeBetween(column="unit_price", min_value=0),
            gxe.ExpectColumnValuesToBeBetween(column="discount", min_value=0),
        ]
    if source_name == "redemptions":
        out.append(gxe.ExpectColumnValuesToBeBetween(column="points", min_value=1))
    if source_name == "adjustments":
        out.append(gxe.ExpectColumnValuesToNotBeInSet(column="points", value_set=[0]))
    if source_name == "members":
        out += [
            gxe.ExpectColumnValuesToBeInSet(column="gender", value_set=["F", "M"]),
            gxe.ExpectColumnValuesToBeInSet(column="status", value_set=["active", "cancelled"]),
        ]
    return out


def batch_frame(con, source_name: str, files: list[str]) -> tuple[pd.DataFrame, bool]:
    """The rows of `files` in raw.<source> (+ helper columns), and whether it is a sample."""
    from ingestion.contract import SOURCES_BY_NAME

    source = SOURCES_BY_NAME[source_name]
    cols = [c.name for c in source.columns]
    helpers = "".join(f", {sql} AS {name}" for name, sql in _helpers(source))
    where = "list_contains($files, _source_file)"
    total = con.execute(f"SELECT count(*) FROM {source.table} WHERE {where}", {"files": files}).fetchall()[0][0]
    sampled = total > MAX_ROWS
    if sampled:
        where += f" AND hash(_source_file, _row_number) % {-(-total // MAX_ROWS)} = 0"
    frame = con.execute(f"SELECT {', '.join(cols)}{helpers} FROM {source.table} WHERE {where}",
                        {"files": files}).df()
    for c in source.columns:  # decimals arrive as objects; GE compares numbers
        if c.sql_type.startswith("DECIMAL"):
            frame[c.name] = frame[c.name].astype("float64")
    if "_net_diff" in frame:
        frame["_net_diff"] = frame["_net_diff"].astype("float64").round(6)
    return frame, sampled


def validate_batch(source_name: str, frame: pd.DataFrame) -> SuiteOutcome:
    name = f"raw_{source_name}"
    if frame.empty:
        return SuiteOutcome(name, True, 0, [])
    columns = [c for c in frame.columns if not c.startswith("_")]
    return run_suite(name, frame, expectations(source_name, columns))
