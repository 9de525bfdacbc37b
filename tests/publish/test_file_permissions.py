"""Delivered files and the published warehouse are the pipeline user's alone (0600 in 0700)."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from interop_pipeline.assets.release import RELEASE_TABLES, publish_warehouse
from interop_pipeline.config import DistrictConfig
from interop_pipeline.publish.deliver import publish_recipient
from interop_pipeline.publish.roster import limited_memory, open_warehouse


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_delivered_file_and_its_folder_are_owner_only(publish_config: DistrictConfig) -> None:
    publish_recipient(publish_config, "university_study", now=datetime(2025, 9, 1, tzinfo=UTC))
    folder = publish_config.delivery_folder(publish_config.recipients["university_study"])
    [bundle] = folder.glob("*.zip")
    assert mode(bundle) == 0o600 and mode(folder) == 0o700


def test_the_published_warehouse_is_owner_only(tmp_path: Path) -> None:
    build = tmp_path / "build.duckdb"
    with duckdb.connect(str(build)) as con:
        for table in RELEASE_TABLES:
            con.execute(f"create table main.{table} as select 1 as key")
    published = tmp_path / "published" / "warehouse.duckdb"
    publish_warehouse(build, published, "run-1")
    assert mode(published) == 0o600 and mode(published.parent) == 0o700
    assert [p.name for p in published.parent.iterdir()] == ["warehouse.duckdb"]


def test_the_release_counts_within_dbts_memory_limit_and_leaves_no_spill(tmp_path: Path, monkeypatch) -> None:
    """The release's count of every view reads as much as the views do: it is held to the memory
    dbt is told (INTEROP_DUCKDB_MEMORY_LIMIT) and spills beside the staged copy, under a name the
    recovery of a killed run removes; nothing of it remains after the release."""
    build = tmp_path / "build.duckdb"
    with duckdb.connect(str(build)) as con:
        for table in RELEASE_TABLES:
            con.execute(f"create table main.{table} as select 1 as key")
        con.execute("create table main.wide as select range as i, md5(range::varchar) as s from range(3000000)")
        con.execute("create view main.grouped as select s, count(*) as n from main.wide group by s order by s")
    monkeypatch.setenv("INTEROP_DUCKDB_MEMORY_LIMIT", "300MB")
    with duckdb.connect(str(build), read_only=True, config=limited_memory()) as con:
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    with open_warehouse(str(build)) as con:  # every extract's and the rostering server's reads too
        assert con.execute("select current_setting('memory_limit')").fetchone()[0] == "286.1 MiB"
    published = tmp_path / "published" / "warehouse.duckdb"
    assert publish_warehouse(build, published, "run-1")["grouped"] == 3_000_000
    assert [p.name for p in published.parent.iterdir()] == ["warehouse.duckdb"]
