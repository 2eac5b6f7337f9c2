"""Where things live, read from the environment once per call (no import-time branching)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
# The default loyalty program is dbt_project.yml's `vars: program` (its one place); LOYALTY_PROGRAM
# names another file holding a whole program (e.g. dbt_project/program/card_ladder.yml).
DBT_PROJECT_FILE = DBT_PROJECT_DIR / "dbt_project.yml"
# First business day the daily partitions offer (the UI lists one per day from it).
FIRST_BUSINESS_DAY_DEFAULT = "2024-01-01"
# DuckDB storage format of the BI serving copy: v1.4.0 files open in DuckDB 1.4 LTS, 1.5 and 2.x
# (most BI drivers bundle a 1.x engine); "latest" gives this DuckDB's newest format.
SERVING_STORAGE_VERSION_DEFAULT = "v1.4.0"
# LOYALTY_ENGINE: what builds the dbt models (README "Scale-out on Spark")
ENGINES = ("duckdb", "spark")
# LOYALTY_SPARK_METHOD: which spark_<method> output of dbt_project/profiles.yml the Spark engine uses
SPARK_METHODS = ("session", "thrift", "connect", "databricks")


@dataclass(frozen=True)
class Settings:
    landing_dir: Path
    data_dir: Path
    program_path: Path | None  # None: the default program (dbt_project.yml)
    engine: str = "duckdb"

    @property
    def warehouse_path(self) -> Path:
        return self.data_dir / "warehouse.duckdb"

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    @property
    def serving_dir(self) -> Path:
        return self.data_dir / "serving"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def lake_dir(self) -> Path:
        """Parquet copy of every validated landed file, for Spark and other readers."""
        return self.data_dir / "lake"

    @property
    def spark_snapshot_dir(self) -> Path:
        """Where a Spark build exports its marts (and meta, restricted) as Parquet for the gates,
        extracts and the serving copy (macros/raw_sources.sql)."""
        return self.data_dir / "spark_snapshot"


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    data_dir = Path(env.get("LOYALTY_DATA_DIR", "data")).resolve()
    engine = env.get("LOYALTY_ENGINE", "duckdb")
    if engine not in ENGINES:
        raise ValueError(f"LOYALTY_ENGINE={engine!r}: one of {', '.join(ENGINES)}")
    spark_method = env.get("LOYALTY_SPARK_METHOD", "session")
    if engine == "spark" and spark_method not in SPARK_METHODS:
        raise ValueError(f"LOYALTY_SPARK_METHOD={spark_method!r}: one of {', '.join(SPARK_METHODS)}")
    return Settings(
        engine=engine,
        landing_dir=Path(env.get("LOYALTY_LANDING_DIR", str(data_dir / "landing"))).resolve(),
        data_dir=data_dir,
        program_path=Path(env["LOYALTY_PROGRAM"]).resolve() if env.get("LOYALTY_PROGRAM") else None,
    )


def duckdb_config(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Bounded memory and threads for every warehouse connection (dbt's profile reads the same)."""
    env = os.environ if env is None else env
    return {
        "memory_limit": env.get("LOYALTY_DUCKDB_MEMORY_LIMIT", "2.5GB"),
        "threads": env.get("LOYALTY_DUCKDB_THREADS", "2"),
        "preserve_insertion_order": "false",
    }


def serving_storage_version(env: Mapping[str, str] | None = None) -> str:
    """LOYALTY_SERVING_STORAGE_VERSION: the DuckDB release whose storage format the serving copy uses."""
    env = os.environ if env is None else env
    return env.get("LOYALTY_SERVING_STORAGE_VERSION", SERVING_STORAGE_VERSION_DEFAULT)


def first_business_day(env: Mapping[str, str] | None = None) -> str:
    """The first daily partition. Read when the asset modules are imported: every asset's
    partitions definition is built from it in its decorator."""
    env = os.environ if env is None else env
    return env.get("LOYALTY_FIRST_BUSINESS_DAY", FIRST_BUSINESS_DAY_DEFAULT)


def schedule_hour(env: Mapping[str, str] | None = None) -> int:
    """Hour (0-23, the code location's time zone) the daily schedule runs yesterday's day."""
    env = os.environ if env is None else env
    value = env.get("LOYALTY_SCHEDULE_HOUR", "6")
    if not value.isdigit() or not 0 <= int(value) <= 23:
        raise ValueError(f"LOYALTY_SCHEDULE_HOUR={value!r}: an hour from 0 to 23")
    return int(value)


def load_program(path: Path | None) -> dict:
    """The loyalty program configuration (the rules' parameters) as a plain dict: the file at
    `path`, or dbt_project.yml's default program when None."""
    source = DBT_PROJECT_FILE if path is None else path
    try:
        document = yaml.safe_load(source.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"program configuration not found: {source}") from exc
    program = document["vars"]["program"] if path is None else document
    if not isinstance(program, dict):
        raise ValueError(f"{source}: the program configuration must be a YAML mapping")
    for key in ("points", "tiers", "pyramid", "lapsed"):
        if key not in program:
            raise ValueError(f"{source}: missing top-level key {key!r}")
    return program


def program_sha256(program: dict) -> str:
    """The program's fingerprint in the outbox manifest: of its content, not of a file's bytes."""
    return hashlib.sha256(json.dumps(program, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
