"""Row validation of one landing file against the data contract, in polars.

Input: the all-text frame from `reader`. Output: the typed rows that pass every
rule, and the failing rows with their 1-based row number, the raw text row and
every reason (rule names, no cell values: reasons may end up in logs, values
are PII and stay in the restricted quarantine table's raw_row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from ingestion.contract import Column, Source

_INT = r"^[+-]?\d+$"
_BOOL_TRUE = ("true", "t", "1", "y", "yes", "是")
_BOOL_FALSE = ("false", "f", "0", "n", "no", "否")
# Values the contract allows in Chinese exports, mapped to canonical words.
VALUE_MAPS = {
    "gender": {"女": "F", "男": "M", "f": "F", "m": "M"},
    "status": {"正常": "active", "注销": "cancelled"},
}
ALLOWED_VALUES = {"gender": ("F", "M"), "status": ("active", "cancelled")}


@dataclass
class FileContext:
    file_label: str
    business_day: date | None = None
    store_id: str | None = None  # POS files carry their store in the name
    known_stores: frozenset[str] | None = None
    # keys of this source already loaded from other files (cross-file duplicates)
    existing_keys: pl.DataFrame | None = None


@dataclass
class Validated:
    valid: pl.DataFrame  # typed columns + business_day, _source_file, _row_number
    quarantined: pl.DataFrame  # row_number, reasons, raw_row
    reason_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return self.valid.height + self.quarantined.height


def _decimal_pattern(sql_type: str) -> tuple[int, int]:
    precision, scale = re.match(r"DECIMAL\((\d+),(\d+)\)", sql_type).groups()
    return int(precision), int(scale)


def _parse(column: Column) -> tuple[pl.Expr, pl.Expr]:
    """(typed value expression, 'text present but not parseable' expression)."""
    text = pl.col(column.name).str.strip_chars()
    text = pl.when(text == "").then(None).otherwise(text)
    if column.name in VALUE_MAPS:
        mapping = VALUE_MAPS[column.name]
        text = text.replace(mapping | {k.upper(): v for k, v in mapping.items()})
    sql_type = column.sql_type
    if sql_type == "VARCHAR":
        typed = text
    elif sql_type in ("INTEGER", "BIGINT"):
        typed = pl.when(text.str.contains(_INT)).then(text).cast(pl.Int64, strict=False)
    elif sql_type.startswith("DECIMAL"):
        precision, scale = _decimal_pattern(sql_type)
        pattern = rf"^[+-]?\d{{1,{precision - scale}}}(\.\d{{1,{scale}}})?$"
        typed = pl.when(text.str.contains(pattern)).then(text).cast(
            pl.Decimal(precision, scale), strict=False)
    elif sql_type == "DATE":
        typed = pl.coalesce(
            text.str.strptime(pl.Date, "%Y-%m-%d", strict=False),
            text.str.strptime(pl.Date, "%Y/%m/%d", strict=False),
        )
    elif sql_type == "TIMESTAMP":
        typed = pl.coalesce(
            text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False),
            text.str.strptime(pl.Datetime("us"), "%Y/%m/%d %H:%M:%S", strict=False),
        )
    elif sql_type == "BOOLEAN":
        lowered = text.str.to_lowercase()
        typed = (pl.when(lowered.is_in(_BOOL_TRUE)).then(True)
                 .when(lowered.is_in(_BOOL_FALSE)).then(False)
                 .otherwise(None))
    else:
        raise ValueError(f"no parser for {sql_type}")
    return typed.alias(column.name), (text.is_not_null() & typed.is_null())


def _type_label(sql_type: str) -> str:
    if sql_type.startswith("DECIMAL"):
        return f"a decimal with at most {_decimal_pattern(sql_type)[1]} places"
    return {"INTEGER": "an integer", "DATE": "a date YYYY-MM-DD",
            "TIMESTAMP": "a timestamp YYYY-MM-DD HH:MM:SS", "BOOLEAN": "true/false",
            "VARCHAR": "text"}.get(sql_type, sql_type)


def _source_rules(source: Source, ctx: FileContext) -> list[tuple[str, pl.Expr]]:
    """(reason, failing-row expression) over the typed columns of one source."""
    c = pl.col
    rules: list[tuple[str, pl.Expr]] = []
    for name, allowed in ALLOWED_VALUES.items():
        if any(col.name == name for col in source.columns):
            rules.append((f"{name}: not one of {'/'.join(allowed)}",
                          c(name).is_not_null() & ~c(name).is_in(allowed)))
    if source.name == "pos_lines":
        expected = c("qty").sign() * (c("qty").abs() * c("unit_price") - c("discount"))
        rules += [
            ("line_no: must be >= 1", c("line_no") < 1),
            ("qty: must not be zero", c("qty") == 0),
            ("unit_price: must be >= 0", c("unit_price") < 0),
            ("discount: must be >= 0", c("discount") < 0),
            ("net_amount: differs from qty*unit_price-discount by more than 0.01",
             (c("net_amount") - expected).abs() > 0.01),
            ("net_amount: sign differs from qty", (c("net_amount") * c("qty")) < 0),
        ]
        if ctx.business_day is not None:
            rules.append(("txn_ts: day differs from the file's day",
                          c("txn_ts").dt.date() != pl.lit(ctx.business_day)))
        if ctx.store_id is not None:
            rules.append(("store_id: differs from the file's store", c("store_id") != ctx.store_id))
    if source.name == "redemptions":
        rules.append(("points: must be > 0", c("points") <= 0))
        if ctx.business_day is not None:
            rules.append(("redeemed_at: day differs from the file's day",
                          c("redeemed_at").dt.date() != pl.lit(ctx.business_day)))
    if source.name == "adjustments":
        rules.append(("points: must not be zero", c("points") == 0))
    if source.name == "stores":
        rules.append(("closed_on: not after opened_on", c("closed_on") <= c("opened_on")))
    if ctx.known_stores is not None and source.name in ("pos_lines", "redemptions"):
        rules.append(("store_id: unknown store (not in stores.csv)",
                      c("store_id").is_not_null() & ~c("store_id").is_in(list(ctx.known_stores))))
    if source.name == "members":
        rules.append(("join_store_id: unknown store (not in stores.csv)",
                      pl.lit(ctx.known_stores is not None)
                      & c("join_store_id").is_not_null()
                      & ~c("join_store_id").is_in(list(ctx.known_stores or ()))))
    return rules


def typed_keys(frame: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Just the key columns, typed (unparseable keys become null and are ignored)."""
    return frame.select([_parse(source.column(name))[0] for name in source.key])


def validate(frame: pl.DataFrame, source: Source, ctx: FileContext) -> Validated:
    text_cols = [col.name for col in source.columns]
    frame = frame.with_row_index("_row_number", offset=1)
    parsed = [_parse(col) for col in source.columns]
    reasons: list[tuple[str, pl.Expr]] = []
    for col in source.columns:
        reasons.append((f"{col.name}: not {_type_label(col.sql_type)}", pl.col(f"_bad_{col.name}")))
    typed = frame.select(
        pl.col("_row_number"),
        pl.struct(text_cols).struct.json_encode().alias("_raw_row"),
        *[expr for expr, _ in parsed],
        *[unparseable.alias(f"_bad_{col.name}") for col, (_, unparseable) in zip(source.columns, parsed)],
    )
    for col in source.columns:
        if not col.nullable:
            reasons.append((f"{col.name}: required value is empty",
                            pl.col(col.name).is_null() & ~pl.col(f"_bad_{col.name}")))
    reasons += _source_rules(source, ctx)
    if source.key:
        key = list(source.key)
        reasons.append((f"duplicate key ({', '.join(key)}) within the file",
                        pl.int_range(pl.len()).over(key) > 0))
        if ctx.existing_keys is not None and ctx.existing_keys.height:
            seen = ctx.existing_keys.select(key).unique().with_columns(pl.lit(True).alias("_seen"))
            typed = typed.join(seen, on=key, how="left", nulls_equal=False)
            reasons.append((f"duplicate key ({', '.join(key)}) already loaded from another file",
                            pl.col("_seen").fill_null(False)))
    flags = [expr.fill_null(False).alias(f"_rule_{i}") for i, (_, expr) in enumerate(reasons)]
    typed = typed.with_columns(flags)
    rule_cols = [f"_rule_{i}" for i in range(len(reasons))]
    typed = typed.with_columns(
        pl.concat_str(
            [pl.when(pl.col(rc)).then(pl.lit(reason)) for rc, (reason, _) in zip(rule_cols, reasons)],
            separator="; ", ignore_nulls=True,
        ).fill_null("").alias("_reasons")
    )
    reason_counts = {
        reason: int(count)
        for (reason, _), count in zip(reasons, typed.select(pl.col(rule_cols).sum()).row(0))
        if count
    }
    failing = pl.col("_reasons") != ""
    quarantined = typed.filter(failing).select(
        pl.col("_row_number").cast(pl.Int32).alias("row_number"),
        pl.col("_reasons").alias("reasons"),
        pl.col("_raw_row").alias("raw_row"),
    )
    valid = typed.filter(~failing).select(
        *[pl.col(col.name) for col in source.columns],
        pl.lit(ctx.business_day, dtype=pl.Date).alias("business_day"),
        pl.lit(ctx.file_label).alias("_source_file"),
        pl.col("_row_number").cast(pl.Int32),
    )
    return Validated(valid=valid, quarantined=quarantined, reason_counts=reason_counts)
