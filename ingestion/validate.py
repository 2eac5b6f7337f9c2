"""Row validation of landing files against the data contract, in polars.

Works on a *batch*: the all-text frames of several files of one source stacked,
with `_file` (index into the batch), `_row_number` (1-based data row in its
file), `_file_day` and `_file_store` (from each file's name). One polars pass
types every cell, evaluates every rule, and splits the batch into typed valid
rows and quarantined rows with their file, row number, raw text row and every
reason. Reasons are rule names, never cell values (they reach logs; values are
PII and stay in the restricted quarantine table's raw_row).

Two-step so that the caller can look things up in the warehouse with typed keys
in between: `parse_batch` (types, per-cell flags) then `check_batch` (rules).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import polars as pl

from ingestion.contract import NET_AMOUNT_TOLERANCE, Column, Source

_INT = r"^[+-]?\d{1,9}$"
_BOOL_TRUE = ("true", "t", "1", "y", "yes", "是")
_BOOL_FALSE = ("false", "f", "0", "n", "no", "否")
# Values the contract allows in Chinese exports, mapped to canonical words.
VALUE_MAPS = {
    "gender": {"女": "F", "男": "M", "f": "F", "m": "M"},
    "status": {"正常": "active", "注销": "cancelled"},
}
ALLOWED_VALUES = {"gender": ("F", "M"), "status": ("active", "cancelled")}

TRUNCATED = "row: fewer fields than the header (truncated row)"
DUP_IN_FILE = "duplicate key ({}) within the file"
DUP_OTHER_FILE = "duplicate key ({}) already loaded from another file"
CARD_UNKNOWN = "card_no: no member with this card as of the redemption"
CARD_NOT_ACTIVATED = "card_no: card not activated as of the redemption"
CARD_CANCELLED = "card_no: card cancelled as of the redemption"

BATCH_COLUMNS = ("_file", "_row_number", "_file_day", "_file_store", "_fault", "_raw_line")


@dataclass
class FileContext:
    file_label: str
    business_day: date | None = None
    store_id: str | None = None  # POS files carry their store in the name
    known_stores: frozenset[str] | None = None
    # keys of this source already loaded from other files (cross-file duplicates)
    existing_keys: pl.DataFrame | None = None


@dataclass
class BatchContext:
    known_stores: frozenset[str] | None = None
    # typed key columns already loaded from files outside the batch
    existing_keys: pl.DataFrame | None = None
    # redemptions: (_file, _row_number, activated, status, found) member state per row
    card_states: pl.DataFrame | None = None


@dataclass
class Validated:
    valid: pl.DataFrame  # typed columns + _file + _row_number
    quarantined: pl.DataFrame  # _file, row_number, reasons, raw_row
    reason_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_read(self) -> int:
        return self.valid.height + self.quarantined.height


def _decimal_pattern(sql_type: str) -> tuple[int, int]:
    precision, scale = re.match(r"DECIMAL\((\d+),(\d+)\)", sql_type).groups()
    return int(precision), int(scale)


def _parse(column: Column, padded: bool = True, slashes: bool = True) -> tuple[pl.Expr, pl.Expr]:
    """(typed value expression, 'text present but not parseable' expression).

    `padded`: some cell of the column has surrounding spaces (then cells are
    stripped first); `slashes`: some date cell uses '/'. Both default to the
    general, slower expressions; `parse_batch` looks first and picks the fast ones.
    """
    raw = pl.col(column.name)
    text = raw.str.strip_chars() if padded else raw
    present = text.is_not_null() & (text != "")
    text = pl.when(present).then(text)  # empty -> null
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
    elif sql_type in ("DATE", "TIMESTAMP"):
        if slashes:
            text = text.str.replace_all("/", "-", literal=True)
        dtype, fmt = (pl.Date, "%Y-%m-%d") if sql_type == "DATE" else (pl.Datetime("us"), "%Y-%m-%d %H:%M:%S")
        typed = text.str.strptime(dtype, fmt, strict=False, exact=True)
    elif sql_type == "BOOLEAN":
        lowered = text.str.to_lowercase()
        typed = (pl.when(lowered.is_in(_BOOL_TRUE)).then(True)
                 .when(lowered.is_in(_BOOL_FALSE)).then(False)
                 .otherwise(None))
    else:
        raise ValueError(f"no parser for {sql_type}")
    return typed.alias(column.name), (present & typed.is_null()).fill_null(False)


def _type_label(sql_type: str) -> str:
    if sql_type.startswith("DECIMAL"):
        return f"a decimal with at most {_decimal_pattern(sql_type)[1]} places"
    return {"INTEGER": "an integer", "DATE": "a date YYYY-MM-DD",
            "TIMESTAMP": "a timestamp YYYY-MM-DD HH:MM:SS", "BOOLEAN": "true/false",
            "VARCHAR": "text"}.get(sql_type, sql_type)


def _source_rules(source: Source, ctx: BatchContext) -> list[tuple[str, pl.Expr]]:
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
            (f"net_amount: differs from qty*unit_price-discount by more than {NET_AMOUNT_TOLERANCE}",
             (c("net_amount") - expected).abs() > NET_AMOUNT_TOLERANCE),
            ("net_amount: sign differs from qty", (c("net_amount") * c("qty")) < 0),
            ("txn_ts: day differs from the file's day",
             c("_file_day").is_not_null() & (c("txn_ts").dt.date() != c("_file_day"))),
            ("store_id: differs from the file's store",
             c("_file_store").is_not_null() & (c("store_id") != c("_file_store"))),
        ]
    if source.name == "redemptions":
        rules += [
            ("points: must be > 0", c("points") <= 0),
            ("redeemed_at: day differs from the file's day",
             c("_file_day").is_not_null() & (c("redeemed_at").dt.date() != c("_file_day"))),
        ]
    if source.name == "adjustments":
        rules.append(("points: must not be zero", c("points") == 0))
    if source.name == "stores":
        rules.append(("closed_on: not after opened_on", c("closed_on") <= c("opened_on")))
    if ctx.known_stores is not None and source.store_column is not None:
        store = source.store_column
        rules.append((f"{store}: unknown store (not in stores.csv)",
                      c(store).is_not_null() & ~c(store).is_in(sorted(ctx.known_stores))))
    if source.name == "redemptions" and ctx.card_states is not None:
        rules += [
            (CARD_UNKNOWN, c("_card_found") == False),  # noqa: E712 (null = not looked up)
            (CARD_NOT_ACTIVATED, c("_card_found") & ~c("_card_activated").fill_null(False)),
            (CARD_CANCELLED, c("_card_found") & (c("_card_status") == "cancelled")),
        ]
    return rules


def parse_batch(frame: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Typed columns, per-cell 'bad' flags, and the text cells kept as _t_<col> (zero-copy)."""
    looks = frame.select(
        *[(pl.col(c.name).str.starts_with(" ") | pl.col(c.name).str.ends_with(" ")).any().alias(f"p{i}")
          for i, c in enumerate(source.columns)],
        *[pl.col(c.name).str.contains("/", literal=True).any().alias(f"s{i}")
          for i, c in enumerate(source.columns) if c.sql_type in ("DATE", "TIMESTAMP")],
    ).row(0, named=True) if frame.height else {}
    parsed = [_parse(col, bool(looks.get(f"p{i}", True)), bool(looks.get(f"s{i}", True)))
              for i, col in enumerate(source.columns)]
    present = [c for c in BATCH_COLUMNS if c in frame.columns]
    return frame.select(
        *present,
        *[pl.col(col.name).alias(f"_t_{col.name}") for col in source.columns],
        *[expr for expr, _ in parsed],
        *[bad.alias(f"_bad_{col.name}") for col, (_, bad) in zip(source.columns, parsed)],
    )


def check_batch(typed: pl.DataFrame, source: Source, ctx: BatchContext) -> Validated:
    key = list(source.key)
    if "_fault" in typed.columns:
        # The reader compared each row's field count with the header ("row: 14 fields, header
        # has 12"). Such a row's cells are not in their columns: that is its only reason.
        found = typed.get_column("_fault")
        faults = sorted(found.drop_nulls().unique().to_list()) if found.null_count() < typed.height else []
        reasons: list[tuple[str, pl.Expr]] = [(fault, pl.col("_fault") == fault) for fault in faults]
        misread = pl.col("_fault").is_not_null() if faults else pl.lit(False)
    else:  # a frame read with missing fields as nulls
        short = pl.any_horizontal(pl.col(f"_t_{c.name}").is_null() for c in source.columns if c.required)
        reasons = [(TRUNCATED, short)]
        misread = pl.lit(False)
    row_rules_from = len(reasons)
    for col in source.columns:
        reasons.append((f"{col.name}: not {_type_label(col.sql_type)}", pl.col(f"_bad_{col.name}")))
    for col in source.columns:
        if not col.nullable:
            reasons.append((f"{col.name}: required value is empty",
                            pl.col(col.name).is_null() & ~pl.col(f"_bad_{col.name}")
                            & pl.col(f"_t_{col.name}").is_not_null()))
    if ctx.card_states is not None:
        typed = typed.join(ctx.card_states, on=["_file", "_row_number"], how="left")
    reasons += _source_rules(source, ctx)
    # duplicate keys are rare: look for them once, and only then work out which rule
    any_dup = bool(key) and typed.select(pl.struct(*key).is_duplicated().any()).item()
    if key and any_dup:
        reasons.append((DUP_IN_FILE.format(", ".join(key)),  # a misread row claims no key
                        ~pl.when(~misread).then(pl.struct("_file", *key)).is_first_distinct()))
    if key and ctx.existing_keys is not None and ctx.existing_keys.height:
        seen = ctx.existing_keys.select(key).unique().with_columns(pl.lit(True).alias("_seen"))
        typed = typed.join(seen, on=key, how="left", nulls_equal=False, maintain_order="left")
        reasons.append((DUP_OTHER_FILE.format(", ".join(key)), pl.col("_seen").fill_null(False)))
    rule_cols = [f"_rule_{i}" for i in range(len(reasons))]
    typed = typed.with_columns(
        (expr.fill_null(False) if i < row_rules_from else expr.fill_null(False) & ~misread).alias(rc)
        for i, (rc, (_, expr)) in enumerate(zip(rule_cols, reasons)))
    typed = typed.with_columns(pl.any_horizontal(rule_cols).alias("_failing"))
    if key and any_dup and "_file" in typed.columns:
        # A key loaded by an earlier file of this batch: the later file's row is a
        # cross-file duplicate, exactly as if the files had been loaded one by one.
        dup_rule = f"_rule_{len(reasons)}"
        reasons.append((DUP_OTHER_FILE.format(", ".join(key)), pl.lit(True)))
        rule_cols.append(dup_rule)
        later = pl.when(~pl.col("_failing")).then(pl.struct(*key)).is_first_distinct().not_()
        typed = typed.with_columns((~pl.col("_failing") & later).alias(dup_rule))
        typed = typed.with_columns((pl.col("_failing") | pl.col(dup_rule)).alias("_failing"))
    counts = typed.select(pl.col(rule_cols).sum()).row(0)
    reason_counts: dict[str, int] = {}
    for (reason, _), count in zip(reasons, counts):
        if count:
            reason_counts[reason] = reason_counts.get(reason, 0) + int(count)
    bad = typed.filter(pl.col("_failing"))
    quarantined = bad.select(
        pl.col("_file") if "_file" in bad.columns else pl.lit(0, dtype=pl.UInt32).alias("_file"),
        pl.col("_row_number").cast(pl.Int32).alias("row_number"),
        pl.concat_str(
            [pl.when(pl.col(rc)).then(pl.lit(reason)) for rc, (reason, _) in zip(rule_cols, reasons)],
            separator="; ", ignore_nulls=True,
        ).alias("reasons"),
        _raw_row(bad, source).alias("raw_row"),
    )
    valid = typed.filter(~pl.col("_failing")).select(
        *[c for c in ("_file", "_row_number") if c in typed.columns],
        *[pl.col(col.name) for col in source.columns],
    )
    return Validated(valid=valid, quarantined=quarantined, reason_counts=reason_counts)


def _raw_row(bad: pl.DataFrame, source: Source) -> pl.Expr:
    """The row as read: a JSON object of its text cells, or {"_line": text} for a row whose
    fields do not match the header (its cells cannot be named)."""
    cells = pl.struct(pl.col(f"_t_{c.name}").alias(c.name) for c in source.columns).struct.json_encode()
    if "_raw_line" not in bad.columns:
        return cells
    line = pl.struct(pl.col("_raw_line").alias("_line")).struct.json_encode()
    return pl.when(pl.col("_raw_line").is_not_null()).then(line).otherwise(cells)


def typed_keys(frame: pl.DataFrame, source: Source) -> pl.DataFrame:
    """Just the key columns, typed (unparseable keys become null and are ignored)."""
    return frame.select([_parse(source.column(name))[0] for name in source.key])


def validate(frame: pl.DataFrame, source: Source, ctx: FileContext) -> Validated:
    """One file on its own (kept for callers of the per-file API)."""
    batch = frame.with_row_index("_row_number", offset=1).with_columns(
        pl.lit(0, dtype=pl.UInt32).alias("_file"),
        pl.lit(ctx.business_day, dtype=pl.Date).alias("_file_day"),
        pl.lit(ctx.store_id, dtype=pl.String).alias("_file_store"),
    )
    result = check_batch(parse_batch(batch, source), source,
                         BatchContext(known_stores=ctx.known_stores, existing_keys=ctx.existing_keys))
    result.valid = result.valid.drop("_file").with_columns(
        pl.lit(ctx.business_day, dtype=pl.Date).alias("business_day"),
        pl.lit(ctx.file_label).alias("_source_file"),
        pl.col("_row_number").cast(pl.Int32),
    )
    result.quarantined = result.quarantined.drop("_file")
    return result
