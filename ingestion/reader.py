"""Read one landing file into an all-text polars DataFrame with canonical headers.

Everything is read as text so that no value is silently turned into a null by a
reader option; typing happens in `validate`, where a failure quarantines the row.
UTF-8 bytes go to polars as they are (no decode/encode round trip); GB18030 is
transcoded to UTF-8 in Python, strictly.
"""

from __future__ import annotations

import codecs
import functools
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from ingestion.contract import SOURCES_BY_NAME, Source

UTF8_BOM = b"\xef\xbb\xbf"
_utf8_decode = codecs.getdecoder("utf-8")


class FileRejected(Exception):
    """The file cannot be read at all; it is quarantined whole with this reason."""


@dataclass
class ReadResult:
    frame: pl.DataFrame  # canonical column names, all pl.String, in contract order
    encoding: str  # what the text was decoded as ("parquet" for Parquet files)
    extra_columns: list[str] = field(default_factory=list)  # unknown headers, kept aside
    extra: pl.DataFrame | None = None  # the unknown columns' cells (same rows as frame)
    faults: RowFaults | None = None  # rows whose field count differs from the header's


@dataclass
class RowFaults:
    """Data rows with more or fewer fields than the header: a bad row each, not a bad file."""
    rows: np.ndarray  # 0-based data row indices
    reasons: list[str]  # "row: 14 fields, header has 12"
    lines: list[str]  # each row's text as it arrived (its cells cannot be placed in columns)


def record_fields(data: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(start, end, number of fields) of every record of CSV text, header included.

    Commas and newlines between double quotes are text: a record ends at a newline
    preceded by an even number of quotes (a doubled quote inside a quoted cell keeps
    the count even). `end` is the record's newline (or the end of the text).
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    newline, comma = raw == 10, raw == 44
    if b'"' in data:
        outside = (np.cumsum(raw == 34, dtype=np.uint8) & 1) == 0  # uint8 wraps: parity is kept
        newline &= outside
        comma &= outside
    ends = np.flatnonzero(newline)
    if raw.size and raw[-1] != 10:
        ends = np.append(ends, raw.size)
    fields = np.bincount(np.searchsorted(ends, np.flatnonzero(comma)), minlength=ends.size)[: ends.size] + 1
    starts = np.concatenate(([0], ends[:-1] + 1))
    return starts, ends, fields


def ragged_rows(data: bytes, columns: int, rows: int, header_records: int = 0) -> RowFaults | None:
    """The data rows of `data` (after `header_records` records) whose field count is not
    `columns`; None when its records do not line up with the `rows` rows polars parsed."""
    starts, ends, fields = (a[header_records:] for a in record_fields(data))
    if ends.size != rows:
        return None
    bad = np.flatnonzero(fields != columns)
    lines = [data[starts[i]:ends[i]].decode("utf-8").rstrip("\r") for i in bad]
    return RowFaults(bad, [_field_count_reason(int(fields[i]), columns, line) for i, line in zip(bad, lines)],
                     lines)


def _field_count_reason(fields: int, columns: int, line: str) -> str:
    if not line:
        return f"row: empty line, header has {columns} fields"
    return f"row: {fields} field{'s' if fields != 1 else ''}, header has {columns}"


def to_utf8(data: bytes, encoding: str, file_label: str) -> tuple[bytes, str]:
    """UTF-8 bytes of the file (BOM dropped) and the encoding they were read as."""
    if data.startswith(UTF8_BOM):
        data = data[len(UTF8_BOM):]
        if encoding == "auto":
            encoding = "utf-8"  # a BOM is a declaration
    if data.isascii():  # both encodings agree on ASCII: nothing to check or convert
        return data, "utf-8" if encoding == "auto" else encoding
    candidates = ["utf-8", "gb18030"] if encoding == "auto" else [encoding]
    last_error: UnicodeDecodeError | None = None
    for candidate in candidates:
        try:
            if candidate == "utf-8":
                _utf8_decode(data, "strict")
                return data, "utf-8"
            return data.decode(candidate, errors="strict").encode("utf-8"), candidate
        except UnicodeDecodeError as exc:
            last_error = exc
    raise FileRejected(
        f"{file_label}: cannot decode as {' or '.join(candidates)} "
        f"(byte {last_error.start}: {last_error.reason})"
    )


def decode_text(data: bytes, encoding: str, file_label: str) -> tuple[str, str]:
    """Decode strictly: UTF-8 (BOM or not), or GB18030 when configured or detected."""
    utf8, used = to_utf8(data, encoding, file_label)
    return utf8.decode("utf-8"), used


def header_map(source: Source, aliases: dict[str, str] | None = None) -> dict[str, str]:
    """Normalised header spelling -> canonical column name."""
    return _header_map(source.name, tuple(sorted((aliases or {}).items())))


@functools.lru_cache(maxsize=64)
def _header_map(source_name: str, aliases: tuple[tuple[str, str], ...]) -> dict[str, str]:
    source = SOURCES_BY_NAME[source_name]
    mapping: dict[str, str] = {}
    for column in source.columns:
        mapping[_normalise(column.name)] = column.name
        for alias in column.aliases:
            mapping[_normalise(alias)] = column.name
    for alias, canonical in aliases:
        mapping[_normalise(alias)] = canonical
    return mapping


def _normalise(header: str) -> str:
    return header.strip().lstrip("\ufeff").lower()


def read_landing_file(
    path: Path, source: Source, *, file_label: str, encoding: str = "auto",
    aliases: dict[str, str] | None = None,
) -> ReadResult:
    return read_landing_bytes(path.read_bytes(), path.name, source, file_label=file_label,
                              encoding=encoding, aliases=aliases)


def read_landing_bytes(
    data: bytes, name: str, source: Source, *, file_label: str, encoding: str = "auto",
    aliases: dict[str, str] | None = None,
) -> ReadResult:
    if name.lower().endswith(".parquet"):
        return read_parquet_bytes(data, source, file_label=file_label, aliases=aliases)
    data, used_encoding = prepare_csv(data, name, encoding, file_label)
    return parse_csv(data, source, file_label=file_label, encoding=used_encoding, aliases=aliases)


def prepare_csv(data: bytes, name: str, encoding: str, file_label: str) -> tuple[bytes, str]:
    """Decompressed, decoded UTF-8 text bytes of a CSV landing file (or FileRejected)."""
    if name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise FileRejected(f"{file_label}: not a readable gzip file ({exc})") from exc
    data, used_encoding = to_utf8(data, encoding, file_label)
    if b"\x00" in data[:65536]:
        raise FileRejected(f"{file_label}: not a CSV text file (binary content)")
    if not data.strip():
        raise FileRejected(f"{file_label}: empty file (no header row)")
    return data, used_encoding


def read_csv_text(data: bytes, *, truncate_ragged_lines: bool) -> pl.DataFrame:
    """All-text CSV read. With `truncate_ragged_lines`, a row with too many fields is cut
    to the header's width (the caller finds and quarantines it); without, it raises."""
    return pl.read_csv(data, infer_schema=False, empty_string_is_null=False, raise_if_empty=True,
                       truncate_ragged_lines=truncate_ragged_lines)


def read_csv_cutting_long_rows(data: bytes) -> tuple[pl.DataFrame | None, Exception | None]:
    """(frame, the strict read's error): a row with too many fields makes the strict read fail
    and is then cut to the header's width (ragged_rows finds it); frame is None when even the
    lenient read fails (bad quoting)."""
    try:
        return read_csv_text(data, truncate_ragged_lines=False), None
    except Exception as exc:
        try:
            return read_csv_text(data, truncate_ragged_lines=True), exc
        except Exception:
            return None, exc


def parse_csv(data: bytes, source: Source, *, file_label: str, encoding: str,
              aliases: dict[str, str] | None = None) -> ReadResult:
    """One CSV file. Rows with more or fewer fields than the header are bad rows
    (`ReadResult.faults`); only text that polars cannot parse at all (bad quoting) or
    whose records cannot be told apart rejects the file."""
    frame, strict_error = read_csv_cutting_long_rows(data)
    if frame is None:
        raise FileRejected(f"{file_label}: not a well-formed CSV file ({_first_line(strict_error)})") \
            from strict_error
    columns = frame.width
    if strict_error is None and b'"' not in data and data.count(b",") == (frame.height + 1) * (columns - 1):
        faults = None  # no row is longer (polars said so) and none is shorter (the comma count says so)
    else:
        faults = ragged_rows(data, columns, frame.height, header_records=1)
        if faults is None and strict_error is not None:
            raise FileRejected(f"{file_label}: not a well-formed CSV file ({_first_line(strict_error)})")
    result = _to_canonical(frame, source, file_label, encoding, aliases)
    result.faults = faults if faults is not None and faults.rows.size else None
    return result


def read_parquet_bytes(data: bytes, source: Source, *, file_label: str,
                       aliases: dict[str, str] | None = None) -> ReadResult:
    try:
        frame = pl.read_parquet(io.BytesIO(data))
    except Exception as exc:  # any parquet failure means the file is unreadable
        raise FileRejected(f"{file_label}: not a readable Parquet file ({_first_line(exc)})") from exc
    frame = frame.select(_as_text(name, dtype) for name, dtype in frame.schema.items())
    return _to_canonical(frame, source, file_label, "parquet", aliases)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__


def _as_text(name: str, dtype: pl.DataType) -> pl.Expr:
    """Parquet columns as the text a CSV export would carry."""
    if dtype == pl.Datetime or isinstance(dtype, pl.Datetime):
        return pl.col(name).dt.strftime("%Y-%m-%d %H:%M:%S")
    if dtype == pl.Date:
        return pl.col(name).dt.strftime("%Y-%m-%d")
    if dtype == pl.Boolean:
        return pl.when(pl.col(name)).then(pl.lit("true")).otherwise(pl.lit("false")).alias(name)
    return pl.col(name).cast(pl.String)


def map_headers(
    headers: list[str], source: Source, file_label: str, aliases: dict[str, str] | None,
) -> tuple[dict[str, str], list[str], set[str]]:
    """(header -> canonical, unknown headers, canonical columns present) or FileRejected."""
    mapping = header_map(source, aliases)
    renames: dict[str, str] = {}
    extra: list[str] = []
    for header in headers:
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
    return renames, extra, present


def canonical_frame(frame: pl.DataFrame, source: Source, renames: dict[str, str], present: set[str]) -> pl.DataFrame:
    return frame.rename(renames).select(
        pl.col(c.name).cast(pl.String) if c.name in present else pl.lit(None, dtype=pl.String).alias(c.name)
        for c in source.columns
    )


def _to_canonical(
    frame: pl.DataFrame, source: Source, file_label: str, encoding: str,
    aliases: dict[str, str] | None,
) -> ReadResult:
    renames, extra, present = map_headers(frame.columns, source, file_label, aliases)
    extra_frame = frame.select(extra) if extra else None
    frame = canonical_frame(frame, source, renames, present)
    return ReadResult(frame=frame, encoding=encoding, extra_columns=extra, extra=extra_frame)
