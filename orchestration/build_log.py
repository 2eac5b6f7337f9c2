"""What the last successful dbt build covered (dbt macros/change_record.sql writes meta.build_log).

The orchestrator reads it for one question only: is the warehouse already built for this day,
with this program, from every load record there is? Then a run has nothing to rebuild. Which
days and members changed is dbt's to derive (int_days_to_rebuild), never Python's.
"""

from __future__ import annotations

import json
from datetime import date

import duckdb

# dbt stops a run at its start with this marker when only a full rebuild can be right
# (the as-of date moved back, the program changed, a built day lost all its lines).
FULL_REFRESH_REQUIRED = "FULL_REFRESH_REQUIRED"


def latest_build(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> dict | None:
    """The latest successful build as {"as_of_date", "loaded_through"} (ISO text), or None."""
    prefix = f"{catalog}." if catalog else ""
    has_log = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' AND table_name = "
                          "'build_log' AND database_name = coalesce(?, current_database())", [catalog]).fetchall()[0][0]
    if not has_log:
        return None
    rows = con.execute(f"SELECT as_of_date::VARCHAR, loaded_through::VARCHAR FROM {prefix}meta.build_log "
                       "ORDER BY finished_at DESC LIMIT 1").fetchall()
    return {"as_of_date": rows[0][0], "loaded_through": rows[0][1]} if rows else None


def is_up_to_date(con: duckdb.DuckDBPyConnection, as_of: date, program: dict) -> bool:
    """True when the latest successful build was for `as_of` under `program`, no load record
    was written after it and no build started after it."""
    has_log = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                          "AND table_name = 'build_log'").fetchall()[0][0]
    if not has_log:
        return False
    rows = con.execute("SELECT as_of_date, loaded_through, program_json FROM meta.build_log "
                       "ORDER BY finished_at DESC LIMIT 1").fetchall()
    if not rows:
        return False
    built_as_of, loaded_through, program_json = rows[0]
    latest_load = con.execute("SELECT max(loaded_at) FROM raw.ingested_files").fetchall()[0][0]
    return (built_as_of == as_of and json.loads(program_json) == program
            and latest_load == loaded_through and not _unfinished_build_since_last(con))


def _unfinished_build_since_last(con: duckdb.DuckDBPyConnection) -> bool:
    """A dbt build started after the latest successful one finished (meta.build_attempts): it stopped
    half-way and may have written part of another day's tables."""
    has_attempts = con.execute("SELECT count(*) FROM duckdb_tables() WHERE schema_name = 'meta' "
                               "AND table_name = 'build_attempts'").fetchall()[0][0]
    return bool(has_attempts) and con.execute(
        "SELECT count(*) FROM meta.build_attempts "
        "WHERE started_at > (SELECT max(finished_at) FROM meta.build_log)").fetchall()[0][0] > 0
