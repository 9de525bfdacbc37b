"""Dagster's run history (SQLite files under the district's Dagster home) written without a
disk flush per event.

A run writes thousands of events (every planned and reported materialization and check), each a
transaction of its own; with SQLite's default `synchronous=FULL` each waits for the disk, which
made creating a run (721 planned events for the demo district) alone take several seconds.
Dagster keeps these files in WAL mode, where `synchronous=NORMAL` is SQLite's own advice: a
process that dies (a kill, a crash) loses nothing, and a power cut can lose the last events but
never corrupts a file; the start-up recovery then marks the run failed (recovery.py).

Registered for every SQLAlchemy engine in the process on import (the CLI and the code that
Dagster loads with the definitions); DuckDB does not go through SQLAlchemy. The import also has
the event log keep a connection per database (event_log.py).
"""

from __future__ import annotations

import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

from interop_pipeline.event_log import keep_connections


@event.listens_for(Engine, "connect")
def _flush_at_checkpoints_only(dbapi_connection, connection_record) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        dbapi_connection.execute("PRAGMA synchronous=NORMAL")


keep_connections()
