"""OneRoster staging in dbt: real dbt runs on small bundles landed by the real connector.

The current state of an entity is its newest bulk batch plus every later delta batch, newest
version per sourcedId, deletions moved to stg_oneroster_csv__deletions; OneRoster 1.1 users
yield roles; a user's local and state IDs come from userIds where a hub leaves the fields blank
(the hub district fixture). Each test lands into its own folder and builds its own DuckDB file.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interop_pipeline.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT
from interop_pipeline.connectors.conformance import CONFORMED_COLUMNS, CONFORMED_SOURCE, ConformingSinks
from interop_pipeline.connectors.landing import ensure_placeholders
from interop_pipeline.connectors.oneroster_csv import land_oneroster_bundle
from interop_pipeline.connectors.tabular import builtin_declarations, land_vendor_file, load_declaration
from interop_pipeline.identity.records import RECORD_COLUMNS
from interop_pipeline.identity.resolve import resolve
from interop_pipeline.transform.dbt_command import DBT_COMMAND
from interop_pipeline.transform.placeholders import ensure_source_placeholders
from tests.connectors.test_oneroster_csv import CHANGED, ROWS, bundle, csv_text, delta_bundle
from tests.hub_fixture import build_nwea_map_cdf, build_oneroster_bundle, copy_iready_exports

SYSTEM = "oneroster_csv"
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


def dbt_build(tmp_path: Path, target: Path, *select: str, exclude: tuple[str, ...] = ()) -> Path:
    """dbt builds `select` (less `exclude`) over the landing zone in tmp_path/landing."""
    warehouse = tmp_path / "build.duckdb"
    # The marts read the SIS through both channels; the REST one has not been walked here.
    ensure_source_placeholders(tmp_path / "landing", DBT_PROJECT_DIR / "models")
    env = {**os.environ, "INTEROP_LANDING_DIR": str(tmp_path / "landing"), "INTEROP_WAREHOUSE_PATH": str(warehouse)}
    args = [
        "build",
        "--select",
        *select,
        *(("--exclude", *exclude) if exclude else ()),
        "--indirect-selection",
        "cautious",
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
    ]
    run = subprocess.run(
        [str(DBT_COMMAND), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
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


# ------------------------------------------------------------------------------------------
# The hub district: identifier blank, the district's numbers in userIds
# ------------------------------------------------------------------------------------------

# Per student sourcedId of tests/fixtures/hub_district/oneroster/users.csv: (local, state) ID
# as its userIds item {Local:...} / {State:...} carries it (identifier is blank throughout).
HUB_STUDENT_IDS = {
    "stu-4f2a91": ("863", None),
    "stu-7b1c03": ("871", "6023118457"),
    "stu-2e9d44": ("874", None),
    "stu-9a0f17": ("880", "6023118502"),
    "stu-5c3e82": ("886", None),
    "stu-1d7b65": ("892", "6023118633"),
    "stu-8e4a20": ("905", None),
    "stu-3f6c58": ("771", "6019847210"),
    "stu-6a2d39": ("778", "6019847318"),
    "stu-0b8e71": ("783", None),
    "stu-4c5f06": ("790", "6019847455"),  # {State:...} before {Local:...}
    "stu-7d9a13": ("796", None),
    "stu-2a4b97": ("802", None),
    "stu-9f1e26": ("1012", "6019850117"),
    "stu-5e7c48": ("1019", None),
    "stu-1a3d72": ("1025", "6018733290"),
    "stu-8c6f35": ("1031", "6018733348"),
    "stu-3b0a84": ("1038", "6018733401"),
    "stu-6d8e59": ("1044", "6018733476"),
    "stu-0e2c67": ("1050", None),
}
HUB_STAFF_IDS = {"tch-a81f": "40112", "tch-c27d": "40187", "tch-e904": "40203"}
# A student the SIS sends with no usable district number: identifier blank, userIds holding an
# empty Local item and a type the district does not configure.
UNNUMBERED = (
    'stu-b70e15,,,true,org-s102,student,grace.hall,"{Local:},{Portal:88120}",Grace,Hall,,,'
    "grace.hall@students.phusd.org,,,,05,"
)
UNNUMBERED_DEMOGRAPHICS = "stu-b70e15,,,2015-04-30,female,false,false,false,false,true,false,false,US,CA,,"
MAP_ONLY = "1057"  # tested by NWEA at Bell Ridge, on no SIS roster


# The fixture's vendor quirks (its README): MAP's last record one optional field short, i-Ready's
# "Not Provided" reading difficulty indicator. Where the file engine does not read past them yet
# it refuses just those rows; no other row may be refused.
VENDOR_QUIRKS = {("field_count", None), ("type", "reading_difficulty_indicator")}


def land_vendor_file_of(system: str, path: Path, landing: Path) -> None:
    """Land one delivery with its system's built-in declarations, as the file-drop assets do."""
    declarations = [d for d in builtin_declarations().values() if d.system == system]
    result = land_vendor_file(
        path,
        declarations,
        landing,
        district_code="D001",
        max_uncompressed_bytes=10_000_000,
        row_sinks=ConformingSinks(),
    )
    refused = pq.read_table(landing / system / "_rejects" / f"{result.batch_id}.parquet").to_pylist()
    assert {(r["rule"], r["field"]) for r in refused} <= VENDOR_QUIRKS, refused


def ensure_vendor_placeholders(landing: Path) -> None:
    """Zero-row files for the declared vendor files nothing landed here (the person records read
    every vendor)."""
    state = load_declaration(DEFAULT_CONFIG_PATH.parent / "declared" / "state_summative.yaml")
    for declaration in [*builtin_declarations().values(), state]:
        ensure_placeholders(landing, declaration.system, {declaration.entity: declaration.output_columns})
    ensure_placeholders(landing, CONFORMED_SOURCE, CONFORMED_COLUMNS)


def test_hub_bundle_takes_local_and_state_ids_from_user_ids(tmp_path: Path, dbt_target: Path) -> None:
    landing = tmp_path / "landing"
    extra = {"users.csv": [UNNUMBERED], "demographics.csv": [UNNUMBERED_DEMOGRAPHICS]}
    result = land(build_oneroster_bundle(tmp_path, extra_rows=extra), landing, day=1)
    assert result.warnings == {"trailing_empty_fields": 5}
    land_vendor_file_of("nwea_map", build_nwea_map_cdf(tmp_path), landing)
    for export in copy_iready_exports(tmp_path / "iready"):
        land_vendor_file_of("iready", export, landing)
    ensure_vendor_placeholders(landing)
    warehouse = dbt_build(tmp_path, dbt_target, "+dim_student", "+dim_staff", "+int_person_records__students")

    # Every hub student has its district number from userIds; the one without still is a
    # student, keyed by its sourcedId (the not_null test on local_student_id only warns).
    students = rows(
        warehouse, "select sis_student_id, local_student_id, state_student_id, student_key from dim_student"
    )
    assert {sid: (local, state) for sid, local, state, _ in students} == {
        **HUB_STUDENT_IDS,
        "stu-b70e15": (None, None),
    }
    [(key,)] = rows(warehouse, "select student_key from dim_student where sis_student_id = 'stu-b70e15'")
    assert key == rows(warehouse, "select md5('D001|sis|stu-b70e15')")[0][0]
    assert len({k for *_, k in students}) == len(students)
    assert rows(warehouse, "select sis_staff_id, local_staff_id from dim_staff order by 1") == sorted(
        HUB_STAFF_IDS.items()
    )

    # Identity reads the same numbers: the SIS spine has a record for every student (the
    # unnumbered one too), and the vendors' StudentIDs resolve to them.
    records = person_records(warehouse)
    spine = {r["source_id"]: r["sis_id"] for r in records.to_pylist() if r["source_system"] == "sis"}
    assert spine == {sid: local for sid, (local, _) in HUB_STUDENT_IDS.items()} | {"stu-b70e15": None}
    crosswalk = resolve(records).crosswalk.to_pylist()
    person_of_local = {local: sid for sid, (local, _) in HUB_STUDENT_IDS.items()}
    vendors = [r for r in crosswalk if r["source_system"] != "sis"]
    assert sorted({r["source_system"] for r in vendors}) == ["iready", "nwea_map"]
    assert len([r for r in vendors if r["source_system"] == "nwea_map"]) == 16  # 15 rostered, 1 not
    assert len([r for r in vendors if r["source_system"] == "iready"]) == 12
    for r in vendors:
        if r["source_id"] == MAP_ONLY:
            assert r["person_key"] is None, r  # no SIS record to link to: unresolved
        else:
            assert (r["person_key"], r["method"]) == (person_of_local[r["source_id"]], "sis_local_id"), r


def person_records(warehouse: Path) -> pa.Table:
    """The students' person records the identity step reads, from the build warehouse."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        columns = ", ".join(RECORD_COLUMNS)
        return con.sql(f"select {columns} from main.int_person_records__students").to_arrow_table()
