"""Dagster's run history commits without a disk flush per event (interop_pipeline/run_history.py) and
keeps a connection per database (interop_pipeline/event_log.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import sqlalchemy
from dagster import AssetKey, DagsterInstance, asset, materialize
from dagster._core.instance.ref import InstanceRef
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy import create_engine

import interop_pipeline.run_history  # noqa: F401  (installs both)
from interop_pipeline import event_log
from interop_pipeline.cli import DAGSTER_YAML_TEMPLATE

NORMAL = 1  # PRAGMA synchronous: 0 OFF, 1 NORMAL, 2 FULL (SQLite's default)


def test_the_instances_sqlite_storage_commits_with_synchronous_normal_in_wal_mode(tmp_path) -> None:
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        with instance.event_log_storage.index_connection() as connection:
            assert connection.execute(sqlalchemy.text("PRAGMA synchronous")).scalar() == NORMAL
            assert connection.execute(sqlalchemy.text("PRAGMA journal_mode")).scalar() == "wal"


def _instance_home(tmp_path: Path) -> Path:
    """A Dagster home with the project's dagster.yaml, as the CLI gives each district."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DAGSTER_YAML_TEMPLATE, home / "dagster.yaml")
    return home


def _open(home: Path) -> DagsterInstance:
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


@asset
def numbers() -> int:
    return 7


@asset
def doubled(numbers: int) -> int:
    return numbers * 2


def test_the_event_log_keeps_a_connection_per_database_where_dagster_keeps_its_files(tmp_path, monkeypatch):
    """Dagster's own storage, opened by folder (no DAGSTER_HOME needed): events go where they
    always went and read back whole from a fresh instance; the run's database and the index are
    each opened through one engine, however many events."""
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = _instance_home(tmp_path)
    with _open(home) as instance:
        assert type(instance.event_log_storage) is SqliteEventLogStorage
        opened = []
        monkeypatch.setattr(event_log, "create_engine", lambda *a, **k: opened.append(a[0]) or create_engine(*a, **k))
        result = materialize([numbers, doubled], instance=instance)
        assert result.success
        run_id = result.run_id
        names = [url.rsplit("/", 1)[1] for url in opened]
        assert f"{run_id}.db" in names and set(names) <= {f"{run_id}.db", "index.db"}
        assert len(names) == len(set(names))  # one engine per database, not one per event
    assert (home / "history" / "runs" / f"{run_id}.db").exists()
    with _open(home) as reader:
        events = reader.all_logs(run_id)
        assert len(events) > 20 and reader.get_latest_materialization_event(AssetKey("doubled")) is not None


def test_a_forked_process_opens_its_own_connections(tmp_path):
    home = _instance_home(tmp_path)
    with _open(home) as instance:
        assert materialize([numbers], instance=instance).success
        parents = dict(instance.event_log_storage._kept_engines)
        child = os.fork()
        if child == 0:  # the child stores a run of its own, then leaves without cleanup
            ok = materialize([numbers], instance=instance).success
            mine = instance.event_log_storage._kept_engines
            os._exit(0 if ok and not set(mine.values()) & set(parents.values()) else 1)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert materialize([numbers], instance=instance).success  # the parent's connections still work
    with _open(home) as reader:
        assert len(reader.get_run_records()) == 3
