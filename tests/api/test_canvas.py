"""Canvas connector against the Canvas simulator: every fault on, incremental submissions,
tombstones for deleted enrollments, contract breaks named by endpoint and page."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pytest

from interop_pipeline.config import ApiSource
from interop_pipeline.connectors.api_landing import land_entity_walk
from interop_pipeline.connectors.api_sources import Credentials
from interop_pipeline.connectors.canvas import entity_walks, make_client
from interop_pipeline.connectors.http import ContractError, HttpSettings
from interop_pipeline.simulators.canvas import CanvasApi
from interop_pipeline.simulators.district import generate_district
from interop_pipeline.simulators.http_server import Faults
from interop_pipeline.simulators.lms import lms_truth
from tests.api.support import EVERY_FAULT, landed_current_records

CLIENTS = {"canvas-client": "canvas-secret"}
FAST = HttpSettings(read_timeout=0.15, backoff_seconds=0.01, max_retries=8)
ENTITIES = ("courses", "users", "sections", "enrollments", "assignments", "submissions")


@pytest.fixture(scope="module")
def truth():
    district = generate_district(
        200, 11, district_code="test-usd", lea_id="0600009", year_start=date(2025, 8, 18), year_end=date(2026, 6, 5)
    )
    tables = district.tables()
    tables.update(lms_truth(tables, 11))
    return tables


def _source(page_size: int = 25) -> ApiSource:
    return ApiSource(
        kind="canvas",
        system_name="Canvas",
        base_url="http://127.0.0.1:1",
        client_id_env="TEST_CANVAS_ID",
        client_secret_env="TEST_CANVAS_SECRET",
        page_size=page_size,
    )


def _walk_all(api: CanvasApi, landing, *, settings=FAST, page_size=25, force_full=False, only=ENTITIES) -> dict:
    source = _source(page_size)
    client = make_client(api.base_url, source, Credentials("canvas-client", "canvas-secret"), settings)
    results = {}
    for walk in entity_walks(source):
        if walk.entity in only:
            results[walk.entity] = land_entity_walk(
                client,
                walk,
                landing_root=landing,
                source_system="canvas",
                district_code="test-usd",
                force_full=force_full,
            )
    results["_client"] = client
    return results


def _batch_keys(landing, entity: str, batch_id: str) -> list[tuple[str, str]]:
    return duckdb.sql(
        f"select record_key, record_state from read_parquet('{landing}/canvas/{entity}/*.parquet') "
        f"where _batch_id = '{batch_id}' order by fetch_seq"
    ).fetchall()


def test_every_fault_is_survived_and_landing_equals_the_simulator(truth, tmp_path):
    faults = Faults.all_on()
    faults.retry_after_seconds = 0
    faults.slow_seconds = 0.25
    with CanvasApi(truth, clients=CLIENTS, faults=faults) as api:
        results = _walk_all(api, tmp_path)
        faults.change_every = 0  # the checks below read the simulator; changes stop
        served = dict(api.faults_served)
        for entity in ENTITIES:
            expected = api.current_records(entity)
            landed = landed_current_records(tmp_path, "canvas", entity)
            assert landed.keys() == expected.keys(), entity  # none lost, none extra
            # Keyset pages: every record fetched exactly once, even with changes between pages.
            rows = _batch_keys(tmp_path, entity, results[entity].batch_id)
            assert len(rows) == len({key for key, _ in rows}), entity
            changed = {str(i) for i in api.changed} if entity == "submissions" else set()
            assert {k: v for k, v in landed.items() if k not in changed} == {
                k: v for k, v in expected.items() if k not in changed
            }, entity
        # Work graded while the walk ran arrives with the next (incremental) walk.
        again = _walk_all(api, tmp_path, only=("submissions",))
        assert again["submissions"].mode == "incremental"
        assert landed_current_records(tmp_path, "canvas", "submissions") == api.current_records("submissions")
    assert api.changed, "the change fault ran"
    assert set(served) >= EVERY_FAULT | {"change"}
    client = results["_client"]
    assert client.auth.fetched >= 2  # the token expired mid-walk and was renewed
    assert sum(r.retries for e, r in results.items() if e != "_client") >= sum(
        v for k, v in served.items() if k != "change"
    )
    assert results["enrollments"].tombstones > 0  # students who left a section: deleted enrollments


def test_incremental_walk_lands_only_changes_and_deletions_as_tombstones(truth, tmp_path):
    with CanvasApi(truth, clients=CLIENTS) as api:
        first = _walk_all(api, tmp_path, page_size=100)
        assert all(first[e].mode == "full" for e in ENTITIES)
        s = api.submissions.columns
        visible = api._visible_submissions(np.arange(len(s["id"])))
        graded = int(s["id"][np.flatnonzero(visible & (s["state"] == "graded"))[0]])
        unsubmitted = int(s["id"][np.flatnonzero(visible & (s["state"] == "unsubmitted"))[0]])
        api.grade(graded, score=1.5)
        api.submit(unsubmitted)
        course_id = int(api.courses.columns["id"][0])
        assignment_id, new_ids = api.add_assignment(course_id, "Lab Report 1", 30.0)
        api.submit(new_ids[0])
        e = api.enrollments.columns
        # A student of another course leaves it.
        student = np.flatnonzero((e["role"] == "student") & (e["state"] == "active") & (e["course_id"] != course_id))[
            -1
        ]
        deleted_enrollment = int(e["id"][student])
        api.delete_enrollment(deleted_enrollment)

        second = _walk_all(api, tmp_path, page_size=100)
        submissions = second["submissions"]
        assert submissions.mode == "incremental" and submissions.previous_cursor == first["submissions"].cursor
        landed_now = {key for key, _ in _batch_keys(tmp_path, "submissions", submissions.batch_id)}
        assert landed_now == {str(graded), str(unsubmitted), str(new_ids[0])}
        current = landed_current_records(tmp_path, "canvas", "submissions")
        expected = api.current_records("submissions")
        for key in landed_now:
            assert current[key] == expected[key]
        assert current[str(graded)]["score"] == 1.5

        assert (str(deleted_enrollment), "deleted") in _batch_keys(
            tmp_path, "enrollments", second["enrollments"].batch_id
        )
        assert landed_current_records(tmp_path, "canvas", "enrollments") == api.current_records("enrollments")
        assert str(assignment_id) in landed_current_records(tmp_path, "canvas", "assignments")

        # The periodic full walk brings what no change filter reports (unsubmitted new work,
        # the departed student's submissions leaving).
        _walk_all(api, tmp_path, page_size=100, only=("submissions",), force_full=True)
        assert landed_current_records(tmp_path, "canvas", "submissions") == api.current_records("submissions")


def test_a_record_without_its_key_fails_naming_system_endpoint_and_page(truth, tmp_path):
    with CanvasApi(truth, clients=CLIENTS) as api:
        render = api.render_user
        api.render_user = lambda i: {k: v for k, v in render(i).items() if k != "id"} if i == 30 else render(i)
        with pytest.raises(ContractError, match=r"^Canvas /api/v1/accounts/1/users page 2: record without id$"):
            _walk_all(api, tmp_path, only=("users",))
    assert not (tmp_path / "canvas" / "_batches").exists() or not list((tmp_path / "canvas" / "_batches").iterdir())


def test_rate_limit_is_answered_with_403_and_waited_out(truth, tmp_path):
    with CanvasApi(truth, clients=CLIENTS, bucket_capacity=4, leak_per_second=20) as api:
        import requests

        token = requests.post(f"{api.base_url}/login/oauth2/token", auth=("canvas-client", "canvas-secret")).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        answers = [requests.get(f"{api.base_url}/api/v1/accounts/1/users", headers=headers) for _ in range(8)]
        throttled = [a for a in answers if a.status_code == 403]
        assert throttled and throttled[0].text == "403 Forbidden (Rate Limit Exceeded)\n"
        assert all("X-Rate-Limit-Remaining" in a.headers and "X-Request-Cost" in a.headers for a in answers)
        link = answers[0].headers["Link"]
        assert 'rel="next"' in link and f"<{api.base_url}/api/v1/accounts/1/users?" in link
        results = _walk_all(api, tmp_path, only=("sections",))
        assert results["sections"].retries > 0
        assert landed_current_records(tmp_path, "canvas", "sections") == api.current_records("sections")


def test_dbt_staging_types_the_landed_lms_records(truth, tmp_path):
    """Both LMS staging folders build on a real landing zone: keys unique, grades typed."""
    from interop_pipeline.simulators.google_classroom import GoogleClassroomApi
    from tests.api.test_google_classroom import _walk_all as walk_classroom
    from tests.test_oneroster_csv_staging import dbt_build, rows

    landing = tmp_path / "landing"
    with CanvasApi(truth, clients=CLIENTS) as api:
        _walk_all(api, landing, page_size=100)
        expected_enrollments = api.current_records("enrollments")
    with GoogleClassroomApi(truth, clients={"classroom-client": "classroom-secret"}) as api:
        walk_classroom(api, landing, page_size=100)
        expected_students = len(api.current_records("students"))
    warehouse = dbt_build(tmp_path, tmp_path / "target", "staging.canvas", "staging.google_classroom")
    assert rows(warehouse, "select count(*) from staging.stg_canvas__enrollments") == [(len(expected_enrollments),)]
    some = next(k for k, v in expected_enrollments.items() if v.get("grades", {}).get("current_score") is not None)
    assert rows(
        warehouse,
        "select current_score, current_grade from staging.stg_canvas__enrollments "
        f"where canvas_enrollment_id = '{some}'",
    ) == [
        (expected_enrollments[some]["grades"]["current_score"], expected_enrollments[some]["grades"]["current_grade"])
    ]
    assert rows(warehouse, "select count(*) from staging.stg_google_classroom__students") == [(expected_students,)]
    assert rows(warehouse, "select count(*) from staging.stg_canvas__submissions where is_late is null") == [(0,)]
