"""A `--dirty` chain through ingestion: every damage the generator recorded ends up
where the contract says (quarantined with its reason, or the file rejected whole),
nothing else is lost, and every loaded row equals the clean chain's row."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingestion.contract import SOURCES
from ingestion.load import ingest_source
from sample_chain import generate_landing
from ingestion.sink import WarehouseSink

CHAIN = dict(members=300, days=75, stores=3, start=date(2025, 1, 1), seed=5)
KEY_COLS = "txn_id, line_no, store_id, txn_ts, card_no, sku, category, qty, unit_price, discount, net_amount"


def ingest_all(landing: Path, work: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(work / "w.duckdb"))
    sink = WarehouseSink(con, work / "lake")
    for source in SOURCES:
        ingest_source(sink, landing, source, None, quarantine_dir=work / "quarantine")
    return con


@pytest.fixture(scope="module", params=["utf-8", "gb18030"])
def chains(request, tmp_path_factory):
    encoding = request.param
    root = tmp_path_factory.mktemp(f"dirty-{encoding}")
    generate_landing(root / "clean", **CHAIN, encoding=encoding)
    generate_landing(root / "dirty", **CHAIN, encoding=encoding, dirty=True)
    (root / "wc").mkdir()
    (root / "wd").mkdir()
    clean = ingest_all(root / "clean", root / "wc")
    dirty = ingest_all(root / "dirty", root / "wd")
    manifest = json.loads((root / "dirty" / "dirty_manifest.json").read_text(encoding="utf-8"))
    yield encoding, clean, dirty, manifest, root
    clean.close()
    dirty.close()


def rows(con, sql, *params):
    return con.execute(sql, list(params)).fetchall()


def test_the_generator_made_every_kind_of_bad_input(chains):
    _, _, _, manifest, _ = chains
    kinds = {d["kind"] for d in manifest["damage"]}
    assert kinds >= {"bad_type", "net_mismatch", "wrong_day", "unknown_store", "duplicate_line",
                     "truncated", "utf16", "missing_column", "other_encoding", "resent_same_bytes",
                     "resent_gzip", "unknown_store_file", "late", "bad_points", "ragged"}
    assert manifest["not_applied"] == {}


def test_every_damaged_row_and_file_ends_up_where_the_contract_says(chains):
    encoding, _, con, manifest, root = chains
    table_of = {"pos": "raw.pos_lines", "members": "raw.members", "redemptions": "raw.redemptions"}
    for d in manifest["damage"]:
        table = table_of[d["file"].split("/")[0]]
        status, reason, enc, read, loaded, bad = rows(
            con, "SELECT status, reason, encoding, rows_read, rows_loaded, rows_quarantined "
                 "FROM raw.ingested_files WHERE file_name = ? AND status <> 'superseded'", d["file"])[0]
        in_table = rows(con, f"SELECT count(*) FROM {table} WHERE _source_file = ?", d["file"])[0][0]
        if d["expect"] == "rejected":
            assert status == "rejected" and d["reason"] in reason, d
            assert in_table == 0 and read == 0
            assert (root / "wd" / "quarantine" / "files" / d["file"]).exists()
        elif d["expect"] == "loaded":
            row_damage = sum(1 for x in manifest["damage"] if x["file"] == d["file"] and x["row"])
            assert status == "loaded" and bad == row_damage and in_table == loaded > 0, d
            if d["kind"] == "other_encoding":
                assert enc == d["encoding"]
        elif d.get("rows") == "all":
            assert status == "loaded" and loaded == 0 and bad == read > 0, d
            reasons = rows(con, "SELECT DISTINCT reasons FROM raw.quarantined_rows WHERE file_name = ?", d["file"])
            assert all(d["reason"] in r for (r,) in reasons), (d, reasons)
        else:
            [(reasons,)] = rows(con, "SELECT reasons FROM raw.quarantined_rows WHERE file_name = ? "
                                     "AND row_number = ?", d["file"], d["row"])
            assert d["reason"] in reasons, (d, reasons)
            assert rows(con, f"SELECT count(*) FROM {table} WHERE _source_file = ? AND _row_number = ?",
                        d["file"], d["row"])[0][0] == 0
    # nothing else was quarantined: every quarantined row is a recorded damage
    recorded = {(d["file"], d["row"]) for d in manifest["damage"] if d["row"] is not None}
    all_rows = {d["file"] for d in manifest["damage"] if d.get("rows") == "all"}
    unexpected = [(f, r) for f, r in rows(con, "SELECT file_name, row_number FROM raw.quarantined_rows")
                  if (f, r) not in recorded and f not in all_rows]
    assert unexpected == []


def test_every_file_reconciles(chains):
    _, _, con, _, _ = chains
    for source in ("pos_lines", "members", "redemptions", "stores", "products"):
        failing = rows(con, f"""
            SELECT f.file_name FROM raw.ingested_files f
            LEFT JOIN (SELECT _source_file, count(*) n FROM raw.{source} GROUP BY 1) t ON t._source_file = f.file_name
            LEFT JOIN (SELECT file_name, count(*) n FROM raw.quarantined_rows GROUP BY 1) q USING (file_name)
            WHERE f.source = ? AND f.status = 'loaded'
              AND (f.rows_read <> f.rows_loaded + f.rows_quarantined OR coalesce(t.n, 0) <> f.rows_loaded
                   OR coalesce(q.n, 0) <> f.rows_quarantined)""", source)
        assert failing == [], source


def test_loaded_rows_equal_the_clean_chain_and_only_damaged_rows_are_missing(chains):
    _, clean, dirty, manifest, root = chains
    for table in ("pos_lines", "members", "redemptions"):
        dirty.register(f"clean_{table}", clean.sql(f"SELECT * FROM raw.{table}").to_arrow_table())
    # every loaded dirty POS line is byte-for-byte a clean line of the same file and row
    cols = f"_source_file, _row_number, {KEY_COLS}, original_txn_id"
    assert rows(dirty, f"""SELECT count(*) FROM (SELECT {cols} FROM raw.pos_lines
                           EXCEPT ALL SELECT {cols} FROM clean_pos_lines)""") == [(0,)]
    missing = dict(rows(dirty, """SELECT c._source_file, count(*) FROM clean_pos_lines c
                                  ANTI JOIN raw.pos_lines d USING (txn_id, line_no) GROUP BY 1"""))
    expected: dict[str, int] = {}
    for d in manifest["damage"]:
        if not d["file"].startswith("pos/") or d["kind"] in ("duplicate_line", "resent_gzip",
                                                             "resent_same_bytes", "unknown_store_file"):
            continue
        if d["kind"] in ("utf16", "missing_column"):
            n = rows(clean, "SELECT rows_read FROM raw.ingested_files WHERE file_name = ?", d["file"])[0][0]
        elif d["kind"] == "truncated":
            n = 1 + d["rows_lost_after"]
        elif d["expect"] == "loaded":
            n = 0
        else:
            n = 1
        expected[d["file"]] = expected.get(d["file"], 0) + n
    assert missing == {f: n for f, n in expected.items() if n}
    for table in ("members", "redemptions"):
        lost = rows(dirty, f"SELECT count(*) FROM clean_{table} c ANTI JOIN raw.{table} d "
                           "USING (_source_file, _row_number)")[0][0]
        damaged = sum(1 for d in manifest["damage"] if d["file"].startswith(table.rstrip("s")) or
                      d["file"].startswith(table + "/"))
        assert lost == damaged
