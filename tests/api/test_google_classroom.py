"""Google Classroom connector against its simulator: every fault on, full walks that pick up
changes, additions and removals, contract breaks named by endpoint and page."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from interop_pipeline.config import ApiSource
from interop_pipeline.connectors.api_landing import land_entity_walk
from interop_pipeline.connectors.api_sources import Credentials
from interop_pipeline.connectors.google_classroom import entity_walks, make_client
from interop_pipeline.connectors.http import ApiError, ContractError, HttpSettings
from interop_pipeline.simulators.district import generate_district
from interop_pipeline.simulators.google_classroom import GoogleClassroomApi
from interop_pipeline.simulators.http_server import Faults
from interop_pipeline.simulators.lms import lms_truth
from tests.api.support import EVERY_FAULT, landed_current_records

CLIENTS = {"classroom-client": "classroom-secret"}
FAST = HttpSettings(read_timeout=0.15, backoff_seconds=0.01, max_retries=8)
ENTITIES = ("courses", "students", "teachers", "course_work", "student_submissions")


@pytest.fixture(scope="module")
def truth():
    district = generate_district(
        200, 12, district_code="test-usd", lea_id="0600009", year_start=date(2025, 8, 18), year_end=date(2026, 6, 5)
    )
    tables = district.tables()
    tables.update(lms_truth(tables, 12))
    return tables


def _walk_all(api, landing, *, settings=FAST, page_size=40, only=ENTITIES) -> dict:
    source = ApiSource(
        kind="google_classroom",
        system_name="Google Classroom",
        base_url="http://127.0.0.1:1",
        client_id_env="TEST_GC_ID",
        client_secret_env="TEST_GC_SECRET",
        page_size=page_size,
    )
    client = make_client(api.base_url, source, Credentials("classroom-client", "classroom-secret"), settings)
    results = {"_client": client}
    for walk in entity_walks(source):
        if walk.entity in only:
            results[walk.entity] = land_entity_walk(
                client, walk, landing_root=landing, source_system="google_classroom", district_code="test-usd"
            )
    return results


def _batch_keys(landing, entity: str, batch_id: str) -> list[str]:
    return [
        row[0]
        for row in duckdb.sql(
            f"select record_key from read_parquet('{landing}/google_classroom/{entity}/*.parquet') "
            f"where _batch_id = '{batch_id}'"
        ).fetchall()
    ]


def test_every_fault_is_survived_and_landing_equals_the_simulator(truth, tmp_path):
    faults = Faults.all_on()
    faults.retry_after_seconds = 0
    faults.slow_seconds = 0.25
    with GoogleClassroomApi(truth, clients=CLIENTS, faults=faults) as api:
        results = _walk_all(api, tmp_path)
        faults.change_every = 0
        served = dict(api.faults_served)
        for entity in ENTITIES:
            expected = api.current_records(entity)
            landed = landed_current_records(tmp_path, "google_classroom", entity)
            assert landed.keys() == expected.keys(), entity
            keys = _batch_keys(tmp_path, entity, results[entity].batch_id)
            assert len(keys) == len(set(keys)), entity  # none duplicated
            changed = set(api.changed) if entity == "student_submissions" else set()
            assert {k: v for k, v in landed.items() if k not in changed} == {
                k: v for k, v in expected.items() if k not in changed
            }, entity
        assert all(results[e].mode == "full" for e in ENTITIES)
        # Grades returned while the walk ran arrive with the next full walk.
        _walk_all(api, tmp_path, only=("student_submissions",))
        assert landed_current_records(tmp_path, "google_classroom", "student_submissions") == api.current_records(
            "student_submissions"
        )
    assert api.changed
    assert set(served) >= EVERY_FAULT | {"change"}
    assert results["_client"].auth.fetched >= 2


def test_next_full_walk_lands_changes_additions_and_removals(truth, tmp_path):
    with GoogleClassroomApi(truth, clients=CLIENTS) as api:
        _walk_all(api, tmp_path, page_size=100)
        s = api.submissions.columns
        api.grade(int(s["number"][0]), 4.5)
        course_id = int(api.courses.columns["id"][0])
        work_id = api.add_course_work(course_id, "Reading Log 1", 10.0)
        st = api.students.columns
        leaving = next(i for i in range(len(st["user_id"])) if st["course_id"][i] != course_id)
        removed = f"{st['course_id'][leaving]}:{st['user_id'][leaving]}"
        api.remove_student(int(st["course_id"][leaving]), int(st["user_id"][leaving]))

        second = _walk_all(api, tmp_path, page_size=100)
        assert all(second[e].mode == "full" for e in ENTITIES)  # no change feed: full walks
        for entity in ENTITIES:
            assert landed_current_records(tmp_path, "google_classroom", entity) == api.current_records(entity), entity
        students = landed_current_records(tmp_path, "google_classroom", "students")
        assert removed not in students
        assert f"{course_id}:{work_id}" in landed_current_records(tmp_path, "google_classroom", "course_work")
        first_key = api.submission_key(0)
        assert (
            landed_current_records(tmp_path, "google_classroom", "student_submissions")[first_key]["assignedGrade"]
            == 4.5
        )


def test_a_record_without_its_key_fails_naming_system_endpoint_and_page(truth, tmp_path):
    with GoogleClassroomApi(truth, clients=CLIENTS) as api:
        render = api.render_course_work
        api.render_course_work = lambda i: {k: v for k, v in render(i).items() if k != "id"} if i == 3 else render(i)
        with pytest.raises(
            ContractError, match=r"^Google Classroom /v1/courses/\d+/courseWork page 1: record without id$"
        ):
            _walk_all(api, tmp_path, only=("course_work",))
    assert not list(tmp_path.glob("google_classroom/_batches/*.parquet"))


def test_errors_are_google_style_and_named(truth, tmp_path):
    import requests

    with GoogleClassroomApi(truth, clients=CLIENTS) as api:
        answer = requests.get(f"{api.base_url}/v1/courses")
        assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"
        results = _walk_all(api, tmp_path, only=())
        client = results["_client"]
        with pytest.raises(ApiError, match=r"^Google Classroom /v1/courses/1/students page 1: HTTP 404"):
            client.get_json("/v1/courses/1/students", page=1)
