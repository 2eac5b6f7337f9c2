"""The BI serving copy: marts only (masked PII), refreshed atomically (no Dagster here).

DuckDB lets one process write a database file, and a dashboard holding the
warehouse open would block the morning run. BI tools open
`serving/marts.duckdb` instead: a new file is built beside it and renamed over
it, so an open reader keeps the old file until it reconnects.

The new file starts from the copy before the current one (the spare, kept as a hard link when
it was replaced) when no reader still holds it open (DuckDB's file lock tells) and the changes
since it are on record; else from a byte copy of the current one (2.6 GB at 1M members, 1-4 s a
day). Only what changed is then re-copied: tables with a `business_day` column re-copy the days the warehouse's record of
what changed lists (dbt `meta.int_days_to_rebuild`, when the copy mirrors the build just
before; a daily run changes a few days of a 50M-line fact), the month-end history (a
`month_end` column) the month-ends it evaluated (`meta.int_month_ends_to_evaluate`: none
mid-month, the new one on the first of a month), the other tables whole unless their content
fingerprint (kept in the copied table's comment, so it cannot disagree with the copy) is the
warehouse table's. A copy that mirrors another build, or none, is copied whole. The result
equals a full copy.
Which build the copy mirrors is kept beside it (marts.state.json), written after the rename;
marts.changes.json holds the business days and month-ends it changed against the build before
(what the spare lacks), marts.spare.state.json the build the spare mirrors.

The Parquet version beside it re-writes the same days and month-ends (serving_parquet.py).

The file is written in the storage format of LOYALTY_SERVING_STORAGE_VERSION (default
v1.4.0), which DuckDB 1.4 LTS and 1.5 engines (bundled by most BI drivers) can open. A previous
copy in another format is not reused: the new one starts empty.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb

from orchestration.build_log import latest_build
from orchestration.serving_parquet import (
    DAY_COLUMN, MONTH_END_COLUMN, partition_column, publish_parquet_version, published_build,
    write_parquet_version,
)
from orchestration.settings import duckdb_config, serving_storage_version

# Only the warehouse's `marts` schema is served (never raw, staging, intermediate or
# restricted: they hold full PII). Its tables land in the copy's `main` schema: the file
# is named marts.duckdb, so `marts.tier_list` resolves to them without ambiguity.
SERVED_SCHEMA = "marts"
SERVING_FILE = "marts.duckdb"
STATE_FILE = "marts.state.json"  # the build (as-of date, load horizon) the copy mirrors
CHANGES_FILE = "marts.changes.json"  # the partitions the copy changed against the build before it
SPARE_FILE = "marts.spare.duckdb"  # the copy before the current one: the next refresh patches it
SPARE_STATE_FILE = "marts.spare.state.json"  # the build the spare mirrors
COPY_ALIAS = "serving"
# Marts whose first rows the serving_copy asset shows in the UI (masked columns only, like
# every served table); PREVIEW_ROWS rows each, ordered by their first column.
PREVIEWED_MARTS = ("tier_list", "customer_pyramid", "lapsed_customers")
PREVIEW_ROWS = 5
# A table copied whole carries this comment and its content fingerprint in the copy.
FINGERPRINT_COMMENT = "loyalty-warehouse content fingerprint "


@dataclass
class ServingRefresh:
    counts: dict[str, int] = field(default_factory=dict)  # rows per served table
    days_recopied: dict[str, list] = field(default_factory=dict)  # table -> business days re-copied
    month_ends_recopied: dict[str, list] = field(default_factory=dict)  # table -> month-ends re-copied
    tables_copied: list[str] = field(default_factory=list)  # tables copied whole
    tables_unchanged: list[str] = field(default_factory=list)  # whole tables whose content was the copy's
    parquet_unchanged: list[str] = field(default_factory=list)  # whole tables the published copy already had
    from_spare: bool = False  # patched the spare (no byte copy of the current file)
    changes: dict | None = None  # the partitions the warehouse's record listed (None: copied whole)
    storage_version: str = ""  # the file's DuckDB storage format, e.g. "v1.4.0+"
    parquet_dir: Path | None = None  # the Parquet version published with this copy
    already_level: bool = False  # the copy mirrored the warehouse's latest build: nothing rewritten


def refresh_serving_copy(warehouse_path: Path, serving_dir: Path,
                         storage_version: str | None = None) -> ServingRefresh:
    """Bring serving/marts.duckdb (and serving/parquet/) level with the warehouse's marts."""
    storage_version = storage_version or serving_storage_version()
    serving_dir.mkdir(parents=True, exist_ok=True)
    target = serving_dir / SERVING_FILE
    tmp = serving_dir / f"next_copy_{os.getpid()}.duckdb"
    probe = serving_dir / f"format_probe_{os.getpid()}.duckdb"
    next_spare = serving_dir / f"next_spare_{os.getpid()}.duckdb"
    leftovers = (tmp, Path(f"{tmp}.wal"), probe, Path(f"{probe}.wal"), next_spare)
    for leftover in leftovers:
        leftover.unlink(missing_ok=True)
    parquet_version, published = None, False
    level = _already_level(warehouse_path, serving_dir, storage_version)
    if level is not None:
        return level
    try:
        # The warehouse's memory limit and threads (DuckDB's default is 80% of RAM); big copies
        # spill to a temp directory beside the new file.
        with duckdb.connect(config={**duckdb_config(), "temp_directory": f"{tmp}.tmp"}) as con:
            wanted = _storage_format(con, probe, storage_version)
            carried = _start_from_spare(con, serving_dir, tmp, wanted, storage_version)
            if carried is None:
                # A cleanly closed copy has no WAL; with one, the bytes alone are not the copy: start empty.
                if target.exists() and not Path(f"{target}.wal").exists():
                    shutil.copyfile(target, tmp)  # never written in place: open readers keep the old file
                    if _storage_format(con, tmp) != wanted:  # the setting changed: rebuild in the new format
                        tmp.unlink()
                _attach(con, tmp, COPY_ALIAS, storage_version)
            con.execute(f"USE {COPY_ALIAS}")
            mirrored = mirrored_build(serving_dir) if tmp.exists() and target.exists() else None
            result, build = _bring_level(con, warehouse_path, mirrored, carried, target)
            result.storage_version = wanted
            result.from_spare = carried is not None
            parquet_version = write_parquet_version(
                con, COPY_ALIAS, serving_dir, build, mirrored,
                {**result.days_recopied, **result.month_ends_recopied}, result.parquet_unchanged)
            con.execute("USE memory")
            con.execute(f"DETACH {COPY_ALIAS}")
        # The current copy becomes the spare; its state is written only once it is in place (a crash
        # in between leaves a spare without state: never patched, the next refresh byte-copies).
        (serving_dir / SPARE_STATE_FILE).unlink(missing_ok=True)
        (serving_dir / CHANGES_FILE).unlink(missing_ok=True)
        previous = mirrored_build(serving_dir)
        if target.exists() and not Path(f"{target}.wal").exists() and previous is not None:
            os.link(target, next_spare)
            os.replace(next_spare, serving_dir / SPARE_FILE)
            (serving_dir / SPARE_STATE_FILE).write_text(json.dumps(previous, sort_keys=True))
        os.replace(tmp, target)
        _write_state(serving_dir, build)  # after the rename: a crash before leaves an older state (a whole copy)
        if result.changes is not None and previous is not None:
            (serving_dir / CHANGES_FILE).write_text(json.dumps(
                {"from": previous, "to": build, "partitions": result.changes}, sort_keys=True, default=str))
        result.parquet_dir = publish_parquet_version(serving_dir, parquet_version)
        published = True
    finally:
        if parquet_version is not None and not published:
            shutil.rmtree(parquet_version, ignore_errors=True)  # written, never published
        for leftover in leftovers:  # still there only if the refresh failed (2 GB at chain scale)
            leftover.unlink(missing_ok=True)
        shutil.rmtree(f"{tmp}.tmp", ignore_errors=True)
    return result


def _start_from_spare(con: duckdb.DuckDBPyConnection, serving_dir: Path, tmp: Path, wanted: str,
                      storage_version: str) -> dict[str, list] | None:
    """Attach the spare as the new copy (renamed to `tmp`) when it can be patched: it mirrors the
    build the current copy's changes are recorded from, in the wanted format, closed cleanly, and
    no reader holds it (a BI tool that opened it before the last refresh: DuckDB's file lock makes
    the read-write ATTACH fail). Returns the partitions the current copy changed since the spare
    (to re-copy as well), or None (nothing attached: start from a byte copy)."""
    spare, spare_state = serving_dir / SPARE_FILE, serving_dir / SPARE_STATE_FILE
    try:
        spare_build = json.loads(spare_state.read_text())
        changes = json.loads((serving_dir / CHANGES_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not spare.exists() or Path(f"{spare}.wal").exists() or changes.get("from") != spare_build \
            or changes.get("to") != mirrored_build(serving_dir):
        return None
    spare_state.unlink()  # from here the spare is being rewritten: never taken for its old build
    os.replace(spare, tmp)
    try:
        if _storage_format(con, tmp) != wanted:
            raise duckdb.Error("another storage format")
        _attach(con, tmp, COPY_ALIAS, storage_version)
    except duckdb.Error:  # held open by a reader, another format, unreadable: leave it to its reader
        tmp.unlink()
        return None
    return changes["partitions"]


def _published_fingerprints(con: duckdb.DuckDBPyConnection, target: Path) -> dict[str, tuple]:
    """table -> (columns, recorded fingerprint) of the current copy: the Parquet version published
    with it holds those tables (read-only: readers may hold it)."""
    if not target.exists() or Path(f"{target}.wal").exists():
        return {}
    escaped = str(target).replace("'", "''")
    con.execute(f"ATTACH '{escaped}' AS published (READ_ONLY)")
    try:
        columns = _columns(con, "published", "main")
        return {table: (columns[table], _recorded_fingerprint(con, "published", table)) for table in columns}
    finally:
        con.execute("DETACH published")


def _already_level(warehouse_path: Path, serving_dir: Path, storage_version: str) -> ServingRefresh | None:
    """The copy as it is, when it mirrors the warehouse's latest build in the wanted format and its
    Parquet version is published (a rerun with nothing new); else None."""
    target, parquet = serving_dir / SERVING_FILE, serving_dir / "parquet"
    mirrored = mirrored_build(serving_dir)
    if mirrored is None or not target.exists() or Path(f"{target}.wal").exists() \
            or published_build(serving_dir) != mirrored:
        return None
    with duckdb.connect(config=duckdb_config()) as con:
        escaped = str(warehouse_path).replace("'", "''")
        con.execute(f"ATTACH '{escaped}' AS warehouse (READ_ONLY)")
        build, changed = _changed_partitions(con, mirrored)
        if build != mirrored or changed is None or any(changed.values()):
            return None
        _attach(con, target, COPY_ALIAS, None)
        result = ServingRefresh(already_level=True, parquet_dir=parquet)
        result.storage_version = con.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                                             "WHERE database_name = ?", [COPY_ALIAS]).fetchall()[0][0]
        wanted = _storage_format(con, serving_dir / f"format_probe_{os.getpid()}.duckdb", storage_version)
        if result.storage_version != wanted:
            return None
        for (table,) in con.execute("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                                    "AND schema_name = 'main' ORDER BY 1", [COPY_ALIAS]).fetchall():
            result.counts[table] = con.execute(f'SELECT count(*) FROM {COPY_ALIAS}.main."{table}"').fetchall()[0][0]
        return result


def _storage_format(con: duckdb.DuckDBPyConnection, path: Path, storage_version: str | None = None) -> str:
    """The storage format tag ("v1.4.0+") of a database file; of a new, deleted again, given a version."""
    _attach(con, path, "format_probe", storage_version)
    try:
        return con.execute("SELECT tags['storage_version'] FROM duckdb_databases() "
                           "WHERE database_name = 'format_probe'").fetchall()[0][0]
    finally:
        con.execute("DETACH format_probe")
        if storage_version is not None:
            path.unlink(missing_ok=True)


def _attach(con: duckdb.DuckDBPyConnection, path: Path, alias: str, storage_version: str | None) -> None:
    """ATTACH a database file; a new file gets the storage format of storage_version."""
    escaped = str(path).replace("'", "''")
    if storage_version is None:
        con.execute(f"ATTACH '{escaped}' AS {alias}")
        return
    try:
        con.execute(f"ATTACH '{escaped}' AS {alias} (STORAGE_VERSION '{storage_version.replace(chr(39), '')}')")
    except duckdb.InvalidInputException as exc:
        raise ValueError(f"LOYALTY_SERVING_STORAGE_VERSION={storage_version!r} is not a storage "
                         f"version DuckDB {duckdb.__version__} can write: {exc}") from exc


def _bring_level(con: duckdb.DuckDBPyConnection, warehouse_path: Path, mirrored: dict | None,
                 carried: dict[str, list] | None, target: Path) -> tuple[ServingRefresh, dict | None]:
    """Make the attached copy equal the warehouse's marts. `mirrored`: the build the current copy
    mirrors; `carried`: the partitions it changed against the spare, when the copy is the spare."""
    result = ServingRefresh()
    local = con.execute("SELECT current_database()").fetchall()[0][0]
    published = _published_fingerprints(con, target) if mirrored is not None else {}
    escaped = str(warehouse_path).replace("'", "''")
    con.execute(f"ATTACH '{escaped}' AS warehouse (READ_ONLY)")
    build, changed = _changed_partitions(con, mirrored)
    result.changes = changed
    if changed is not None and carried is not None:
        # both partition columns are dates (ISO strings in the changes file); a column the spare's
        # record lacks (written before the warehouse had it) is not derivable: its tables go whole
        changed = {column: sorted({*values, *(date.fromisoformat(value) for value in carried[column])})
                   for column, values in changed.items() if column in carried}
    source, copy = _columns(con, "warehouse", SERVED_SCHEMA), _columns(con, local, "main")
    for table in sorted(copy.keys() - source.keys()):
        con.execute(f'DROP TABLE "{local}".main."{table}"')
    for table, columns in sorted(source.items()):
        src, dst = f'warehouse.{SERVED_SCHEMA}."{table}"', f'"{local}".main."{table}"'
        column = partition_column(dict(columns))
        if changed is not None and copy.get(table) == columns and column in changed:
            _recopy_partitions(con, src, dst, column, changed[column])
            recopied = result.days_recopied if column == DAY_COLUMN else result.month_ends_recopied
            recopied[table] = changed[column]
        else:
            fingerprint = _fingerprint(con, src)
            if published.get(table) == (columns, fingerprint):
                result.parquet_unchanged.append(table)
            if copy.get(table) == columns and _recorded_fingerprint(con, local, table) == fingerprint:
                result.tables_unchanged.append(table)
            else:
                con.execute(f"DROP TABLE IF EXISTS {dst}")
                con.execute(f"CREATE TABLE {dst} AS SELECT * FROM {src}")
                con.execute(f"COMMENT ON TABLE {dst} IS '{FINGERPRINT_COMMENT}{fingerprint}'")
                result.tables_copied.append(table)
        result.counts[table] = con.execute(f"SELECT count(*) FROM {dst}").fetchall()[0][0]
    con.execute("DETACH warehouse")
    con.execute("CHECKPOINT")
    return result, build


def _changed_partitions(con: duckdb.DuckDBPyConnection, mirrored: dict | None) -> tuple[dict | None, dict | None]:
    """The warehouse's latest successful build, and what changed since the build the copy mirrors
    as {partition column: dates}: the business days and month-ends the record of what changed
    lists if it mirrors the build just before; none if it mirrors the latest; None (copy whole)
    otherwise. A warehouse without the month-end record gives no month-ends: those tables go whole."""
    tables = {row[0] for row in con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'warehouse' AND schema_name = 'meta'"
    ).fetchall()}
    build = latest_build(con, "warehouse")
    if build is None or not {"int_build_scope", "int_days_to_rebuild"} <= tables:
        return None, None
    records = {DAY_COLUMN: "SELECT business_day FROM warehouse.meta.int_days_to_rebuild ORDER BY 1"}
    if "int_month_ends_to_evaluate" in tables:
        records[MONTH_END_COLUMN] = "SELECT month_end FROM warehouse.meta.int_month_ends_to_evaluate ORDER BY 1"
    if mirrored == build:
        return build, {column: [] for column in records}
    scope = con.execute("SELECT as_of_date::VARCHAR, loaded_through::VARCHAR, previous_as_of_date::VARCHAR, "
                        "previous_loaded_through::VARCHAR FROM warehouse.meta.int_build_scope").fetchall()
    if not scope or {"as_of_date": scope[0][0], "loaded_through": scope[0][1]} != build \
            or {"as_of_date": scope[0][2], "loaded_through": scope[0][3]} != mirrored:
        return build, None
    return build, {column: [value for (value,) in con.execute(query).fetchall()]
                   for column, query in records.items()}


def _fingerprint(con: duckdb.DuckDBPyConnection, relation: str) -> str:
    """A table's content, summarised: its row count and two sums of 64-bit row hashes (the
    order of the rows does not matter, a repeated row does). 0.6 s for 9.6M rows."""
    rows, first, second = con.execute(
        f"SELECT count(*), coalesce(sum(hash(r)), 0), coalesce(sum(hash(r, 1)), 0) FROM {relation} AS r"
    ).fetchall()[0]
    return f"{rows}:{first}:{second}"


def _recorded_fingerprint(con: duckdb.DuckDBPyConnection, database: str, table: str) -> str | None:
    """The fingerprint a copied table carries in its comment (None when it has none)."""
    comments = con.execute("SELECT comment FROM duckdb_tables() WHERE database_name = ? "
                           "AND schema_name = 'main' AND table_name = ?", [database, table]).fetchall()
    comment = comments[0][0] if comments else None
    return comment[len(FINGERPRINT_COMMENT):] if comment and comment.startswith(FINGERPRINT_COMMENT) else None


def _recopy_partitions(con: duckdb.DuckDBPyConnection, src: str, dst: str, column: str, values: list) -> None:
    """Delete and re-insert the given business days or month-ends (literal parameters: the scans
    skip the row groups of other dates). A content fingerprint the table carried no longer
    describes it: it is dropped (a later whole-table comparison then copies it)."""
    if not values:
        return
    where = f'"{column}" IN ({", ".join("?" for _ in values)})'
    con.execute(f"DELETE FROM {dst} WHERE {where}", values)
    con.execute(f"INSERT INTO {dst} SELECT * FROM {src} WHERE {where}", values)
    con.execute(f"COMMENT ON TABLE {dst} IS NULL")


def mirrored_build(serving_dir: Path) -> dict | None:
    """The build the serving copy mirrors (its state file), None if unknown."""
    try:
        return json.loads((serving_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None


def _write_state(serving_dir: Path, build: dict | None) -> None:
    path = serving_dir / STATE_FILE
    if build is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(json.dumps(build, sort_keys=True))


def _columns(con: duckdb.DuckDBPyConnection, database: str, schema: str) -> dict[str, list[tuple]]:
    """Base tables (not views) of a schema -> [(column, type), ...] in column order."""
    rows = con.execute(
        "SELECT c.table_name, c.column_name, c.data_type FROM duckdb_columns() c "
        "JOIN duckdb_tables() t USING (database_name, schema_name, table_name) "
        "WHERE c.database_name = ? AND c.schema_name = ? "
        "ORDER BY c.table_name, c.column_index", [database, schema]).fetchall()
    tables: dict[str, list[tuple]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type))
    return tables


def markdown_preview(con: duckdb.DuckDBPyConnection, table: str, rows: int = PREVIEW_ROWS) -> str:
    """The first rows of a served table as a Markdown table (for the UI), with its row count."""
    cursor = con.execute(f'SELECT * FROM "{table}" ORDER BY 1 LIMIT {int(rows)}')
    columns = [description[0] for description in cursor.description]
    values = cursor.fetchall()
    total = con.execute(f'SELECT count(*) FROM "{table}"').fetchall()[0][0]

    def cell(value) -> str:
        return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")

    lines = [f"**{table}**: first {len(values)} of {total:,} rows", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(value) for value in row) + " |" for row in values]
    return "\n".join(lines)
