"""End to end on a real-shaped district (tests/fixtures/hub_district/): a rostering hub's
OneRoster 1.1 bundle with its everyday quirks, a MAP Growth CDF whose last record is short and
i-Ready exports with `Not Provided` flags; three systems only, no attendance, no state file, no
REST API. `interop-pipeline run` must release a warehouse, deliver a OneRoster 1.2 bundle that
passes the validator and load Ed-Fi with a result per record, and account for every input row.
Next to the good MAP file lies a later one cut inside a quoted field: it is refused and
quarantines its source, and the run still releases, with a failed check and the source reported
as quarantined (one run covers both: the whole job is the slow part). The run is
tests/conftest.py's `hub_run`, which the chaos test takes as its uninterrupted twin."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors.landing import read_batch_records
from interop_pipeline.publish.validator import validate_bundle
from interop_pipeline.transform.placeholders import source_names
from tests.district_build import DBT_PROJECT_DIR
from tests.hub_fixture import IREADY_DIR, NWEA_MAP_DIR, ONEROSTER_DIR, REFUSED_CDF

pytestmark = pytest.mark.e2e
CONFIGURED = {"oneroster_csv", "nwea_map", "iready"}


def data_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def query(config, sql: str) -> list[tuple]:
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_the_hub_district_is_released_with_every_student_keyed(hub_run):
    config, result = hub_run
    assert "Published warehouse" in result.stdout
    students = query(config, "select local_student_id, state_student_id from dim_student")
    assert len(students) == data_rows(ONEROSTER_DIR / "demographics.csv") == 20
    # The hub leaves `identifier` blank: the district number comes from userIds ({Local:863}).
    assert all(local for local, _ in students)
    assert sum(1 for _, state in students if state) == 11
    assert query(config, "select count(*) from dim_course") == [(4,)]  # the district's catalogue


def test_every_input_row_is_landed_or_rejected_with_a_reason(hub_run):
    config, _ = hub_run
    rejected = dict(
        query(config, "select source_system || '/' || entity, count(*) from staging.stg_landing__rejects group by 1")
    )
    landed: dict[str, int] = {}
    for source in CONFIGURED:
        for record in read_batch_records(config.landing_dir, source):
            for entity, rows in record["rows_landed"].items():
                landed[f"{source}/{entity}"] = landed.get(f"{source}/{entity}", 0) + rows
    inputs = {
        "oneroster_csv/orgs": ONEROSTER_DIR / "orgs.csv",
        "oneroster_csv/academic_sessions": ONEROSTER_DIR / "academicSessions.csv",
        "oneroster_csv/courses": ONEROSTER_DIR / "courses.csv",
        "oneroster_csv/classes": ONEROSTER_DIR / "classes.csv",
        "oneroster_csv/users": ONEROSTER_DIR / "users.csv",
        "oneroster_csv/enrollments": ONEROSTER_DIR / "enrollments.csv",
        "oneroster_csv/demographics": ONEROSTER_DIR / "demographics.csv",
        "nwea_map/assessment_results": NWEA_MAP_DIR / "AssessmentResults.csv",
        "nwea_map/students_by_school": NWEA_MAP_DIR / "StudentsBySchool.csv",
        "nwea_map/class_assignments": NWEA_MAP_DIR / "ClassAssignments.csv",
        "iready/diagnostic_ela": IREADY_DIR / "diagnostic_results_ela_CONFIDENTIAL.csv",
        "iready/diagnostic_math": IREADY_DIR / "diagnostic_results_math_CONFIDENTIAL.csv",
    }
    for entity, path in inputs.items():
        assert landed.get(entity, 0) + rejected.get(entity, 0) == data_rows(path), entity
    # The quirks are absorbed, not rejected: trailing empty fields, the short last MAP record,
    # `Not Provided` in an optional flag.
    assert sum(rejected.values()) == 0
    assert landed["nwea_map/assessment_results"] == 32


def test_an_optional_vendor_sentinel_lands_as_null(hub_run):
    config, _ = hub_run
    ela = pq.read_table(
        [p for p in (config.landing_dir / "iready" / "diagnostic_ela").glob("2*.parquet")][0],
        columns=["reading_difficulty_indicator"],
    ).column(0)
    assert ela.null_count == 5 and len(ela) == 12


def test_a_vendor_student_missing_from_the_roster_is_an_unresolved_identity(hub_run):
    config, _ = hub_run
    assert query(
        config,
        "select unresolved_identities from mart_data_quality"
        " where source_system = 'nwea_map' and entity = 'student_identities'",
    ) == [(1,)]
    # The 15 rostered students' results reach the facts linked; 1057's stay unlinked.
    assert query(
        config,
        "select count(distinct student_key), count(*) - count(student_key) from fct_assessment_result"
        " where vendor = 'nwea_map'",
    ) == [(15, 2)]


def test_sources_the_district_does_not_use_build_empty_and_are_reported(hub_run):
    config, _ = hub_run
    status = dict(query(config, "select distinct source_system, source_status from mart_data_quality"))
    known = source_names(DBT_PROJECT_DIR / "models")
    expected = {name: "current" if name in CONFIGURED else "not_configured" for name in known}
    assert status == {**expected, "nwea_map": "quarantined"}  # see the last test


def test_the_oneroster_bundle_for_one_school_passes_the_validator(hub_run):
    config, _ = hub_run
    (bundle,) = config.delivery_folder(config.recipients["learning_app"]).glob("*.zip")
    report = validate_bundle(bundle)
    assert report.ok, report.summary()
    with zipfile.ZipFile(bundle) as archive:
        read = lambda name: list(csv.DictReader(io.TextIOWrapper(archive.open(name), "utf-8")))  # noqa: E731
        courses = {row["sourcedId"]: row for row in read("courses.csv")}
        classes = read("classes.csv")
        orgs = {row["sourcedId"]: row["type"] for row in read("orgs.csv")}
    assert classes and {c["courseSourcedId"] for c in classes} <= set(courses)
    # The district's catalogue courses keep their owner, the district org, which is in the bundle.
    assert {orgs[c["orgSourcedId"]] for c in courses.values()} == {"district"}


def test_edfi_load_reports_a_result_for_every_record(hub_run):
    config, _ = hub_run
    (results,) = (config.data_dir / "publish" / "results" / "state_ods").glob("*.csv")
    rows = list(csv.DictReader(results.open(encoding="utf-8")))
    outcomes = {row["outcome"] for row in rows}
    assert "refused" in outcomes and outcomes & {"created", "updated"}
    refused = [row for row in rows if row["outcome"] == "refused"]
    # The hub's orgs have no state school id: schools cannot be keyed, nor what hangs on them;
    # every refusal says why, and the rest (LEA, students, staff) was loaded.
    assert all(row["message"] for row in refused)
    assert {row["resource"] for row in rows if row["outcome"] == "created"} >= {"students", "localEducationAgencies"}


def test_a_refused_vendor_file_quarantines_its_source_and_the_release_goes_on(hub_run):
    config, result = hub_run
    assert config.published_warehouse_path.exists()  # released despite the refusal
    assert f"CHECK FAILED landing/nwea_map/batches delivery_accepted: - `{REFUSED_CDF}`" in result.stderr
    status = query(
        config,
        "select distinct source_status, last_refusal_subject, last_refusal_reason from mart_data_quality"
        " where source_system = 'nwea_map'",
    )
    assert [(s, subject) for s, subject, _ in status] == [("quarantined", REFUSED_CDF)]
    assert "truncated" in status[0][2]
    assert "quarantined" in result.stdout and REFUSED_CDF in result.stdout
    # The source's last good data is what the warehouse holds.
    assert query(config, "select count(*) from staging.stg_nwea_map__assessment_results") == [(32,)]


def test_the_release_shows_its_gate_and_every_table_it_released(hub_run):
    """The published warehouse's own check says the release went out because every blocking
    check passed, naming the warnings it went out with; its metadata counts every table."""
    from dagster import AssetKey, DagsterEventType, DagsterInstance
    from dagster._core.instance.ref import InstanceRef

    config, result = hub_run
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(config.data_dir / "dagster_home"))) as instance:
        (run,) = instance.get_runs(limit=1)
        records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
        evaluations = {
            e.check_name: e
            for e in (r.event_log_entry.dagster_event.event_specific_data for r in records)
            if e.asset_key == AssetKey("published_warehouse")
        }
        released = instance.get_latest_materialization_event(AssetKey("published_warehouse"))
    gate = evaluations["released_after_blocking_checks"]
    assert gate.passed and gate.metadata["blocking_checks_failed"].value == 0
    assert gate.metadata["blocking_checks_passed"].value > 100
    assert "landing/nwea_map/batches delivery_accepted" in gate.metadata["warnings_released_with"].value
    rows = released.asset_materialization.metadata["table_rows"].value
    # dbt's assets show their rows and columns (types from the warehouse, words from the YAML).
    with DagsterInstance.from_ref(InstanceRef.from_dir(str(config.data_dir / "dagster_home"))) as instance:
        student = instance.get_latest_materialization_event(AssetKey("dim_student")).asset_materialization
    assert student.metadata["dagster/row_count"].value == 20
    columns = {c.name: c for c in student.metadata["dagster/column_schema"].value.columns}
    assert columns["birth_date"].type == "DATE" and columns["student_key"].description
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        tables = con.execute("select count(*) from information_schema.tables").fetchone()[0]
    assert len(rows) == tables and rows["dim_student"] == 20


def test_the_hub_roster_served_over_rest_is_its_oneroster_bundle(hub_run):
    """`interop-pipeline serve` on the hub's release: the one-school recipient reads over REST
    the very records of its CSV bundle (district catalogue courses included), each collection's
    sourcedIds equal to its file's, and no other school."""
    import requests

    from interop_pipeline.rostering.server import (
        ROSTERING_PATH,
        TOKEN_PATH,
        RestClient,
        allowed_scopes,
        create_app,
        running,
    )

    config, _ = hub_run
    settings = config.recipients["learning_app"]
    (bundle,) = config.delivery_folder(settings).glob("*.zip")
    with zipfile.ZipFile(bundle) as archive:
        files = [name for name in archive.namelist() if name != "manifest.csv"]
        rows = {name: csv.DictReader(io.TextIOWrapper(archive.open(name), "utf-8")) for name in files}
        ids = {name.removesuffix(".csv"): {row["sourcedId"] for row in read} for name, read in rows.items()}
    client = RestClient("hub-vendor", "hub-secret", "learning_app", allowed_scopes(settings))
    with running(create_app(config, {client.client_id: client})) as base:
        grant = {"grant_type": "client_credentials"}
        token = requests.post(base + TOKEN_PATH, data=grant, auth=("hub-vendor", "hub-secret"), timeout=10).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}

        def served(collection: str) -> set[str]:
            url = f"{base}{ROSTERING_PATH}/{collection}"
            body = requests.get(url, params={"limit": "5000"}, headers=headers, timeout=60).json()
            return {record["sourcedId"] for record in body[collection]}

        for collection in ("orgs", "academicSessions", "courses", "classes", "users", "enrollments"):
            assert served(collection) == ids[collection], collection
        assert ids["courses"] and ids["classes"] and ids["users"]
