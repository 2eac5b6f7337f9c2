"""Read one landing file into an all-text polars DataFrame with canonical headers.

Everything is read as text so that no value is silently turned into a null by a
reader option; typing happens in `validate`, where a failure quarantines the row.
"""

from __future__ import annotations

import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from ingestion.contract import Source

UTF8_BOM = b"\xef\xbb\xbf"


class FileRejected(Exception):
    """The file cannot be read at all; it is quarantined whole with this reason."""


@dataclass
class ReadResult:
    frame: pl.DataFrame  # canonical column names, all pl.String, in contract order
    encoding: str  # what the text was decoded as ("parquet" for Parquet files)
    extra_columns: list[str] = field(default_factory=list)  # unknown headers, kept aside


def decode_text(data: bytes, encoding: str, file_label: str) -> tuple[str, str]:
    """Decode strictly: UTF-8 (BOM or not), or GB18030 when configured or detected."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
    candidates = ["utf-8", "gb18030"] if encoding == "auto" else [encoding]
    for candidate in candidates:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError as exc:
            last_error = exc
    raise FileRejected(
        f"{file_label}: cannot decode as {' or '.join(candidates)} "
        f"(byte {last_error.start}: {last_error.reason})"
    )


def header_map(source: Source, aliases: dict[str, str] | None = None) -> dict[str, str]:
    """Normalised header spelling -> canonical column name."""
    mapping: dict[str, str] = {}
    for column in source.columns:
        mapping[_normalise(column.name)] = column.name
        for alias in column.aliases:
            mapping[_normalise(alias)] = column.name
    for alias, canonical in (aliases or {}).items():
        mapping[_normalise(alias)] = canonical
    return mapping


def _normalise(header: str) -> str:
    return header.strip().lstrip("\ufeff").lower()


def read_landing_file(
    path: Path, source: Source, *, file_label: str, encoding: str = "auto",
    aliases: dict[str, str] | None = None,
) -> ReadResult:
    name = path.name.lower()
    if name.endswith(".parquet"):
        try:
            frame = pl.read_parquet(path)
        except Exception as exc:  # any parquet failure means the file is unreadable
            raise FileRejected(f"{file_label}: not a readable Parquet file ({exc})") from exc
        frame = frame.select(pl.all().cast(pl.String))
        used_encoding = "parquet"
    else:
        data = path.read_bytes()
        if name.endswith(".gz"):
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as exc:
                raise FileRejected(f"{file_label}: not a readable gzip file ({exc})") from exc
        text, used_encoding = decode_text(data, encoding, file_label)
        if not text.strip():
            raise FileRejected(f"{file_label}: empty file (no header row)")
        try:
            frame = pl.read_csv(
                io.BytesIO(text.encode("utf-8")), infer_schema=False,
                empty_string_is_null=False, raise_if_empty=True, truncate_ragged_lines=False,
            )
        except Exception as exc:  # malformed CSV: ragged rows, bad quoting
            raise FileRejected(f"{file_label}: not a well-formed CSV file ({exc})") from exc
    return _to_canonical(frame, source, file_label, used_encoding, aliases)


def _to_canonical(
    frame: pl.DataFrame, source: Source, file_label: str, encoding: str,
    aliases: dict[str, str] | None,
) -> ReadResult:
    mapping = header_map(source, aliases)
    renames: dict[str, str] = {}
    extra: list[str] = []
    for header in frame.columns:
        canonical = mapping.get(_normalise(header))
        if canonical is None:
            extra.append(header)
        elif canonical in renames.values():
            raise FileRejected(f"{file_label}: column {canonical!r} appears twice (header {header!r})")
        else:
            renames[header] = canonical
    present = set(renames.values())
    missing = [c.name for c in source.columns if c.required and c.name not in present]
    if missing:
        raise FileRejected(f"{file_label}: required column(s) missing: {', '.join(missing)}")
    frame = frame.rename(renames)
    frame = frame.with_columns(
        [pl.lit(None, dtype=pl.String).alias(c.name) for c in source.columns if c.name not in present]
    )
    frame = frame.select([pl.col(c.name).cast(pl.String) for c in source.columns])
    return ReadResult(frame=frame, encoding=encoding, extra_columns=extra)
