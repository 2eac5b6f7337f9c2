"""Dagster's per-run SQLite event log, with each database's engine kept instead of rebuilt.

Dagster's `SqliteEventLogStorage` creates a SQLAlchemy engine, connects and disposes it for every
statement batch: about six times per event, 8-9 ms an event. A daily run writes about 930 events
(every dbt model and test is one or more), so at chain scale that was several seconds of a day.
This storage keeps one engine (and its pooled connection) per database file: the index and the
most recently used run databases, and syncs to disk at WAL checkpoints rather than at every
commit. Same files, same tables, same layout: a Dagster home written by either storage is read
by the other.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as db
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)

# The index, the run being written and the few a webserver page reads at once: more kept engines
# only keep more file handles open.
KEPT_RUN_DATABASES = 4


class KeptEngineSqliteEventLogStorage(SqliteEventLogStorage):
    """Same storage, one kept engine per database file (the least recently used run's is
    disposed). Connections are checked out under the parent's lock, one at a time, as before."""

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, db.engine.Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        super().__init__(base_dir, inst_data=inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        # the parent's builds its own class; same config ({base_dir}: the generated dagster.yaml
        # names <home>/history/runs, where Dagster's default storage keeps them)
        return cls(inst_data=inst_data, **config_value)

    def _engine(self, shard: str) -> db.engine.Engine:
        with self._engines_lock:
            engine = self._engines.get(shard)
            if engine is None:
                engine = db.create_engine(self.conn_string_for_shard(shard),
                                          connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
                db.event.listen(engine, "connect", _sync_at_checkpoints)
                self._engines[shard] = engine
            self._engines.move_to_end(shard)
            runs = [name for name in self._engines if name != INDEX_SHARD_NAME]
            for name in runs[:-KEPT_RUN_DATABASES]:
                self._engines.pop(name).dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.engine.Connection]:
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn:
                with conn.begin():
                    yield conn

    def has_table(self, table_name: str) -> bool:
        engine = self._engine(INDEX_SHARD_NAME)
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def _dispose_engines(self) -> None:
        with self._engines_lock:
            while self._engines:
                self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        self._dispose_engines()  # the run databases' files are deleted: no connection may outlive them
        super().wipe()

    def dispose(self) -> None:
        self._dispose_engines()
        super().dispose()


def _sync_at_checkpoints(dbapi_connection, _record) -> None:
    """Commits wait for the disk only at WAL checkpoints, not at each of the ~3,000 a run makes.
    The database stays consistent; a power cut (not a crashed process) may lose the last events,
    and a run they belonged to was cut off anyway (the run guard fails it at the next start)."""
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")
