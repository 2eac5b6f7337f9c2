"""Is a day already published from everything there is? (no Dagster here)

`loyalty run D` asks before starting a run: when the outbox of D was published from the
warehouse's latest build, that build is for D under the same program and gates configuration,
the serving copy (DuckDB file and Parquet) mirrors it, and no landing file is new or changed
since it was loaded, a run would rewrite the same bytes. The answer reuses the build log
(orchestration/build_log.py) and ingestion's own test of what is new (files_to_load); it never
derives which days or members changed.
"""

from __future__ import annotations

import json
from datetime import date

import duckdb

from ingestion.config import load_config
from ingestion.contract import SOURCES
from ingestion.fingerprint import file_sha256
from ingestion.load import LandingDirectoryMissing, files_to_load
from ingestion.sink import current_versions
from orchestration.build_log import is_up_to_date, latest_build
from orchestration.serving import mirrored_build
from orchestration.serving_parquet import published_build
from orchestration.settings import Settings, load_program, program_sha256
from quality.gates import gates_config_path


def gates_sha256() -> str:
    return file_sha256(gates_config_path())


def already_published(settings: Settings, as_of: str) -> str | None:
    """Why nothing is left to do for day `as_of` (one line), or None when a run is needed."""
    try:
        manifest = json.loads((settings.outbox_dir / as_of / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (manifest.get("program_sha256") != program_sha256(load_program(settings.program_path))
            or manifest.get("gates_sha256") != gates_sha256()):
        return None
    if not settings.warehouse_path.exists():
        return None
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.Error:  # another run is writing it: let the run wait for its turn
        return None
    with con:
        build = latest_build(con)
        if (build is None or build != manifest.get("build")
                or not is_up_to_date(con, date.fromisoformat(as_of), load_program(settings.program_path))):
            return None
        config = load_config()
        for source in SOURCES:
            try:
                pending, _ = files_to_load(current_versions(con, source), settings.landing_dir, source,
                                           date.fromisoformat(as_of), config.source(source.name).require_done_marker)
            except LandingDirectoryMissing:  # the run says so, with the path
                return None
            if pending:
                return None
    if mirrored_build(settings.serving_dir) != build or published_build(settings.serving_dir) != build:
        return None
    return (f"{as_of} is already published from the latest build (loaded through "
            f"{build['loaded_through']}) and no landing file is new or changed")
