"""Dagster's run history commits without a disk flush per event (interop_pipeline/run_history.py)."""

from __future__ import annotations

import sqlalchemy
from dagster import DagsterInstance

import interop_pipeline.run_history  # noqa: F401

NORMAL = 1  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL (SQLite's default)


def test_the_instances_sqlite_storage_commits_with_synchronous_normal_in_wal_mode(tmp_path) -> None:
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        with instance.event_log_storage.index_connection() as connection:
            assert connection.execute(sqlalchemy.text("PRAGMA synchronous")).scalar() == NORMAL
            assert connection.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar() == "wal"
