"""OneRoster staging in dbt: real dbt runs on small bundles landed by the real connector.

The current state of an entity is its newest bulk batch plus every later delta batch, newest
version per sourcedId, deletions moved to stg_oneroster_csv__deletions; OneRoster 1.1 users
yield roles. Each test lands into its own folder and builds its own DuckDB file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interop_pipeline.config import PROJECT_ROOT
from interop_pipeline.connectors.oneroster_csv import land_oneroster_bundle
from interop_pipeline.transform.placeholders import ensure_api_source_placeholders
from tests.connectors.test_oneroster_csv import CHANGED, ROWS, bundle, csv_text, delta_bundle

SYSTEM = "oneroster_csv"
DBT = Path(sys.executable).parent / "dbt"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"  # as transform/dbt.py has it, without importing Dagster


@pytest.fixture(scope="module")
def dbt_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One target folder for the module, apart from the project's own: dbt parses once, then partially.
    return tmp_path_factory.mktemp("dbt_target")


def land(zip_path: Path, landing: Path, day: int):
    result = land_oneroster_bundle(
        zip_path,
        landing,
        source_system=SYSTEM,
        district_code="D001",
        max_uncompressed_bytes=10_000_000,
        extracted_at=datetime(2025, 9, day, 6, tzinfo=UTC),
    )
    assert result.rejects_by_rule == {}, result.rejects_by_rule
    return result


def dbt_build(tmp_path: Path, target: Path, *select: str) -> Path:
    warehouse = tmp_path / "build.duckdb"
    # The marts read the SIS through both channels; the REST one has not been walked here.
    ensure_api_source_placeholders(tmp_path / "landing", DBT_PROJECT_DIR / "models")
    env = {**os.environ, "INTEROP_LANDING_DIR": str(tmp_path / "landing"), "INTEROP_WAREHOUSE_PATH": str(warehouse)}
    args = [
        "build",
        "--select",
        *select,
        "--indirect-selection",
        "cautious",
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    run = subprocess.run(
        [str(DBT), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return warehouse


def build_staging(tmp_path: Path, target: Path) -> Path:
    # xwalk_sex: the seed a staging test (sex codes) reads.
    return dbt_build(tmp_path, target, "staging.oneroster_csv", "xwalk_sex")


def rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def ids(warehouse: Path, model: str, column: str) -> list[tuple]:
    return rows(warehouse, f"select {column}, batch_id from staging.{model} order by 1")


def test_bulk_then_delta_then_newer_bulk(tmp_path: Path, dbt_target: Path) -> None:
    landing = tmp_path / "landing"
    bulk = land(bundle(tmp_path, name="bulk.zip"), landing, day=1).batch_id
    delta_rows = {
        "users.csv": [
            f"u1,active,{CHANGED},true,ava.s,,Ava,Smith-Jones,,1001,,,,,03,,,,,,s1,",  # update
            f"u3,active,{CHANGED},true,bo.l,,Bo,Lee,,1003,,,,,04,,,,,,s1,",  # addition
            f"g1,tobedeleted,{CHANGED},,,,,,,,,,,,,,,,,,,",  # deletion
        ],
        "roles.csv": [f"r4,active,{CHANGED},u3,primary,student,,,s1,", f"r3,tobedeleted,{CHANGED},,,,,,,"],
    }
    delta = land(delta_bundle(tmp_path, delta_rows), landing, day=2).batch_id
    write_uncommitted_batch(landing, "users", "20991231T000000.000000Z-ffffffffffff", "ghost")

    warehouse = build_staging(tmp_path, dbt_target)
    assert ids(warehouse, "stg_oneroster_csv__users", "user_sourced_id") == [
        ("u1", delta),
        ("u2", bulk),
        ("u3", delta),
    ]
    assert rows(warehouse, "select last_name from staging.stg_oneroster_csv__users where user_sourced_id = 'u1'") == [
        ("Smith-Jones",)
    ]
    assert ids(warehouse, "stg_oneroster_csv__roles", "role_sourced_id") == [("r1", bulk), ("r2", bulk), ("r4", delta)]
    assert ids(warehouse, "stg_oneroster_csv__orgs", "org_sourced_id") == [("d1", bulk), ("s1", bulk)]  # absent
    assert rows(
        warehouse,
        "select entity, sourced_id, batch_id, date_last_modified from staging.stg_oneroster_csv__deletions order by 1",
    ) == [("roles", "r3", delta, CHANGED), ("users", "g1", delta, CHANGED)]

    # A newer bulk is the whole state again: the delta's changes and deletions are gone with it.
    users = [row for row in ROWS["users.csv"] if not row.startswith("u2,")]
    roles = [row for row in ROWS["roles.csv"] if not row.startswith("r2,")]
    enrollments = [row for row in ROWS["enrollments.csv"] if not row.startswith("e2,")]
    newer = bundle(
        tmp_path,
        name="newer_bulk.zip",
        users_csv=csv_text("users.csv", users),
        roles_csv=csv_text("roles.csv", roles),
        enrollments_csv=csv_text("enrollments.csv", enrollments),
    )
    replaced = land(newer, landing, day=3).batch_id
    warehouse = build_staging(tmp_path, dbt_target)
    assert ids(warehouse, "stg_oneroster_csv__users", "user_sourced_id") == [("g1", replaced), ("u1", replaced)]
    assert ids(warehouse, "stg_oneroster_csv__roles", "role_sourced_id") == [("r1", replaced), ("r3", replaced)]
    assert rows(warehouse, "select count(*) from staging.stg_oneroster_csv__deletions") == [(0,)]


def write_uncommitted_batch(landing: Path, entity: str, batch_id: str, sourced_id: str) -> None:
    """A file of a batch that never wrote its _batches record (a crash): staging must ignore it."""
    folder = landing / SYSTEM / entity
    table = pq.read_table(sorted(folder.glob("*.parquet"))[0]).slice(0, 1)
    for name, value in (("sourcedId", sourced_id), ("_batch_id", batch_id)):
        table = table.set_column(table.schema.get_field_index(name), name, pa.array([value]))
    pq.write_table(table, folder / f"{batch_id}.parquet")


def test_1_1_bundle_derives_roles_and_feeds_the_marts(tmp_path: Path, dbt_target: Path) -> None:
    land(bundle(tmp_path, name="hub_1_1.zip", version="1.1"), tmp_path / "landing", day=1)
    warehouse = dbt_build(tmp_path, dbt_target, "+fct_school_enrollment", "+dim_staff")

    assert rows(
        warehouse,
        """select role_sourced_id, user_sourced_id, role_type, role, org_sourced_id, begin_date
           from staging.stg_oneroster_csv__roles order by 1""",
    ) == [
        ("g1-s1", "g1", "primary", "guardian", "s1", None),
        ("u1-s1", "u1", "primary", "student", "s1", None),
        ("u2-d1", "u2", "primary", "teacher", "d1", None),
        ("u2-s1", "u2", "primary", "teacher", "s1", None),
    ]
    assert rows(
        warehouse, "select user_sourced_id, primary_org_sourced_id from staging.stg_oneroster_csv__users order by 1"
    ) == [("g1", "s1"), ("u1", "s1"), ("u2", None)]  # u2 has two orgs: no primary one
    assert rows(
        warehouse,
        """select d.sis_student_id, s.sis_school_id, f.sis_role_id
           from fct_school_enrollment f
           join dim_student d using (student_key)
           join dim_school s on f.school_key = s.school_key""",
    ) == [("u1", "s1", "u1-s1")]
    assert rows(warehouse, "select sis_staff_id, staff_role from dim_staff") == [("u2", "teacher")]
