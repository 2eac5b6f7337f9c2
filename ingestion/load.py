"""Ingest landing files: discover, read, validate, hand to the sink - in batches.

A file is identified by its path relative to the landing directory; its
version by the sha256 of its bytes. Same name and hash: nothing to do (a file
whose size and mtime equal the recorded ones is not even re-read). Same name,
new hash: a correction that replaces that file's rows. Same hash under another
name: rejected as a re-delivery, so nothing is counted twice.

Files of one source are processed in batches (`batch_bytes`/`batch_files` of the
ingestion config): one polars validation pass and one DuckDB transaction per
batch, with every file's own reasons, row numbers and reconciliation. A crash
mid-batch leaves the warehouse as before the batch; the retry loads it once.
"""

from __future__ import annotations

import hashlib
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ingestion.config import IngestionConfig, load_config
from ingestion.contract import Source
from ingestion.owner_only import make_owner_only, owner_only_dir, owner_only_umask
from ingestion.reader import (
    FileRejected, ReadResult, RowFaults, canonical_frame, map_headers, parse_csv, prepare_csv, ragged_rows,
    read_csv_cutting_long_rows, read_parquet_bytes,
)
from ingestion.sink import FileRecord, FileVersion, LoadedVersion, WarehouseSink
from ingestion.validate import BatchContext, check_batch, parse_batch

# Sources whose row keys must be unique across all files (members are upserts).
CROSS_FILE_UNIQUE = ("pos_lines", "redemptions", "adjustments")
# Sources whose rows must fall on their file's day: a re-delivered row can only
# collide with rows of the same business day, so the cross-file key lookup is
# restricted to a window of days around the batch (see docs/decisions.md).
DAY_RULED = ("pos_lines", "redemptions")


@dataclass
class LoadOutcome:
    file_label: str
    source: str
    business_day: date | None
    action: str  # loaded | corrected | unchanged | rejected
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    reason: str | None = None  # why a file was rejected whole
    reason_counts: dict[str, int] = field(default_factory=dict)
    first_bad_rows: list[tuple[int, str]] = field(default_factory=list)  # (row, reasons)
    extra_columns: list[str] = field(default_factory=list)
    encoding: str | None = None
    sha256: str | None = None


class LandingDirectoryMissing(FileNotFoundError):
    """The landing directory itself is not there: a wrong path, not a quiet day."""


def require_landing_dir(landing_dir: Path) -> None:
    """A missing landing directory is an error (a wrong LOYALTY_LANDING_DIR or an unmounted
    share would otherwise read as "no files"); a missing source folder in it is not."""
    if not landing_dir.is_dir():
        what = "is not a directory" if landing_dir.exists() else "does not exist"
        raise LandingDirectoryMissing(
            f"landing directory {landing_dir} {what} (LOYALTY_LANDING_DIR names the folder files land in)")


def landing_files(landing_dir: Path, source: Source, up_to: date | None) -> list[tuple[Path, str, date | None]]:
    """Delivered files of a source for business days <= up_to, oldest first.

    No folder for the source: no files of it yet (a new chain without redemptions, the
    optional adjustments); the store-completeness gate judges missing POS files.
    """
    require_landing_dir(landing_dir)
    folder = landing_dir / source.folder
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        if not source.matches(path.name) or not path.is_file():
            continue
        day = source.business_day(path.name)
        if up_to is not None and day is not None and day > up_to:
            continue
        found.append((path, path.relative_to(landing_dir).as_posix(), day))
    return sorted(found, key=lambda f: (f[2] or date.min, f[1]))


class _KeyWindow:
    """Keys of committed rows of a day-ruled source, per business day, for the days
    around the batches of one `ingest_source` call: read from DuckDB once per day,
    then kept up to date from the batches themselves (files are processed in day
    order, so the window only moves forward)."""

    def __init__(self, sink: WarehouseSink, source: Source, window_days: int):
        self.sink, self.source, self.window = sink, source, timedelta(days=window_days)
        self.key = list(source.key)
        self.by_day: dict[date, pl.DataFrame] = {}

    def _schema(self, frame: pl.DataFrame) -> pl.DataFrame:
        return frame.select(*[pl.col(k).cast(pl.String if k != "line_no" else pl.Int64) for k in self.key],
                            pl.col("_source_file").cast(pl.String))

    def lookup(self, keys: pl.DataFrame, lo: date, hi: date, exclude: list[str]) -> pl.DataFrame:
        first, last = lo - self.window, hi + self.window
        for day in [d for d in self.by_day if d < first]:
            del self.by_day[day]
        wanted = [first + timedelta(days=i) for i in range((last - first).days + 1)]
        missing = [d for d in wanted if d not in self.by_day]
        if missing:
            fetched = self.sink.keys_of_days(self.source, missing[0], missing[-1])
            parts = fetched.partition_by("business_day", as_dict=True) if fetched.height else {}
            for day in missing:
                part = parts.get((day,))
                self.by_day[day] = self._schema(part) if part is not None else self._schema(
                    pl.DataFrame(schema={**{k: pl.String for k in self.key}, "_source_file": pl.String}))
        window = pl.concat([self.by_day[d] for d in wanted])
        window = window.filter(~pl.col("_source_file").is_in(exclude)).select(self.key)
        probe = keys.select(self.key).drop_nulls().with_columns(
            *[pl.col(k).cast(window.schema[k]) for k in self.key])
        return probe.join(window, on=self.key, how="semi").unique()

    def add(self, valid: pl.DataFrame, labels: list[str]) -> None:
        """After a commit: the batch's files replace whatever they had in the window."""
        if valid is None:
            return
        days = {d for d in valid.get_column("business_day").unique().to_list() if d is not None}
        for day in list(self.by_day):
            if day in days or self.by_day[day].height:
                self.by_day[day] = self.by_day[day].filter(~pl.col("_source_file").is_in(labels))
        for (day,), rows in valid.partition_by("business_day", as_dict=True).items():
            if day is not None and day in self.by_day:
                self.by_day[day] = pl.concat([self.by_day[day], self._schema(rows)])


@dataclass
class _Pending:
    path: Path
    label: str
    day: date | None
    size: int
    mtime_ns: int
    current: LoadedVersion | None


def ingest_source(
    sink: WarehouseSink, landing_dir: Path, source: Source, up_to: date | None, *,
    quarantine_dir: Path, encoding: str | None = None, aliases: dict[str, str] | None = None,
    config: IngestionConfig | None = None, progress=None,
) -> list[LoadOutcome]:
    """Ingest every new or changed file of `source` for days <= up_to; one outcome per file."""
    config = config or load_config()
    source_config = config.source(source.name)
    encoding = encoding or source_config.encoding
    aliases = {**source_config.aliases, **(aliases or {})}
    pending, outcomes = files_to_load(sink.current_versions(source), landing_dir, source, up_to,
                                      source_config.require_done_marker)
    if not pending:
        return outcomes
    contents = sink.loaded_contents()
    window = (_KeyWindow(sink, source, config.duplicate_window_days)
              if source.name in DAY_RULED else None)
    batch: list[_Pending] = []
    size = 0
    done = 0
    for item in pending:
        batch.append(item)
        size += item.size
        if size >= config.batch_bytes or len(batch) >= config.batch_files:
            outcomes += _ingest_batch(sink, source, batch, contents, config, encoding, aliases, quarantine_dir, window)
            done += len(batch)
            if progress is not None:
                progress(f"{source.name}: {done}/{len(pending)} files")
            batch, size = [], 0
    if batch:
        outcomes += _ingest_batch(sink, source, batch, contents, config, encoding, aliases, quarantine_dir, window)
        if progress is not None:
            progress(f"{source.name}: {len(pending)}/{len(pending)} files")
    return outcomes


def files_to_load(current: dict[str, LoadedVersion], landing_dir: Path, source: Source, up_to: date | None,
                  require_done_marker: bool) -> tuple[list[_Pending], list[LoadOutcome]]:
    """The delivered files of `source` (days <= up_to) that are new or changed in size or mtime
    since their current version (`current`: file name -> version), and an "unchanged" outcome for
    each of the others. The one test of "is there anything new to load"."""
    outcomes: list[LoadOutcome] = []
    pending: list[_Pending] = []
    for path, label, day in landing_files(landing_dir, source, up_to):
        if require_done_marker and not path.with_name(path.name + ".done").exists():
            continue  # still being delivered
        stat = path.stat()
        cur = current.get(label)
        if cur is not None and cur.size_bytes == stat.st_size and cur.mtime_ns == stat.st_mtime_ns:
            outcomes.append(LoadOutcome(label, source.name, day, "unchanged", sha256=cur.sha256))
            continue
        pending.append(_Pending(path, label, day, stat.st_size, stat.st_mtime_ns, cur))
    return pending, outcomes


@dataclass
class _BatchFiles:
    """A batch's files once read: the record of each changed file, those still accepted (with
    their index, the `_file` value of their rows), those rejected whole, and what to parse."""
    records: list[FileRecord] = field(default_factory=list)
    accepted: list[tuple[int, FileRecord, Path]] = field(default_factory=list)
    rejected: list[tuple[FileRecord, Path]] = field(default_factory=list)
    unchanged: dict[str, LoadOutcome] = field(default_factory=dict)
    # CSV files without quotes, grouped by header line: parsed as one buffer per header
    groups: dict[bytes, list[tuple[int, bytes, int, str]]] = field(default_factory=dict)
    singles: list[tuple[int, ReadResult]] = field(default_factory=list)


@dataclass
class _CheckedRows:
    valid: pl.DataFrame | None = None
    quarantined: pl.DataFrame | None = None
    reason_counts: dict[int, dict[str, int]] = field(default_factory=dict)  # per _file
    first_bad: dict[int, list[tuple[int, str]]] = field(default_factory=dict)  # per _file


def _ingest_batch(
    sink: WarehouseSink, source: Source, batch: list[_Pending], contents: dict[str, str],
    config: IngestionConfig, encoding: str, aliases: dict[str, str], quarantine_dir: Path,
    window: _KeyWindow | None = None,
) -> list[LoadOutcome]:
    """Read, parse, validate and store one batch (one transaction); then the side files."""
    files = _read_files(source, batch, contents, encoding, aliases)
    parts, extras = _parse_files(files, source, aliases)
    checked = _check_rows(sink, source, files, parts, window)
    sink.write_batch(source, files.records, checked.valid, checked.quarantined,
                     pl.concat(extras) if extras else None)
    if window is not None:
        window.add(checked.valid, [r.version.file_label for r in files.records])
    _write_side_files(files, checked.quarantined, quarantine_dir)  # after the commit
    outcomes = {**files.unchanged, **_outcomes(source, files, checked)}
    return [outcomes[item.label] for item in batch]


def _read_files(source: Source, batch: list[_Pending], contents: dict[str, str], encoding: str,
                aliases: dict[str, str]) -> _BatchFiles:
    """Decode each file and count its rows; reject a file that cannot be read or that repeats
    the content of another loaded file (`contents`: sha256 -> file, updated here)."""
    files = _BatchFiles()
    for item in batch:
        data = item.path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        version = FileVersion(item.label, source, item.day, sha, len(data), item.mtime_ns)
        cur = item.current
        if cur is not None and cur.sha256 == sha:
            files.unchanged[item.label] = LoadOutcome(item.label, source.name, item.day, "unchanged", sha256=sha)
            continue
        record = FileRecord(version, "loaded", replaces_sha256=cur.sha256 if cur else None,
                            had_record=cur is not None)
        index = len(files.records)
        try:
            if item.path.name.lower().endswith(".parquet"):
                read = read_parquet_bytes(data, source, file_label=item.label, aliases=aliases)
                rows, used, extra_cols, header = read.frame.height, read.encoding, read.extra_columns, None
            else:
                text, used = prepare_csv(data, item.path.name, encoding, item.label)
                del data
                if b'"' in text:  # quoted cells may hold newlines: parse this file on its own
                    read = parse_csv(text, source, file_label=item.label, encoding=used, aliases=aliases)
                    rows, extra_cols, header = read.frame.height, read.extra_columns, None
                else:
                    cut = text.find(b"\n")
                    header, body = (text, b"") if cut < 0 else (text[:cut], text[cut + 1:])
                    _, extra_cols, _ = map_headers(
                        header.decode("utf-8").rstrip("\r").split(","), source, item.label, aliases)
                    if body and not body.endswith(b"\n"):
                        body += b"\n"
                    rows = body.count(b"\n")
            # header-only files (a store that sold nothing) legitimately share content
            twin = contents.get(sha) if rows else None
            if twin is not None and twin != item.label:
                raise FileRejected(f"{item.label}: same content as already loaded {twin}")
        except FileRejected as exc:
            record.status, record.reason = "rejected", str(exc)
            files.rejected.append((record, item.path))
            files.records.append(record)
            continue
        if header is None:
            files.singles.append((index, read))
        else:
            files.groups.setdefault(header, []).append((index, body, rows, item.label))
        if rows:
            contents[sha] = item.label
        record.encoding = used
        record.extra_columns = extra_cols
        record.rows_read = rows
        files.accepted.append((index, record, item.path))
        files.records.append(record)
    return files


def _parse_files(files: _BatchFiles, source: Source,
                 aliases: dict[str, str]) -> tuple[list[pl.DataFrame], list[pl.DataFrame]]:
    """The accepted files' rows (and their extra columns); a file that fails to parse (bad
    quoting, rows that cannot be told apart) moves to the rejected."""
    parts: list[pl.DataFrame] = []
    extras: list[pl.DataFrame] = []
    by_index = {i: (r, p) for i, r, p in files.accepted}
    parsed = [_parse_group(header, members, source, aliases) for header, members in files.groups.items()]
    parsed += [_parse_single(index, read, by_index[index][0].version.file_label) for index, read in files.singles]
    for results in parsed:
        for index, frame, extra in results:
            if isinstance(frame, FileRejected):
                record, path = by_index.pop(index)
                record.status, record.reason, record.rows_read = "rejected", str(frame), 0
                record.encoding = None
                files.rejected.append((record, path))
                continue
            parts.append(frame)
            if extra is not None:
                extras.append(extra)
    files.accepted = [(i, r, p) for i, r, p in files.accepted if i in by_index]
    return parts, extras


def _check_rows(sink: WarehouseSink, source: Source, files: _BatchFiles, parts: list[pl.DataFrame],
                window: _KeyWindow | None) -> _CheckedRows:
    """Type and validate the batch's rows in one pass: valid rows (with business_day and
    _source_file) and quarantined rows with their reasons; each record's loaded and quarantined counts."""
    checked = _CheckedRows()
    frames = [p for p in parts if p.height] or parts[:1]
    if not frames:
        return checked
    accepted = files.accepted
    batch_frame = pl.concat(frames, how="vertical", rechunk=False)
    if len(frames) > 1:
        batch_frame = batch_frame.sort("_file", "_row_number")
    stores = [re.fullmatch(source.file_pattern, p.name).groupdict().get("store") for _, _, p in accepted]
    file_ctx = pl.DataFrame({
        "_file": pl.Series([i for i, _, _ in accepted], dtype=pl.UInt32),
        "_file_day": pl.Series([r.version.business_day for _, r, _ in accepted], dtype=pl.Date),
        "_file_store": pl.Series(stores, dtype=pl.String),
    })
    batch_frame = batch_frame.join(file_ctx, on="_file", how="left", maintain_order="left")
    typed = parse_batch(batch_frame, source)
    del batch_frame
    result = check_batch(typed, source, _batch_context(sink, source, files, typed, window))
    del typed
    files_frame = pl.DataFrame({
        "_file": pl.Series([i for i, _, _ in accepted], dtype=pl.UInt32),
        "business_day": pl.Series([r.version.business_day for _, r, _ in accepted], dtype=pl.Date),
        "_source_file": [r.version.file_label for _, r, _ in accepted],
    })
    valid = result.valid.join(files_frame, on="_file", how="left", maintain_order="left").with_columns(
        pl.col("_row_number").cast(pl.Int32))
    quarantined = result.quarantined.join(
        files_frame.select("_file", pl.col("_source_file").alias("file_name")), on="_file",
        how="left", maintain_order="left")
    loaded_per_file = dict(valid.group_by("_file").len().iter_rows())
    bad_per_file = dict(quarantined.group_by("_file").len().iter_rows())
    if quarantined.height:
        for (index,), rows in quarantined.partition_by("_file", as_dict=True).items():
            counts: dict[str, int] = {}
            for reasons in rows.get_column("reasons"):
                for reason in reasons.split("; "):
                    counts[reason] = counts.get(reason, 0) + 1
            checked.reason_counts[index] = counts
            checked.first_bad[index] = list(rows.select("row_number", "reasons").head(5).iter_rows())
    for index, record, _ in accepted:
        record.rows_loaded = loaded_per_file.get(index, 0)
        record.rows_quarantined = bad_per_file.get(index, 0)
    checked.valid, checked.quarantined = valid, quarantined.drop("_file")
    return checked


def _batch_context(sink: WarehouseSink, source: Source, files: _BatchFiles, typed: pl.DataFrame,
                   window: _KeyWindow | None) -> BatchContext:
    """What the row rules need from outside the batch: known stores, keys already loaded, card states."""
    ctx = BatchContext()
    if source.store_column is not None:
        ctx.known_stores = sink.known_stores()
    if source.name in CROSS_FILE_UNIQUE:
        days = [r.version.business_day for _, r, _ in files.accepted if r.version.business_day]
        labels = [r.version.file_label for r in files.records]
        if window is not None and days and len(days) == len(files.accepted):
            ctx.existing_keys = window.lookup(typed.select(source.key), min(days), max(days), labels)
        else:
            ctx.existing_keys = sink.existing_keys(source, typed.select(source.key), labels)
    if source.name == "redemptions" and sink.has_rows("raw.members"):
        ctx.card_states = sink.card_states(
            typed.select("_file", pl.col("_row_number").cast(pl.UInt32), "card_no", "redeemed_at"))
    return ctx


def _write_side_files(files: _BatchFiles, quarantined: pl.DataFrame | None, quarantine_dir: Path) -> None:
    """The readable copies: each rejected file with its reason, each file's quarantined rows."""
    for record, path in files.rejected:
        _keep_rejected_file(path, record.version.file_label, quarantine_dir, record.reason)
    by_file = (dict(((k[0], v) for k, v in quarantined.partition_by("file_name", as_dict=True).items()))
               if quarantined is not None and quarantined.height else {})
    for _, record, _ in files.accepted:
        label = record.version.file_label
        if label in by_file or record.had_record:
            _write_quarantine_file(by_file.get(label), label, quarantine_dir)


def _outcomes(source: Source, files: _BatchFiles, checked: _CheckedRows) -> dict[str, LoadOutcome]:
    index_of = {id(r): i for i, r, _ in files.accepted}
    outcomes: dict[str, LoadOutcome] = {}
    for record in files.records:
        v = record.version
        if record.status == "rejected":
            outcome = LoadOutcome(v.file_label, source.name, v.business_day, "rejected",
                                  reason=record.reason, sha256=v.sha256)
        else:
            index = index_of[id(record)]
            outcome = LoadOutcome(
                v.file_label, source.name, v.business_day,
                "corrected" if record.replaces_sha256 else "loaded",
                rows_read=record.rows_read, rows_loaded=record.rows_loaded,
                rows_quarantined=record.rows_quarantined, reason_counts=checked.reason_counts.get(index, {}),
                first_bad_rows=checked.first_bad.get(index, []), extra_columns=record.extra_columns,
                encoding=record.encoding, sha256=v.sha256)
        outcomes[v.file_label] = outcome
    return outcomes


def _parse_group(header, members, source, aliases):
    """Parse the bodies of files sharing one header line as one CSV buffer.

    Row counts per file are the newline counts (no quotes, so no embedded
    newlines); if polars disagrees or fails, each file is parsed on its own.
    Rows with more or fewer fields than the header are found by counting commas
    (only when polars refused a long row or the total comma count is off).
    Yields (index, canonical frame with _file/_row_number/_fault/_raw_line, extra cells or None).
    """
    headers = header.decode("utf-8").rstrip("\r").split(",")
    renames, extra_cols, present = map_headers(headers, source, members[0][3], aliases)
    counts = np.array([m[2] for m in members], dtype=np.int64)
    body = b"".join(m[1] for m in members)
    text = header + b"\n" + body
    frame, strict_error = read_csv_cutting_long_rows(text)
    long_rows = strict_error is not None
    del text
    ok = frame is not None and frame.height == int(counts.sum()) and frame.columns == headers
    faults = None
    if ok and (long_rows or body.count(b",") != frame.height * (len(headers) - 1)):
        faults = ragged_rows(body, len(headers), frame.height)
        ok = faults is not None
    del body
    if not ok:
        for index, body, _, label in members:
            try:
                read = parse_csv(header + b"\n" + body, source, file_label=label, encoding="utf-8",
                                 aliases=aliases)
            except FileRejected as exc:
                yield index, exc, None
                continue
            yield from _parse_single(index, read, label)
        return
    indices = np.repeat(np.array([m[0] for m in members], dtype=np.uint32), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    row_numbers = (np.arange(int(counts.sum()), dtype=np.int64) - starts + 1).astype(np.uint32)
    extra = None
    if extra_cols:
        labels = pl.Series([m[3] for m in members]).gather(np.repeat(np.arange(len(members)), counts))
        extra = frame.select(
            labels.alias("file_name"), pl.Series("row_number", row_numbers.astype(np.int32)),
            pl.struct(extra_cols).struct.json_encode().alias("cells"))
    yield -1, canonical_frame(frame, source, renames, present).with_columns(
        pl.Series("_file", indices), pl.Series("_row_number", row_numbers),
        *_fault_columns(faults if faults is not None and faults.rows.size else None, frame.height)), extra


def _fault_columns(faults: RowFaults | None, height: int) -> list:
    """_fault (the reason) and _raw_line (the row as it arrived) for ragged rows, null elsewhere."""
    if faults is None:
        return [pl.lit(None, dtype=pl.String).alias("_fault"), pl.lit(None, dtype=pl.String).alias("_raw_line")]
    return [pl.repeat(None, height, dtype=pl.String, eager=True).scatter(faults.rows, faults.reasons)
            .alias("_fault"),
            pl.repeat(None, height, dtype=pl.String, eager=True).scatter(faults.rows, faults.lines)
            .alias("_raw_line")]


def _parse_single(index, read, label):
    n = read.frame.height
    extra = None
    if read.extra is not None and n:
        extra = read.extra.select(
            pl.lit(label).alias("file_name"), pl.Series("row_number", np.arange(1, n + 1, dtype=np.int32)),
            pl.struct(read.extra.columns).struct.json_encode().alias("cells"))
    yield index, read.frame.with_columns(
        pl.Series("_file", np.full(n, index, dtype=np.uint32)),
        pl.Series("_row_number", np.arange(1, n + 1, dtype=np.uint32)),
        *_fault_columns(read.faults, n)), extra


def _keep_rejected_file(path: Path, file_label: str, quarantine_dir: Path, reason: str) -> None:
    """Quarantine holds raw rows with PII: owner-only folders and files."""
    target = owner_only_dir(quarantine_dir / "files" / Path(file_label).parent, quarantine_dir) / path.name
    reason_file = target.with_name(target.name + ".reason.txt")
    with owner_only_umask():
        shutil.copyfile(path, target)
        reason_file.write_text(reason + "\n", encoding="utf-8")
    make_owner_only(target)
    make_owner_only(reason_file)


def _write_quarantine_file(quarantined: pl.DataFrame | None, file_label: str, quarantine_dir: Path) -> None:
    """A readable per-file quarantine report (file, row, reasons, raw row); owner-only."""
    target = owner_only_dir(quarantine_dir / "rows" / Path(file_label).parent, quarantine_dir) / (
        Path(file_label).name + ".quarantine.csv")
    if quarantined is None or quarantined.height == 0:
        target.unlink(missing_ok=True)
        return
    with owner_only_umask():
        quarantined.select(pl.col("file_name").alias("file"), "row_number", "reasons", "raw_row").write_csv(target)
    make_owner_only(target)
