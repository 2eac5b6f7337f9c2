"""`--dirty`: the bad input of data-contract.md, at realistic low rates.

Everything goes through `LandingWriter._emit`; `DirtyPlan.rows` damages rows of
a chunk before it is written and `DirtyPlan.file` damages or adds whole files.
Draws come from per-file random streams of the seed, so the same arguments give
the same bytes. Every damage is recorded (file, row, kind, the quarantine reason
ingestion must give, or "rejected"), and written to `<out>/dirty_manifest.json`
(outside the landing folders) so tests and people can check where each bad row
ended up.
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl

# Per-row rates (of POS lines, member rows, redemption rows).
ROW_RATES = {
    "pos_lines": {"bad_type": 0.0008, "net_mismatch": 0.0008, "wrong_day": 0.0005,
                  "unknown_store": 0.0003, "duplicate_line": 0.0008},
    "members": {"bad_date": 0.003},
    "redemptions": {"bad_points": 0.01},
}
# Whole-file damage: one of each kind per this many days (at least one each).
FILE_KINDS = ("truncated", "utf16", "missing_column", "other_encoding", "resent_same_bytes",
              "resent_gzip", "unknown_store_file", "late", "ragged")
DAYS_PER_FILE_KIND = 60

REASONS = {
    "bad_type": "qty: not a decimal",
    "net_mismatch": "net_amount: differs from qty*unit_price-discount",
    "wrong_day": "txn_ts: day differs from the file's day",
    "unknown_store": "store_id: unknown store (not in stores.csv)",
    "duplicate_line": "duplicate key (txn_id, line_no) within the file",
    "bad_date": "birth_date: not a date",
    "bad_points": "points: must be > 0",
    "resent_gzip": "duplicate key (txn_id, line_no) already loaded from another file",
    "unknown_store_file": "store_id: unknown store (not in stores.csv)",
}
UNKNOWN_STORE = "S999"


def _field_count_reason(line: bytes, header: bytes) -> str:
    """The quarantine reason ingestion gives a row with the wrong number of fields."""
    fields = line.count(b",") + 1
    return f"row: {fields} field{'s' if fields != 1 else ''}, header has {header.count(b',') + 1}"


def _stream(seed: int, name: str) -> np.random.Generator:
    return np.random.default_rng([seed, 97, zlib.crc32(name.encode())])


@dataclass
class DirtyPlan:
    seed: int
    start: date
    days: int
    encoding: str
    damage: list[dict] = field(default_factory=list)
    _file_days: dict[str, list[str]] = field(default_factory=dict)
    _rows_written: dict[str, int] = field(default_factory=dict)
    _seen_kinds: set[str] = field(default_factory=set)

    def __post_init__(self):
        rng = np.random.default_rng([self.seed, 98])
        per_kind = max(1, self.days // DAYS_PER_FILE_KIND)
        # days 1.. (day 0 may be the only day with data for the resent copies)
        candidates = np.arange(1, self.days) if self.days > 1 else np.arange(self.days)
        for kind in FILE_KINDS:
            for d in rng.choice(candidates, size=min(per_kind, len(candidates)), replace=False):
                tag = (self.start + timedelta(days=int(d))).strftime("%Y%m%d")
                self._file_days.setdefault(tag, []).append(kind)

    # -- rows ----------------------------------------------------------------------
    def rows(self, source_name: str, name: str, df: pl.DataFrame, file_day: str | None) -> pl.DataFrame:
        rates = ROW_RATES.get(source_name)
        if not rates or df.height == 0:
            return df
        df = df.with_columns(pl.all().cast(pl.String))
        offset = self._rows_written.get(name, 0)
        rng = _stream(self.seed, f"{name}:{offset}")
        kinds = list(rates)
        probs = np.array([rates[k] for k in kinds])
        draw = rng.random(df.height)
        edges = np.cumsum(probs)
        which = np.searchsorted(edges, draw, side="right")  # == len(kinds): undamaged
        # every kind at least once: in the first chunk where it can occur
        fresh = [k for k, kind in enumerate(kinds) if kind not in self._seen_kinds]
        free = np.flatnonzero(which == len(kinds))
        for k, i in zip(fresh, free[: len(fresh)] if len(free) >= len(fresh) else []):
            which[i] = k
        self._seen_kinds.update(kinds[k] for k in set(which[which < len(kinds)].tolist()))
        cols = {c: df.get_column(c).to_list() for c in df.columns}
        dup_rows: list[int] = []
        for i in np.flatnonzero(which < len(kinds)):
            kind = kinds[which[i]]
            if kind == "bad_type":
                cols["qty"][i] = "abc"
            elif kind == "net_mismatch":
                net = float(cols["net_amount"][i])
                cols["net_amount"][i] = f"{net + (1 if net >= 0 else -1):.2f}"
            elif kind == "wrong_day":
                day = date(int(file_day[:4]), int(file_day[4:6]), int(file_day[6:]))
                cols["txn_ts"][i] = (day - timedelta(days=1)).isoformat() + cols["txn_ts"][i][10:]
            elif kind == "unknown_store":
                cols["store_id"][i] = UNKNOWN_STORE
            elif kind == "duplicate_line":
                dup_rows.append(int(i))
                continue  # the copy (appended below) is the bad row
            elif kind == "bad_date":
                cols["birth_date"][i] = "1990-02-30"
            elif kind == "bad_points":
                cols["points"][i] = "-" + cols["points"][i]
            self._record(name, offset + int(i) + 1, kind)
        out = pl.DataFrame(cols, schema=df.schema)
        if dup_rows:
            out = pl.concat([out, out[dup_rows]])
            for k in range(len(dup_rows)):
                self._record(name, offset + df.height + k + 1, "duplicate_line")
        self._rows_written[name] = offset + out.height
        return out

    def _record(self, name: str, row: int | None, kind: str, **extra) -> None:
        self.damage.append({"file": name, "row": row, "kind": kind,
                            "expect": extra.pop("expect", "quarantined"),
                            "reason": extra.pop("reason", REASONS.get(kind)), **extra})

    # -- whole files -----------------------------------------------------------------
    def file(self, writer, source_name: str, name: str, path: Path) -> None:
        """After a file is written: maybe damage it, or add a bad sibling file."""
        if source_name != "pos_lines":
            return
        tag = name.split("_")[1]
        pending = self._file_days.get(tag)
        if not pending:
            return
        data = path.read_bytes()
        if data.count(b"\n") < 3:  # a quiet store: damage the next file of the day
            return
        kind = pending.pop(0)
        rel = f"pos/{name}"
        store = name.split("_")[2].split(".")[0]
        text_codec = "utf-8" if self.encoding == "utf-8" else "gb18030"
        if kind == "truncated":
            # cut inside data row `keep` (an undamaged one: copies of duplicated lines come last);
            # the rows after it never arrive, and the damage recorded for them goes with them
            lines = data.split(b"\n")
            dups = sum(1 for x in self.damage if x["file"] == rel and x["kind"] == "duplicate_line")
            clean_rows = len(lines) - 2 - dups
            keep = max(1, clean_rows // 2)
            path.write_bytes(b"\n".join(lines[:keep]) + b"\n" + lines[keep][:20])
            self.damage = [x for x in self.damage if not (x["file"] == rel and x["row"] and x["row"] >= keep)]
            self._record(rel, keep, kind, rows_lost_after=clean_rows - keep,
                         reason=_field_count_reason(lines[keep][:20], lines[0]))
        elif kind == "ragged":
            # one line with two extra fields (unquoted commas) and one cut to 9 fields, in an
            # otherwise good file: two bad rows, the rest loads
            lines = data.split(b"\n")
            rows = self._undamaged_unique_rows(rel, lines)
            if len(rows) < 2:
                pending.insert(0, kind)  # the next file of the day
                return
            long_row, short_row = rows[0], rows[len(rows) // 2]
            lines[long_row] += b",,"
            lines[short_row] = b",".join(lines[short_row].split(b",")[:9])
            path.write_bytes(b"\n".join(lines))
            for row in (long_row, short_row):
                self._record(rel, row, kind, reason=_field_count_reason(lines[row], lines[0]))
        elif kind == "utf16":
            path.write_bytes(data.decode(text_codec).encode("utf-16"))
            self._record(rel, None, kind, expect="rejected", reason="cannot decode")
        elif kind == "missing_column":
            frame = pl.read_csv(data.decode(text_codec).encode("utf-8"), infer_schema=False)
            path.write_bytes(writer._encode(frame.drop("sku").write_csv()))
            self._record(rel, None, kind, expect="rejected", reason="required column(s) missing: sku")
        elif kind == "other_encoding":  # GBK export in a UTF-8 landing, or a UTF-8+BOM one among GB18030
            text = data.decode(text_codec)
            path.write_bytes(text.encode("gb18030") if self.encoding == "utf-8"
                             else b"\xef\xbb\xbf" + text.encode("utf-8"))
            self._record(rel, None, kind, expect="loaded",
                         encoding="gb18030" if self.encoding == "utf-8" else "utf-8")
        elif kind == "resent_same_bytes":
            copy = path.with_name(f"pos_{tag}_{store}R.csv")
            copy.write_bytes(data)
            self._record(f"pos/{copy.name}", None, kind, expect="rejected", reason="same content as already loaded")
        elif kind == "resent_gzip":
            copy = path.with_name(f"pos_{tag}_{store}.csv.gz")
            copy.write_bytes(gzip.compress(data, mtime=0))
            self._record(f"pos/{copy.name}", None, kind, rows="all", reason=REASONS[kind])
        elif kind == "unknown_store_file":
            frame = pl.read_csv(data.decode(text_codec).encode("utf-8"), infer_schema=False)
            frame = frame.with_columns(
                pl.lit(UNKNOWN_STORE).alias("store_id"),
                pl.col("txn_id").str.replace(f"^{store}-", f"{UNKNOWN_STORE}-"),
                pl.col("original_txn_id").str.replace(f"^{store}-", f"{UNKNOWN_STORE}-"),
            )
            other = path.with_name(f"pos_{tag}_{UNKNOWN_STORE}.csv")
            other.write_bytes(writer._encode(frame.write_csv()))
            self._record(f"pos/{other.name}", None, kind, rows="all", reason=REASONS[kind])
        elif kind == "late":
            self._record(rel, None, kind, expect="loaded")
            self._late = getattr(self, "_late", []) + [path]

    def _undamaged_unique_rows(self, rel: str, lines: list[bytes]) -> list[int]:
        """Data rows (1-based) with no recorded damage whose key (txn_id, line_no) occurs once."""
        damaged = {x["row"] for x in self.damage if x["file"] == rel}
        keys = [b",".join(line.split(b",")[:2]) for line in lines]
        counts = Counter(keys)
        return [r for r in range(1, len(lines)) if lines[r] and r not in damaged and counts[keys[r]] == 1]

    def finish(self, out_dir: Path) -> Path:
        """Late files get the newest mtime (delivered after everything else); write the manifest."""
        import os
        import time

        now = time.time() + 60
        for path in getattr(self, "_late", []):
            os.utime(path, (now, now))
        manifest = out_dir / "dirty_manifest.json"
        unused = {tag: kinds for tag, kinds in self._file_days.items() if kinds}
        manifest.write_text(json.dumps({"damage": self.damage, "not_applied": unused},
                                       ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        return manifest
