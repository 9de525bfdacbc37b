"""Ed-Fi ODS/API: the connector against the simulated ODS, with every fault switched on.

The simulator holds the generated district in an EdfiStore; the tests compare what landing holds
with exactly what the store holds, record by record, and use the store's change versions to say
which records a walk's window had to contain.
"""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
import requests

from interop_pipeline.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, ApiSource, load_config
from interop_pipeline.connectors import edfi_api as connector
from interop_pipeline.connectors.api_landing import land_entity_walk
from interop_pipeline.connectors.api_sources import Credentials
from interop_pipeline.connectors.http import ApiClient, ContractError, HttpSettings
from interop_pipeline.simulators.district import generate_district
from interop_pipeline.simulators.edfi_api import EdfiApi, build_simulator
from interop_pipeline.simulators.edfi_model import DESCRIPTOR_TYPES, descriptor_resource, descriptor_uri
from interop_pipeline.simulators.http_server import Faults
from interop_pipeline.transform.dbt_command import DBT_COMMAND
from tests.api.support import EVERY_FAULT, landed_current_records

SOURCE = "edfi"
FAST = HttpSettings(read_timeout=0.25, backoff_seconds=0.01, max_retries=8)
CLIENTS = {"district-key": "district-secret"}
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


@pytest.fixture(scope="module")
def config():
    return load_config(DEFAULT_CONFIG_PATH)


@pytest.fixture(scope="module")
def truth(config):
    district = generate_district(
        60,
        5,
        district_code=config.district.code,
        lea_id=config.district.lea_id,
        year_start=date(2025, 8, 18),
        year_end=date(2026, 6, 5),
        rates=config.demo.rates,
    )
    return district.tables()


def api_source(paging: str = "cursor", page_size: int = 25) -> ApiSource:
    return ApiSource(
        kind="edfi_api",
        system_name="Demo Ed-Fi ODS",
        base_url="http://127.0.0.1:8702",
        client_id_env="DEMO_EDFI_CLIENT_ID",
        client_secret_env="DEMO_EDFI_CLIENT_SECRET",
        page_size=page_size,
        options={"paging": paging},
    )


def client_for(api: EdfiApi, settings: HttpSettings = FAST) -> ApiClient:
    credentials = Credentials(*next(iter(CLIENTS.items())))
    return connector.make_client(api.base_url, api_source(), credentials, settings)


def walks(paging: str = "cursor", page_size: int = 25) -> dict[str, connector.EdfiWalk]:
    return {walk.entity: walk for walk in connector.entity_walks(api_source(paging, page_size))}


def land_all(client: ApiClient, landing: Path, walks_by_entity: dict, hour: int = 6) -> dict:
    # Batch ids sort by extraction time to the second, so each run of a test gets its own hour.
    now = datetime(2025, 10, 6, hour, tzinfo=UTC)
    return {
        entity: land_entity_walk(
            client, walk, landing_root=landing, source_system=SOURCE, district_code="demo-usd", now=now
        )
        for entity, walk in walks_by_entity.items()
    }


def store_records(api: EdfiApi, walk: connector.EdfiWalk) -> dict[str, tuple[int, dict]]:
    """id → (change version, document) of what the store holds for a landing entity."""
    return {r.id: (r.change_version, r.document) for resource in walk.resources for r in api.store.records(resource)}


def batch_rows(landing: Path, entity: str, batch_id: str) -> list[dict]:
    return pq.read_table(landing / SOURCE / entity / f"{batch_id}.parquet").to_pylist()


@pytest.mark.parametrize("paging", ["cursor", "offset"])
def test_every_fault_on_lands_exactly_what_the_ods_holds(tmp_path, truth, config, paging):
    faults = Faults.all_on()
    faults.retry_after_seconds = 0
    faults.slow_seconds = 0.35
    landing = tmp_path / "landing"
    entity_walks = walks(paging)
    with build_simulator(truth, config, CLIENTS, faults=faults) as api:
        client = client_for(api)
        first = land_all(client, landing, entity_walks)
        # Records changed during the walk: within its window, each record is landed exactly as
        # the store holds it (none lost to pages shifting under the walk); later changes may not be.
        for entity, walk in entity_walks.items():
            window_end = int(first[entity].cursor)
            landed = landed_current_records(landing, SOURCE, entity)
            held = store_records(api, walk)
            in_window = {key: doc for key, (version, doc) in held.items() if version <= window_end}
            assert {key: landed.get(key) for key in in_window} == in_window, entity
            assert set(landed) <= set(held) | _deleted_ids(api, walk), entity
        assert set(api.faults_served) >= EVERY_FAULT | {"change"}
        assert client.auth.fetched >= 2  # the token expired mid-walk and was renewed

        # The next walk, with the ODS holding still, catches up with every change, deletions included.
        api.faults.change_every = 0
        second = land_all(client, landing, entity_walks, hour=7)
        for entity, walk in entity_walks.items():
            assert second[entity].mode == "incremental"
            held = {key: doc for key, (_, doc) in store_records(api, walk).items()}
            assert landed_current_records(landing, SOURCE, entity) == held, entity
        assert second["student_school_attendance_events"].tombstones >= 1
        assert second["students"].records >= 1


def _deleted_ids(api: EdfiApi, walk: connector.EdfiWalk) -> set[str]:
    return {d["id"] for resource in walk.resources for d in api.store.deletes(resource)}


def test_incremental_walk_lands_only_changes_and_deletions_as_tombstones(tmp_path, truth, config):
    landing = tmp_path / "landing"
    entity_walks = {
        e: w for e, w in walks(page_size=40).items() if e in ("students", "student_school_attendance_events")
    }
    with build_simulator(truth, config, CLIENTS) as api:
        client = client_for(api)
        first = land_all(client, landing, entity_walks)
        assert first["students"].mode == "full" and first["students"].records == len(api.store.records("students"))

        changed = api.store.records("students")[3]
        api.store.update("students", changed.id, {"lastSurname": "Okafor-Reyes"})
        new_student = {
            "studentUniqueId": "1999999999",
            "firstName": "Ada",
            "lastSurname": "Quill",
            "birthDate": "2014-02-03",
        }
        assert connector.post_resource(client, "students", new_student)[0] == 201
        event = {
            **{
                k: v
                for k, v in api.store.records("studentSchoolAttendanceEvents")[0].document.items()
                if not k.startswith("_")
            },
            "eventDate": "2025-10-01",
        }
        event.pop("id")
        assert connector.post_resource(client, "studentSchoolAttendanceEvents", event)[0] == 201
        gone = api.store.records("studentSchoolAttendanceEvents")[5]
        assert client.request("DELETE", f"/data/v3/ed-fi/studentSchoolAttendanceEvents/{gone.id}", ok_statuses=(204,))

        second = land_all(client, landing, entity_walks, hour=7)
        student_rows = batch_rows(landing, "students", second["students"].batch_id)
        assert second["students"].mode == "incremental"
        assert {r["record_key"] for r in student_rows} == {changed.id, api.store.find("students", ("1999999999",)).id}
        event_rows = batch_rows(
            landing, "student_school_attendance_events", second["student_school_attendance_events"].batch_id
        )
        assert sorted((r["record_state"], r["record_key"]) for r in event_rows) == sorted(
            [("active", api.store.records("studentSchoolAttendanceEvents")[-1].id), ("deleted", gone.id)]
        )
        assert int(second["students"].cursor) == api.store.change_version
        for entity, walk in entity_walks.items():
            held = {key: doc for key, (_, doc) in store_records(api, walk).items()}
            assert landed_current_records(landing, SOURCE, entity) == held

        third = land_all(client, landing, entity_walks, hour=8)  # nothing changed: empty walks, same cursor
        assert third["students"].records == 0 and third["students"].cursor == second["students"].cursor


def test_a_record_without_its_id_fails_naming_system_endpoint_and_page(tmp_path, truth, config):
    landing = tmp_path / "landing"
    with build_simulator(truth, config, CLIENTS) as api:
        api.store.records("students")[30].document.pop("id")
        with pytest.raises(ContractError, match=r"^Ed-Fi /data/v3/ed-fi/students page 2: record without its id"):
            land_entity_walk(
                client_for(api), walks()["students"], landing_root=landing, source_system=SOURCE, district_code="d"
            )
    assert not (landing / SOURCE / "_batches").exists() or not list((landing / SOURCE / "_batches").iterdir())


def test_posts_upsert_by_natural_key_and_validate_like_the_ods(truth, config):
    with build_simulator(truth, config, CLIENTS) as api:
        client = client_for(api)
        student = {
            "studentUniqueId": "1888888888",
            "firstName": "Lin",
            "lastSurname": "Ortiz",
            "birthDate": "2013-04-05",
        }
        assert connector.post_resource(client, "students", student) == (201, None)
        version = api.store.change_version
        assert connector.post_resource(client, "students", student)[0] == 200  # identical: nothing changes
        assert api.store.change_version == version
        assert connector.post_resource(client, "students", {**student, "firstName": "Linh"})[0] == 200
        assert api.store.find("students", ("1888888888",)).document["firstName"] == "Linh"
        assert api.store.change_version == version + 1

        status, body = connector.post_resource(client, "students", {"studentUniqueId": "1777", "firstName": "X"})
        assert status == 400 and body["type"] == "urn:ed-fi:api:bad-request:data-validation-failed"
        assert set(body["validationErrors"]) == {"$.lastSurname", "$.birthDate"}

        school_id = api.store.records("schools")[0].document["schoolId"]
        association = {
            "studentReference": {"studentUniqueId": "1888888888"},
            "schoolReference": {"schoolId": school_id},
            "entryDate": "2025-09-02",
            "entryGradeLevelDescriptor": descriptor_uri("gradeLevel", "Fourth grade"),
        }
        assert connector.post_resource(client, "studentSchoolAssociations", association)[0] == 201
        status, body = connector.post_resource(
            client, "studentSchoolAssociations", {**association, "schoolReference": {"schoolId": 1}}
        )
        assert (status, body["type"]) == (409, "urn:ed-fi:api:conflict:unresolved-reference")
        assert "School" in body["detail"]
        status, body = connector.post_resource(
            client,
            "studentSchoolAssociations",
            {**association, "entryGradeLevelDescriptor": descriptor_uri("gradeLevel", "Grade 99")},
        )
        # A code Ed-Fi does not ship is refused as a stock ODS/API refuses it: 400, naming the path.
        assert status == 400 and body["type"] == "urn:ed-fi:api:bad-request:data-validation-failed"
        [message] = body["validationErrors"]["$.entryGradeLevelDescriptor"]
        assert "not a default GradeLevelDescriptor" in message
        # So is a non-default race (the codes the demo once sent) and a date-only date-time.
        edorg = {
            "studentReference": {"studentUniqueId": "1888888888"},
            "educationOrganizationReference": {"educationOrganizationId": school_id},
            "races": [{"raceDescriptor": "uri://ed-fi.org/RaceDescriptor#Black or African American"}],
        }
        status, body = connector.post_resource(client, "studentEducationOrganizationAssociations", edorg)
        assert status == 400 and set(body["validationErrors"]) == {"$.races[0].raceDescriptor"}
        edorg["races"] = [{"raceDescriptor": "uri://ed-fi.org/RaceDescriptor#Black - African American"}]
        assert connector.post_resource(client, "studentEducationOrganizationAssociations", edorg)[0] == 201
        assessment = api.store.records("studentAssessments")[0].document
        result = {k: v for k, v in assessment.items() if k not in ("id", "_etag", "_lastModifiedDate")}
        status, body = connector.post_resource(
            client, "studentAssessments", {**result, "administrationDate": result["administrationDate"][:10]}
        )
        assert status == 400
        assert body["validationErrors"]["$.administrationDate"] == ["StudentAssessment is not a valid date-time."]
        assert connector.post_resource(client, "studentAssessments", result)[0] == 200
        assert connector.post_resource(client, "students", {**student, "id": "0" * 32})[0] == 400

        student_id = api.store.find("students", ("1888888888",)).id
        refused = requests.delete(
            f"{api.base_url}/data/v3/ed-fi/students/{student_id}",
            headers={"Authorization": f"Bearer {client.auth.token()}"},
            timeout=5,
        )
        assert refused.status_code == 409 and refused.headers["Content-Type"] == "application/problem+json"


def test_paging_and_metadata_as_the_ods_api_has_them(truth, config):
    with build_simulator(truth, config, CLIENTS) as api:
        client = client_for(api)
        root = client.get_json("/").body
        assert root["urls"]["dataManagementApi"] == f"{api.base_url}/data/v3/"
        assert root["urls"]["oauth"] == f"{api.base_url}/oauth/token"
        events = "/data/v3/ed-fi/studentSchoolAttendanceEvents"
        total = len(api.store.records("studentSchoolAttendanceEvents"))
        first = client.get_json(events, {"totalCount": "true"})
        assert len(first.body) == 25 and int(first.headers["Total-Count"]) == total  # default limit
        assert client.get_json(events, {"limit": 501}, ok_statuses=(400,)).status == 400
        seen, token = [], None
        while True:
            params = {"pageSize": 500, **({"pageToken": token} if token else {})}
            page = client.get_json(events, params)
            seen += [r["id"] for r in page.body]
            token = page.headers.get("Next-Page-Token")
            if not token:
                break
        assert seen == [r.id for r in api.store.records("studentSchoolAttendanceEvents")]
        versions = client.get_json("/changeQueries/v1/availableChangeVersions").body
        assert versions["newestChangeVersion"] == api.store.change_version
        # The connector walks every descriptor the ODS serves for these resources.
        assert set(connector.DESCRIPTORS) <= {descriptor_resource(t) for t in DESCRIPTOR_TYPES}
        assert json.dumps(api.store.documents("students")[0])  # read-back is plain JSON


def test_dbt_staging_types_every_landed_resource(tmp_path, truth, config):
    landing = tmp_path / "landing"
    with build_simulator(truth, config, CLIENTS) as api:
        entity_walks = walks(page_size=500)
        land_all(client_for(api), landing, entity_walks)
        held = {entity: len(store_records(api, walk)) for entity, walk in entity_walks.items()}
        attendance_codes = {
            d["attendanceEventCategoryDescriptor"].split("#")[1]
            for d in api.store.documents("studentSchoolAttendanceEvents")
        }
    warehouse = tmp_path / "build.duckdb"
    env = {**os.environ, "INTEROP_LANDING_DIR": str(landing), "INTEROP_WAREHOUSE_PATH": str(warehouse)}
    target = tmp_path / "dbt_target"
    run = subprocess.run(
        [str(DBT_COMMAND), "build", "--select", "staging.edfi", "--target-path", str(target), "--log-path", str(target)]
        + ["--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for entity, count in held.items():
            assert con.execute(f"select count(*) from staging.stg_edfi__{entity}").fetchone()[0] == count, entity
        codes = con.execute(
            "select distinct attendance_event_category from staging.stg_edfi__student_school_attendance_events"
        )
        assert {row[0] for row in codes.fetchall()} == attendance_codes
        sex = con.execute(
            "select sex, sex_descriptor from staging.stg_edfi__student_education_organization_associations limit 1"
        ).fetchone()
        assert sex[0] in {"Female", "Male"} and sex[1] == f"uri://ed-fi.org/SexDescriptor#{sex[0]}"
        assert (
            con.execute("select count(*) from staging.stg_edfi__students where birth_date is null").fetchone()[0] == 0
        )
