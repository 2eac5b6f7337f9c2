"""Turning generated rows into landing files: text formats, encoding, headers.

All numbers are kept as integers (money in cents, times in seconds) until here,
so every file has exactly two decimals and no float rounding surprises.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from ingestion.contract import MEMBERS, POS_LINES, PRODUCTS, REDEMPTIONS, STORES, Source

ENCODINGS = ("utf-8", "gb18030")


def money(cents: pl.Expr) -> pl.Expr:
    """Integer cents -> '12.30' / '-0.05'."""
    a = cents.abs()
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(sign, (a // 100).cast(pl.String), pl.lit("."), (a % 100).cast(pl.String).str.zfill(2))


def day_text(epoch_days: pl.Expr) -> pl.Expr:
    """Days since 1970-01-01 -> 'YYYY-MM-DD'."""
    return epoch_days.cast(pl.Int32).cast(pl.Date).cast(pl.String)


def clock_text(seconds: pl.Expr) -> pl.Expr:
    """Seconds since midnight -> 'HH:MM:SS'."""
    def two(e: pl.Expr) -> pl.Expr:
        return e.cast(pl.String).str.zfill(2)

    return pl.concat_str(two(seconds // 3600), pl.lit(":"), two(seconds // 60 % 60), pl.lit(":"), two(seconds % 60))


def bool_text(flag: pl.Expr) -> pl.Expr:
    return pl.when(flag).then(pl.lit("true")).otherwise(pl.lit("false"))


class LandingWriter:
    """Writes the canonical layout under one landing directory.

    Every data file goes through `_emit`, the single place where a later
    `--dirty` mode can damage rows or whole files before they hit the disk.
    """

    def __init__(self, root: Path, encoding: str = "utf-8", dirty=None):
        if encoding not in ENCODINGS:
            raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
        self.root = Path(root)
        self.encoding = encoding
        self.dirty = dirty  # a sample.dirty.DirtyPlan, or None for clean files
        self.files = 0

    def path(self, source: Source, name: str) -> Path:
        return self.root / source.folder / name

    def _encode(self, text: str) -> bytes:
        # strict: a character GB18030 cannot hold must fail loudly, not turn into '?'
        return text.encode(self.encoding, errors="strict")

    @staticmethod
    def _check(source: Source, df: pl.DataFrame) -> None:
        # The generator always writes every contract column, in contract order.
        if df.columns != [c.name for c in source.columns]:
            raise ValueError(f"{source.name}: columns {df.columns} do not follow the contract")

    def _emit(self, source: Source, name: str, chunks: Iterable[pl.DataFrame]) -> None:
        path = self.path(source, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        match = source.matches(name) and re.fullmatch(source.file_pattern, name)
        day = match.groupdict().get("day") if match else None
        with open(path, "wb") as fh:
            header = True
            for df in chunks:
                self._check(source, df)
                if self.dirty is not None:
                    df = self.dirty.rows(source.name, f"{source.folder}/{name}", df, day)
                fh.write(self._encode(df.write_csv(include_header=header)))
                header = False
            if header:  # no chunk at all: still a valid, header-only file
                fh.write(self._encode(",".join(c.name for c in source.columns) + "\n"))
        self.files += 1
        if self.dirty is not None:
            self.dirty.file(self, source.name, name, path)

    def stores(self, df: pl.DataFrame) -> None:
        self._emit(STORES, "stores.csv", [df])

    def products(self, df: pl.DataFrame) -> None:
        self._emit(PRODUCTS, "products.csv", [df])

    def members(self, day: str, chunks: Iterable[pl.DataFrame]) -> None:
        self._emit(MEMBERS, f"members_{day}.csv", chunks)

    def pos(self, day: str, store_id: str, df: pl.DataFrame | None) -> None:
        self._emit(POS_LINES, f"pos_{day}_{store_id}.csv", [] if df is None else [df])

    def redemptions(self, day: str, df: pl.DataFrame) -> None:
        self._emit(REDEMPTIONS, f"redemptions_{day}.csv", [df])
