"""OneRoster 1.2 REST: the connector against the simulated SIS API, with every fault on.

The simulator serves a generated district's SIS roster (the same records as its CSV bundle);
the connector walks each entity into landing; what landing holds must equal what the API holds.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
import requests

from interop_pipeline.config import ApiSource, load_config
from interop_pipeline.connectors.api_landing import land_entity_walk
from interop_pipeline.connectors.api_sources import Credentials
from interop_pipeline.connectors.http import ApiError, ContractError, HttpSettings
from interop_pipeline.connectors.oneroster_api import CONNECTOR, ENTITY_COLLECTIONS, token_url
from interop_pipeline.connectors.oneroster_csv import land_oneroster_bundle
from interop_pipeline.simulators.apis import load_truth
from interop_pipeline.simulators.generate import write_district
from interop_pipeline.simulators.http_server import Faults
from interop_pipeline.simulators.oneroster_api import SCOPE_CORE, OneRosterApi, build_simulator, parse_filter
from tests.api.support import (
    EVERY_FAULT,
    ONEROSTER_SHARED,
    ROLE_COLUMNS,
    landed_current_records,
    stage_both_oneroster_channels,
    staged_columns,
    staged_rows,
)
from tests.conftest import write_config

SOURCE = "oneroster_api"
CLIENT_ID, SECRET = "district-etl", "s3cret-value"
TOKEN_PATH = "/campus/oauth2/token?appName=demo"
FAST = HttpSettings(read_timeout=0.3, backoff_seconds=0.01, max_retries=8)


@pytest.fixture(scope="module")
def district(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("district")
    config = load_config(write_config(folder, students=200, seed=5))
    generated = write_district(config, students=200, seed=5)
    return config, load_truth(generated.truth_dir), generated.drops["oneroster_csv"]


def simulator(district, faults: Faults | None = None, **kwargs) -> OneRosterApi:
    config, truth, _ = district
    return build_simulator(truth, config, {CLIENT_ID: SECRET}, faults=faults, **kwargs)


def every_fault() -> Faults:
    faults = Faults.all_on()
    faults.retry_after_seconds = 0
    faults.slow_seconds = 0.6
    return faults


def source(api: OneRosterApi, **options: str) -> ApiSource:
    return ApiSource(
        kind="oneroster_api",
        system_name="Demo SIS",
        base_url=api.root_url,
        client_id_env="DEMO_ONEROSTER_CLIENT_ID",
        client_secret_env="DEMO_ONEROSTER_CLIENT_SECRET",
        page_size=40,
        options={"token_path": TOKEN_PATH, **options},
    )


def walk_all(api: OneRosterApi, landing: Path, **options: str) -> dict:
    settings = source(api, **options)
    client = CONNECTOR.make_client(api.root_url, settings, Credentials(CLIENT_ID, SECRET), FAST)
    try:
        return {
            walk.entity: land_entity_walk(
                client, walk, landing_root=landing, source_system=SOURCE, district_code="demo-usd"
            )
            for walk in CONNECTOR.entity_walks(settings)
        }
    finally:
        client.close()


def assert_landing_equals_api(api: OneRosterApi, landing: Path) -> None:
    for entity, collection in ENTITY_COLLECTIONS.items():
        served = api.records(collection)
        landed = landed_current_records(landing, SOURCE, entity)
        assert landed.keys() == served.keys(), entity  # none lost, none extra
        assert landed == served, entity  # and every payload as served now


def batch_rows(landing: Path, entity: str, batch_id: str) -> list[tuple[str, str]]:
    return duckdb.sql(
        f"select record_key, record_state from read_parquet('{landing / SOURCE / entity}/*.parquet') "
        f"where _batch_id = '{batch_id}' order by record_key"
    ).fetchall()


def test_every_fault_on_landing_ends_equal_to_the_api(district, tmp_path):
    landing = tmp_path / "landing"
    with simulator(district, every_fault()) as api:
        first = walk_all(api, landing)
        assert {r.mode for r in first.values()} == {"full"}
        # Records changed while the walk ran (the change fault); some were on pages already
        # passed. The next walk starts from before this one began, so it fetches them.
        assert api.faults_served.get("change", 0) > 0
        api.faults.change_every = 0
        second = walk_all(api, landing)
        assert {r.mode for r in second.values()} == {"incremental"}
        assert_landing_equals_api(api, landing)
    served = EVERY_FAULT
    assert served <= set(api.faults_served)
    retries = sum(r.retries for walk in (first, second) for r in walk.values())
    assert retries >= sum(api.faults_served[k] for k in served)  # each fault cost a retry, not a record
    assert first["users"].records == len(api.records("users"))  # the full walk saw every user


def test_incremental_walk_lands_only_changes_and_deletions_as_tombstones(district, tmp_path):
    landing = tmp_path / "landing"
    faults = every_fault()
    faults.change_every = 0  # only the changes below happen between the runs
    with simulator(district, faults) as api:
        first = walk_all(api, landing)
        users = list(api.records("users"))
        enrollments = list(api.records("enrollments"))
        classes = api.records("classes")
        api.change_record("users", users[3], givenName="Renamed", email=None)
        api.change_record("demographics", next(iter(api.records("demographics"))), sex="female")
        template = classes[next(iter(classes))]
        api.add_record("classes", {**template, "sourcedId": "cls-new-1", "title": "Robotics O'Neil"})
        api.delete_record("enrollments", enrollments[0])
        api.delete_record("users", users[-1])
        second = walk_all(api, landing)
        assert_landing_equals_api(api, landing)
    assert all(r.mode == "incremental" and r.previous_cursor == first[e].cursor for e, r in second.items())
    assert batch_rows(landing, "users", second["users"].batch_id) == sorted(
        [(users[3], "active"), (users[-1], "deleted")]
    )
    assert batch_rows(landing, "classes", second["classes"].batch_id) == [("cls-new-1", "active")]
    assert batch_rows(landing, "enrollments", second["enrollments"].batch_id) == [(enrollments[0], "deleted")]
    assert len(batch_rows(landing, "demographics", second["demographics"].batch_id)) == 1
    assert second["orgs"].records == second["courses"].records == second["academic_sessions"].records == 0
    assert second["users"].tombstones == 1


def test_a_record_without_sourced_id_breaks_the_walk_naming_system_endpoint_and_page(district, tmp_path):
    landing = tmp_path / "landing"
    with simulator(district) as api:
        api.change_record("users", next(iter(api.records("users"))), sourcedId="")
        with pytest.raises(ContractError, match=r"^OneRoster /users page 1: record 1 has no sourcedId"):
            walk_all(api, landing, entities="users")
    assert not list((landing / SOURCE).glob("users/*.parquet"))  # nothing half-landed


def test_demographics_need_their_scope(district, tmp_path):
    with simulator(district, client_scopes={CLIENT_ID: frozenset({SCOPE_CORE})}) as api:
        with pytest.raises(ApiError, match=r"OneRoster \S*/rostering/v1p2/demographics page 1: HTTP 403"):
            walk_all(api, tmp_path / "landing", entities="demographics")
        walk_all(api, tmp_path / "landing", entities="users", scopes="roster-core.readonly")


def _get(api: OneRosterApi, path: str, token: str, **params) -> requests.Response:
    return requests.get(f"{api.root_url}{path}", params=params, headers={"Authorization": f"Bearer {token}"})


def _token(api: OneRosterApi, scope: str | None = None) -> str:
    answer = requests.post(
        f"{api.base_url}{TOKEN_PATH}",
        data={"grant_type": "client_credentials", **({"scope": scope} if scope else {})},
        auth=(CLIENT_ID, SECRET),
    )
    assert answer.status_code == 200
    return answer.json()["access_token"]


def test_the_api_speaks_oneroster_paging_filters_nested_paths_and_errors(district):
    with simulator(district) as api:
        token = _token(api)
        users = api.records("users")
        page = _get(api, "/users", token, limit=7, offset=7)
        assert page.status_code == 200 and int(page.headers["X-Total-Count"]) == len(users)
        links = {link["rel"]: link["url"] for link in requests.utils.parse_header_links(page.headers["Link"])}
        assert set(links) == {"first", "prev", "next", "last"} and "offset=14" in links["next"]
        assert [u["sourcedId"] for u in page.json()["users"]] == list(users)[7:14]
        one = page.json()["users"][0]
        assert one["roles"] and set(one["roles"][0]["org"]) == {"href", "sourcedId", "type"}
        assert _get(api, f"/users/{one['sourcedId']}", token).json() == {"user": one}
        # sort, fields, a two-clause filter with a doubled quote.
        api.change_record("classes", next(iter(api.records("classes"))), title="O'Neil Lab")
        found = _get(api, "/classes", token, filter="title='O''Neil Lab' OR classCode='none'", fields="sourcedId,title")
        assert [c["title"] for c in found.json()["classes"]] == ["O'Neil Lab"] and set(found.json()["classes"][0]) == {
            "sourcedId",
            "title",
        }
        ordered = _get(api, "/orgs", token, sort="name", orderBy="desc").json()["orgs"]
        assert [o["name"] for o in ordered] == sorted((o["name"] for o in ordered), reverse=True)
        # Nested paths agree with the enrollments they come from.
        enrollment = next(e for e in api.records("enrollments").values() if e["role"] == "student")
        cls, school = enrollment["class"]["sourcedId"], enrollment["school"]["sourcedId"]
        in_class = _get(api, f"/classes/{cls}/students", token, limit=1000).json()["users"]
        assert enrollment["user"]["sourcedId"] in {u["sourcedId"] for u in in_class}
        in_school = _get(api, f"/schools/{school}/classes/{cls}/enrollments", token).json()["enrollments"]
        assert {e["sourcedId"] for e in in_school} == {
            e["sourcedId"] for e in api.records("enrollments").values() if e["class"]["sourcedId"] == cls
        }
        students = _get(api, f"/schools/{school}/students", token, limit=1000).json()["users"]
        assert students and all(any(r["org"]["sourcedId"] == school for r in u["roles"]) for u in students)
        # Errors carry imsx_* bodies.
        bad = _get(api, "/users", token, filter="givenName=Bob")
        assert bad.status_code == 400 and bad.json()["imsx_codeMajor"] == "failure"
        assert _get(api, "/users", token, filter="nosuch='1'").status_code == 400
        assert _get(api, "/users/none", token).json()["imsx_severity"] == "error"
        assert _get(api, "/users", "expired").status_code == 401
        core_only = _token(api, SCOPE_CORE)
        assert _get(api, "/demographics", core_only).status_code == 403
    assert parse_filter("a='1' AND b>='x''y'")[0][1].value == "x'y"


def test_the_api_serves_the_records_of_the_sis_csv_bundle(district):
    _, truth, _ = district
    with simulator(district) as api:
        assert len(api.records("users")) == truth["students"].num_rows + truth["staff"].num_rows
        assert len(api.records("demographics")) == truth["students"].num_rows
        roles = sum(len(u["roles"]) for u in api.records("users").values())
        assert roles == truth["school_enrollments"].num_rows + truth["staff"].num_rows


def test_token_url_of_an_infinite_campus_base_url():
    settings = ApiSource(
        kind="oneroster_api",
        system_name="SIS",
        base_url="https://ic.example.org/campus/api/oneroster/v1p2/district1/ims/oneroster/rostering/v1p2",
        client_id_env="X_ID",
        client_secret_env="X_SECRET",
    )
    assert token_url(settings.base_url, settings) == "https://ic.example.org/campus/oauth2/token?appName=district1"


# -- dbt: the REST channel stages exactly as the CSV channel does --------------------------------
def test_staging_matches_the_csv_channel_of_the_same_sis(district, tmp_path):
    _, _, bundle = district
    landing = tmp_path / "landing"
    land_oneroster_bundle(
        bundle, landing, source_system="oneroster_csv", district_code="demo-usd", max_uncompressed_bytes=2**30
    )
    with simulator(district) as api:
        walk_all(api, landing)
        api.delete_record("users", next(iter(api.records("users"))))
        walk_all(api, landing, entities="users")
    warehouse = stage_both_oneroster_channels(tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for entity in ONEROSTER_SHARED:
            api_model, csv_model = f"stg_oneroster_api__{entity}", f"stg_oneroster_csv__{entity}"
            assert staged_columns(con, api_model) == staged_columns(con, csv_model), entity
            expected, served = staged_rows(con, csv_model), staged_rows(con, api_model)
            if entity == "users":  # the user deleted through the API
                assert len(expected - served) == 1 and served < expected
            else:
                assert served == expected, entity
        api_roles = set(con.execute(f"select {ROLE_COLUMNS} from staging.stg_oneroster_api__roles").fetchall())
        csv_roles = set(con.execute(f"select {ROLE_COLUMNS} from staging.stg_oneroster_csv__roles").fetchall())
        assert api_roles < csv_roles and len(csv_roles - api_roles) >= 1  # the deleted user's roles
        deleted = con.execute("select entity, count(*) from staging.stg_oneroster_api__deletions group by 1").fetchall()
    assert deleted == [("users", 1)]
