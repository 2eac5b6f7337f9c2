"""Ingestion configuration: per-source encoding and header aliases, batch sizes.

Read from the YAML file named by `LOYALTY_INGESTION_CONFIG` (if set) on top of the
shipped `ingestion_config.yml`. The Chinese headers of the contract are not
configuration: they live in `contract.py` and always apply.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ingestion.contract import SOURCES_BY_NAME

DEFAULT_CONFIG_PATH = Path(__file__).with_name("ingestion_config.yml")
CONFIG_ENV = "LOYALTY_INGESTION_CONFIG"
ENCODINGS = ("auto", "utf-8", "gb18030")


@dataclass(frozen=True)
class SourceConfig:
    encoding: str = "auto"
    aliases: dict[str, str] = field(default_factory=dict)  # header -> canonical column
    # only files with a `<name>.done` marker are delivered (also for scheduled runs)
    require_done_marker: bool = False


@dataclass(frozen=True)
class IngestionConfig:
    sources: dict[str, SourceConfig] = field(default_factory=dict)
    batch_bytes: int = 64 << 20
    batch_files: int = 2000
    duplicate_window_days: int = 3

    def source(self, name: str) -> SourceConfig:
        return self.sources.get(name, SourceConfig())


def _normalise_encoding(value: str, where: str) -> str:
    value = str(value).strip().lower().replace("_", "-")
    value = {"utf8": "utf-8", "utf-8-sig": "utf-8", "gbk": "gb18030", "gb2312": "gb18030"}.get(value, value)
    if value not in ENCODINGS:
        raise ValueError(f"{where}: encoding must be one of {', '.join(ENCODINGS)} (or gbk), not {value!r}")
    return value


def parse_config(raw: Mapping, where: str = "ingestion config", base: IngestionConfig | None = None) -> IngestionConfig:
    base = base or IngestionConfig()
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: must be a YAML mapping")
    unknown = set(raw) - {"defaults", "sources", "batch_bytes", "batch_files", "duplicate_window_days"}
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {sorted(unknown)}")
    defaults = raw.get("defaults") or {}
    sources = dict(base.sources)
    for name in SOURCES_BY_NAME:
        sources.setdefault(name, SourceConfig())
    for name, entry in (raw.get("sources") or {}).items():
        if name not in SOURCES_BY_NAME:
            raise ValueError(f"{where}: unknown source {name!r} (one of {', '.join(SOURCES_BY_NAME)})")
        entry = entry or {}
        columns = {c.name for c in SOURCES_BY_NAME[name].columns}
        aliases = {str(k): str(v) for k, v in (entry.get("aliases") or {}).items()}
        bad = {k: v for k, v in aliases.items() if v not in columns}
        if bad:
            raise ValueError(f"{where}: {name}: aliases map to unknown column(s) {bad}")
        encoding = entry.get("encoding", defaults.get("encoding", sources[name].encoding))
        sources[name] = SourceConfig(
            encoding=_normalise_encoding(encoding, f"{where}: {name}"),
            aliases={**sources[name].aliases, **aliases},
            require_done_marker=bool(entry.get("require_done_marker", sources[name].require_done_marker)),
        )
    if "encoding" in defaults:  # sources not listed take the default too
        listed = set((raw.get("sources") or {}))
        for name in SOURCES_BY_NAME:
            if name not in listed:
                sources[name] = SourceConfig(_normalise_encoding(defaults["encoding"], where),
                                             sources[name].aliases, sources[name].require_done_marker)
    return IngestionConfig(
        sources=sources,
        batch_bytes=int(raw.get("batch_bytes", base.batch_bytes)),
        batch_files=int(raw.get("batch_files", base.batch_files)),
        duplicate_window_days=int(raw.get("duplicate_window_days", base.duplicate_window_days)),
    )


def _read_yaml(path: Path) -> Mapping:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise ValueError(f"ingestion configuration not found: {path}") from exc


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None) -> IngestionConfig:
    """Shipped defaults, overlaid with `path` or $LOYALTY_INGESTION_CONFIG when given."""
    env = os.environ if env is None else env
    # the shipped YAML only restates the dataclass defaults: an install without
    # package data still works
    shipped = _read_yaml(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else {}
    config = parse_config(shipped, str(DEFAULT_CONFIG_PATH))
    path = path or env.get(CONFIG_ENV)
    if path:
        config = parse_config(_read_yaml(Path(path)), str(path), base=config)
    return config
