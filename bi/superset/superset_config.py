"""Superset configuration for the loyalty warehouse (SUPERSET_CONFIG_PATH points here).

Superset's own state (metadata database, secret key) lives under
$LOYALTY_DATA_DIR/superset, next to the serving copy it reads; nothing of it is committed.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parents[2]
SUPERSET_STATE_DIR = Path(os.environ.get("LOYALTY_DATA_DIR") or _REPO_ROOT / "data").resolve() / "superset"


def _secret_key() -> str:
    """SUPERSET_SECRET_KEY, else a random key made once and kept owner-only beside the metadata."""
    if os.environ.get("SUPERSET_SECRET_KEY"):
        return os.environ["SUPERSET_SECRET_KEY"]
    key_file = SUPERSET_STATE_DIR / "secret_key"
    if not key_file.exists():
        SUPERSET_STATE_DIR.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = f"sqlite:///{SUPERSET_STATE_DIR / 'superset.db'}"

# Chart queries always read the current serving copy (it changes once a day): no result cache.
DATA_CACHE_CONFIG = {"CACHE_TYPE": "NullCache"}
# Analysts' queries go to the serving copy only; SQL Lab has no DML (the connection is
# read-only anyway, see bi/superset/assets/databases/).
PREVENT_UNSAFE_DB_CONNECTIONS = True
