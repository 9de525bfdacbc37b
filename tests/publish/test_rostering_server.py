"""`interop-pipeline serve`: OneRoster 1.2 REST from the published warehouse, each client seeing
its own recipient's roster and nothing else.

A real uvicorn server on 127.0.0.1 serves a dbt-built district; the project's own OneRoster REST
connector walks it, and dbt stages what it landed beside the recipient's CSV bundle: the two
channels hold the same records. Auth, scopes and errors are checked with plain HTTP requests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import requests
import yaml

from interop_pipeline.config import ApiSource, DistrictConfig, load_config
from interop_pipeline.connectors.api_landing import land_entity_walk
from interop_pipeline.connectors.api_sources import Credentials
from interop_pipeline.connectors.http import HttpSettings
from interop_pipeline.connectors.oneroster_api import CONNECTOR
from interop_pipeline.connectors.oneroster_csv import land_oneroster_bundle
from interop_pipeline.publish.deliver import publish_recipient
from interop_pipeline.rostering.protocol import SCOPE_CORE, SCOPE_DEMOGRAPHICS
from interop_pipeline.rostering.server import ROSTERING_PATH, TOKEN_PATH, create_app, rest_clients, running
from tests.api.support import (
    ONEROSTER_SHARED,
    ROLE_COLUMNS,
    stage_both_oneroster_channels,
    staged_columns,
    staged_rows,
)
from tests.publish.conftest import release

FIRST = datetime(2025, 9, 1, 6, tzinfo=UTC)
ENV = {
    "LEARNING_APP_CLIENT_ID": "learning-app",
    "LEARNING_APP_CLIENT_SECRET": "la-secret-value",
    "PILOT_APP_CLIENT_ID": "pilot-app",
    "PILOT_APP_CLIENT_SECRET": "pilot-secret-value",
}
PILOT_SCHOOL = "org-101"


@pytest.fixture
def hub_config(publish_config: DistrictConfig) -> DistrictConfig:
    """The demo's recipients plus a OneRoster 1.2 pilot limited to one school's early grades, and
    a release: the built warehouse copied to where analysts and the server read it."""
    raw = yaml.safe_load(publish_config.config_path.read_text())
    raw["recipients"]["pilot_app"] = {
        "format": "oneroster_1.2",
        "schools": [PILOT_SCHOOL],
        "grades": ["KG", "01", "02"],
        "fields": ["names"],
        "delivery_folder": "exports/pilot_app",
        "serve_client_id_env": "PILOT_APP_CLIENT_ID",
        "serve_client_secret_env": "PILOT_APP_CLIENT_SECRET",
    }
    publish_config.config_path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(publish_config.config_path)
    release(config, config.build_warehouse_path)
    return config


def token(base: str, client: str, secret: str, scope: str | None = None) -> requests.Response:
    data = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    return requests.post(base + TOKEN_PATH, data=data, auth=(client, secret), timeout=10)


def get(base: str, path: str, access_token: str, **params: str) -> requests.Response:
    headers = {"Authorization": f"Bearer {access_token}"}
    return requests.get(base + ROSTERING_PATH + path, params=params, headers=headers, timeout=30)


def walk(base: str, landing: Path, client: str, secret: str, **options: str) -> None:
    """The project's own OneRoster REST connector, as a district pointing it at a hub would."""
    settings = ApiSource(
        kind="oneroster_api",
        system_name="District hub",
        base_url=base + ROSTERING_PATH,
        client_id_env="HUB_CLIENT_ID",
        client_secret_env="HUB_CLIENT_SECRET",
        page_size=50,
        options={"token_path": TOKEN_PATH, **options},
    )
    fast = HttpSettings(backoff_seconds=0.01)
    http = CONNECTOR.make_client(settings.base_url, settings, Credentials(client, secret), fast)
    try:
        for entity_walk in CONNECTOR.entity_walks(settings):
            land_entity_walk(
                http, entity_walk, landing_root=landing, source_system="oneroster_api", district_code="demo-usd"
            )
    finally:
        http.close()


def test_a_recipient_walks_exactly_its_csv_bundle(hub_config: DistrictConfig, tmp_path: Path) -> None:
    publish_recipient(hub_config, "learning_app", now=FIRST)
    [bundle] = sorted(hub_config.delivery_folder(hub_config.recipients["learning_app"]).iterdir())
    landing = tmp_path / "landing"
    land_oneroster_bundle(
        bundle, landing, source_system="oneroster_csv", district_code="demo-usd", max_uncompressed_bytes=2**30
    )
    with running(create_app(hub_config, rest_clients(hub_config, ENV))) as base:
        walk(base, landing, ENV["LEARNING_APP_CLIENT_ID"], ENV["LEARNING_APP_CLIENT_SECRET"])
    warehouse = stage_both_oneroster_channels(tmp_path)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for entity in ONEROSTER_SHARED:
            served, bundled = f"stg_oneroster_api__{entity}", f"stg_oneroster_csv__{entity}"
            assert staged_columns(con, served) == staged_columns(con, bundled), entity
            expected = staged_rows(con, bundled)
            assert expected, entity
            assert staged_rows(con, served) == expected, entity
        roles = [
            set(con.execute(f"select {ROLE_COLUMNS} from staging.stg_oneroster_{channel}__roles").fetchall())
            for channel in ("api", "csv")
        ]
        assert roles[0] == roles[1] and roles[0]


def test_each_client_sees_only_its_agreement(hub_config: DistrictConfig) -> None:
    publish_recipient(hub_config, "pilot_app", now=FIRST)
    with duckdb.connect(str(hub_config.published_warehouse_path), read_only=True) as con:
        schools = dict(con.execute("select sis_school_id, school_key from dim_school").fetchall())
    with running(create_app(hub_config, rest_clients(hub_config, ENV))) as base:
        answer = token(base, ENV["PILOT_APP_CLIENT_ID"], ENV["PILOT_APP_CLIENT_SECRET"])
        assert answer.status_code == 200
        # The agreement has no demographics: the scope is not granted, however asked for.
        assert answer.json()["scope"] == SCOPE_CORE
        pilot = answer.json()["access_token"]
        served = get(base, "/schools", pilot).json()["orgs"]  # schools are orgs in the payload
        assert [s["sourcedId"] for s in served] == [f"sch-{schools[PILOT_SCHOOL]}"]
        other = next(key for sis, key in schools.items() if sis != PILOT_SCHOOL)
        assert get(base, f"/schools/sch-{other}", pilot).status_code == 404
        assert get(base, f"/schools/sch-{other}/classes", pilot).status_code == 404
        students = get(base, "/students", pilot, limit="5000").json()["users"]
        assert students and {g for s in students for g in s["grades"]} <= {"KG", "01", "02"}
        assert all(s["email"] is None and s["identifier"] is None for s in students)  # names only
        forbidden = get(base, "/demographics", pilot)
        assert forbidden.status_code == 403 and forbidden.json()["imsx_codeMajor"] == "failure"
        # The district-wide recipient sees every school.
        learning = token(base, ENV["LEARNING_APP_CLIENT_ID"], ENV["LEARNING_APP_CLIENT_SECRET"]).json()
        assert len(get(base, "/schools", learning["access_token"]).json()["orgs"]) == len(schools)
    # The pilot's REST roster is its CSV bundle's: the same users.
    [bundle] = sorted(hub_config.delivery_folder(hub_config.recipients["pilot_app"]).iterdir())
    with zipfile.ZipFile(bundle) as zf:
        bundled_students = sum(1 for line in zf.read("users.csv").decode().splitlines()[1:] if line.startswith("stu-"))
    assert len(students) == bundled_students


def test_tokens_scopes_and_errors(hub_config: DistrictConfig) -> None:
    client, secret = ENV["LEARNING_APP_CLIENT_ID"], ENV["LEARNING_APP_CLIENT_SECRET"]
    with running(create_app(hub_config, rest_clients(hub_config, ENV), token_ttl_seconds=2)) as base:
        assert token(base, client, "wrong-secret").status_code == 401
        assert token(base, "nobody", secret).status_code == 401
        assert token(base, client, secret, scope="https://example.org/other-scope").json() == {"error": "invalid_scope"}
        core = token(base, client, secret, scope=SCOPE_CORE).json()["access_token"]
        wrong_scope = get(base, "/demographics", core)
        assert wrong_scope.status_code == 403
        assert wrong_scope.json()["imsx_CodeMinor"]["imsx_codeMinorField"][0]["imsx_codeMinorFieldValue"] == "forbidden"
        full = token(base, client, secret, scope=f"{SCOPE_CORE} {SCOPE_DEMOGRAPHICS}").json()["access_token"]
        assert get(base, "/demographics", full, limit="1").status_code == 200
        unknown = get(base, "/users", full, filter="favoriteColor='blue'")
        assert unknown.status_code == 400
        assert unknown.json()["imsx_codeMajor"] == "failure" and "favoriteColor" in unknown.json()["imsx_description"]
        assert get(base, "/users", "not-a-token").status_code == 401
        # Paging, sorting and fields as the specification defines them.
        page = get(base, "/users", full, limit="7", offset="3", sort="familyName", fields="sourcedId,familyName")
        assert page.status_code == 200 and len(page.json()["users"]) == 7
        assert set(page.json()["users"][0]) == {"sourcedId", "familyName"}
        assert int(page.headers["X-Total-Count"]) > 10 and 'rel="next"' in page.headers["Link"]
        names = [u["familyName"] for u in page.json()["users"]]
        assert names == sorted(names)
        time.sleep(2.2)
        expired = get(base, "/users", full)
        assert expired.status_code == 401 and "WWW-Authenticate" in expired.headers


def test_a_new_release_is_served_with_its_changes_and_deletions(hub_config: DistrictConfig, tmp_path: Path) -> None:
    client, secret = ENV["LEARNING_APP_CLIENT_ID"], ENV["LEARNING_APP_CLIENT_SECRET"]
    with running(create_app(hub_config, rest_clients(hub_config, ENV))) as base:
        access = token(base, client, secret).json()["access_token"]
        first = get(base, "/users", access, limit="1").json()["users"][0]
        first_stamp = first["dateLastModified"]
        before = int(get(base, "/users", access, limit="1").headers["X-Total-Count"])
        # The next release: one student renamed, one withdrawn (as the next dbt build would say).
        next_build = tmp_path / "next.duckdb"
        shutil.copyfile(hub_config.build_warehouse_path, next_build)
        with duckdb.connect(str(next_build)) as con:
            changed, withdrawn = [
                r[0] for r in con.execute("select student_key from dim_student order by 1 limit 2").fetchall()
            ]
            con.execute("update dim_student set last_name = 'Renamed' where student_key = ?", [changed])
            for table in ("fct_section_enrollment", "fct_school_enrollment", "dim_student"):
                con.execute(f"delete from {table} where student_key = ?", [withdrawn])
        time.sleep(0.01)
        release(hub_config, next_build)  # while the server runs: nothing holds the file
        since = get(base, "/users", access, filter=f"dateLastModified>'{first_stamp}'", limit="5000")
        assert since.status_code == 200
        users = {u["sourcedId"]: u for u in since.json()["users"]}
        assert users[f"stu-{changed}"]["familyName"] == "Renamed"
        assert users[f"stu-{changed}"]["status"] == "active"
        assert users[f"stu-{withdrawn}"]["status"] == "tobedeleted"
        assert users[f"stu-{withdrawn}"]["dateLastModified"] > first_stamp
        assert len(users) == 2  # everything else kept its dateLastModified
        after = int(get(base, "/users", access, limit="1").headers["X-Total-Count"])
        assert after == before  # the withdrawn student is still listed, as tobedeleted
        assert get(base, "/enrollments/no-such-id", access).status_code == 404


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_serve_command_serves_and_stops_on_sigterm(hub_config: DistrictConfig) -> None:
    """What the README shows a district: `interop-pipeline serve`, then a vendor's token and read."""
    port = free_port()
    env = {**os.environ, **ENV}
    command = [sys.executable, "-m", "interop_pipeline.cli", "serve", "--config", str(hub_config.config_path)]
    server = subprocess.Popen(
        [*command, "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                answer = token(base, ENV["LEARNING_APP_CLIENT_ID"], ENV["LEARNING_APP_CLIENT_SECRET"])
                break
            except requests.ConnectionError:
                assert server.poll() is None and time.monotonic() < deadline, server.stdout.read()
                time.sleep(0.2)
        orgs = get(base, "/orgs", answer.json()["access_token"])
        assert orgs.status_code == 200 and orgs.json()["orgs"]
        school = next(o for o in orgs.json()["orgs"] if o["type"] == "school")
        assert school["parent"]["href"].startswith(base + ROSTERING_PATH + "/orgs/")
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode == 0, output
    assert ENV["LEARNING_APP_CLIENT_SECRET"] not in output


def test_the_load_benchmark_runs_and_stops_by_itself() -> None:
    """bench/bench_rostering.py at a tiny size, so it cannot rot unnoticed."""
    bench = Path(__file__).resolve().parents[2] / "bench" / "bench_rostering.py"
    run = subprocess.run(
        [sys.executable, str(bench), "--students", "500", "--requests", "200", "--seconds", "60"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "200 GET /users?limit=100" in run.stdout and "0 failed" in run.stdout
