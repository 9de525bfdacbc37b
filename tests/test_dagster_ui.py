"""The Dagster UI itself, in a real browser (the system's Chromium, headless, through
playwright-core), against `interop-pipeline ui` serving a small generated district with every
kind of source and recipient: the global asset lineage draws the pipeline's groups and assets;
the job `district_refresh`, launched from its page with "Materialize all", runs to success and
releases the warehouse; and every page, tab, button and check the README's runbook ("Operating
the pipeline") sends a data engineer to is there under the name the runbook gives it."""

from __future__ import annotations

import json
import re
import signal
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import duckdb
import psutil
import pytest
import yaml
from dagster import DagsterInstance, DagsterRunStatus

from interop_pipeline.cli import DAGSTER_YAML_TEMPLATE, dagster_home
from interop_pipeline.config import DistrictConfig, FileDropSource, OneRosterCsvSource, load_config
from interop_pipeline.simulators.generate import write_district
from tests.browser_tools import require_browser, run_browser_script
from tests.conftest import write_config
from tests.ui_server import free_port, serving, start_ui, wait_until_serving

pytestmark = pytest.mark.e2e

README = Path(__file__).resolve().parents[1] / "README.md"
STUDENTS = 60  # enough for every source, check and recipient to have rows; the run's time is the steps'
JOB = "district_refresh"
RELEASE = "published_warehouse"
FILE_SOURCE = "nwea_map"  # a source delivered as files: its landing is one step for all its entities
REST_SOURCE = "edfi"
# The checks the runbook names, on the assets that carry them.
CHECKS = {
    RELEASE: ["released_after_blocking_checks", "sources_current"],
    "landing/oneroster_csv/batches": ["delivery_accepted", "fresh_within_limit"],
    "landing/oneroster_csv/rejects": ["no_rejected_rows"],
    f"landing/{FILE_SOURCE}/assessment_results": ["no_row_count_drop", "no_schema_drift", "reject_rate_within_limit"],
}
# The run launched from the UI is to be the only one: the drop-folder sensors (on by default) are
# stopped before the deliveries arrive, and any run the daemon would still start (a sensor's, the
# schedule's) is held in the queue.
HELD_RUNS = [{"key": "dagster/sensor_name", "limit": 0}, {"key": "dagster/schedule_name", "limit": 0}]


def ui_district(folder: Path) -> DistrictConfig:
    """The demo config at STUDENTS students in `folder`, its simulated APIs and Ed-Fi recipient on
    free ports (the UI serves them where the config says), the district generated (its deliveries
    held back in drops_held/), and its Dagster instance holding the daemon's runs."""
    path = write_config(folder, students=STUDENTS)
    raw = yaml.safe_load(path.read_text())
    for settings in [*raw["sources"].values(), *raw["recipients"].values()]:
        if "base_url" in settings:
            url = urlsplit(settings["base_url"])
            settings["base_url"] = urlunsplit(url._replace(netloc=f"127.0.0.1:{free_port()}"))
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(path)
    write_district(config, students=STUDENTS, seed=config.demo.seed)
    # The drop folders stay empty until the drop-folder sensors are stopped (see the fixture).
    (folder / "drops").rename(folder / "drops_held")
    instance = yaml.safe_load(DAGSTER_YAML_TEMPLATE.read_text())
    instance.setdefault("concurrency", {}).setdefault("runs", {})["tag_concurrency_limits"] = HELD_RUNS
    (dagster_home(config) / "dagster.yaml").write_text(yaml.safe_dump(instance, sort_keys=False))
    return config


def file_sources(config: DistrictConfig) -> set[str]:
    """The sources delivered as files: each has a drop-folder sensor and a `<source>_delivery` job."""
    sources = config.enabled_sources().items()
    return {name for name, source in sources if isinstance(source, FileDropSource | OneRosterCsvSource)}


def graphql(port: int, query: str) -> dict:
    """What the webserver answers (the API its pages use)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        answer = json.load(response)
    assert not answer.get("errors"), answer["errors"]
    return answer["data"]


SENSORS = """{ sensorsOrError(repositorySelector: {repositoryName: "__repository__",
    repositoryLocationName: "interop_pipeline"}) { ... on Sensors { results { name
    sensorState { id status ticks(limit: 1) { status } } } } } }"""


def stop_sensors_after_their_first_look(port: int, names: set[str], timeout: float = 240) -> None:
    """Once each named sensor has looked at its (still empty) folder once, stop it, as its toggle
    on the Automation page does. A tick under way when a sensor is stopped writes it back as
    running, so this looks again until every one has stayed stopped a while."""
    deadline = time.monotonic() + timeout
    states: dict = {}
    stopped_twice = 0
    while stopped_twice < 2:
        assert time.monotonic() < deadline, f"the sensors did not stop: {states}"
        time.sleep(2)
        results = graphql(port, SENSORS)["sensorsOrError"]["results"]
        states = {s["name"]: s["sensorState"] for s in results if s["name"] in names}
        assert set(states) == names, results
        ticks = {name: [t["status"] for t in state["ticks"]] for name, state in states.items()}
        assert all(tick in ([], ["STARTED"], ["SKIPPED"]) for tick in ticks.values()), ticks  # nothing requested
        if not all(ticks.values()) or ["STARTED"] in ticks.values():
            continue
        running = [state["id"] for state in states.values() if state["status"] == "RUNNING"]
        stopped_twice = 0 if running else stopped_twice + 1
        for state_id in running:
            stop = graphql(port, f'mutation {{ stopSensor(id: "{state_id}") {{ __typename }} }}')
            assert stop["stopSensor"]["__typename"] == "StopSensorMutationResult", stop


@pytest.fixture(scope="module")
def session(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The UI up for the district, driven through by tests/browser/check_dagster_ui.js, then
    stopped; what the browser saw, the assets the webserver serves, and the district."""
    require_browser()
    folder = tmp_path_factory.mktemp("ui_district")
    config = ui_district(folder)
    port = free_port()
    log = folder / "ui.log"
    ui = start_ui(config.config_path, port, log)
    try:
        wait_until_serving(ui, port, log)
        assets = graphql(port, "{ assetNodes { assetKey { path } groupName } }")["assetNodes"]
        stop_sensors_after_their_first_look(port, {f"{name}_drop_folder" for name in file_sources(config)})
        (folder / "drops_held").rename(folder / "drops")  # the day's deliveries arrive
        spec = {
            "job": JOB,
            "lineage_filter": 'group:"release" or group:"publish"',
            "downstream_filter": f'group:"{REST_SOURCE}"+',
            "group": FILE_SOURCE,
            "group_asset": f"landing/{FILE_SOURCE}/assessment_results",
            "check_assets": list(CHECKS),
            "release_asset": RELEASE,
            "run_timeout_s": 600,
            "screenshots": str(folder),
        }
        seen = run_browser_script("check_dagster_ui.js", f"http://127.0.0.1:{port}", json.dumps(spec), timeout=840)
        started = psutil.Process(ui.pid).children(recursive=True)
        ui.send_signal(signal.SIGTERM)  # as a service manager stops it (Ctrl-C: tests/test_ui_command.py)
        exit_code = ui.wait(90)
    finally:
        if ui.poll() is None:
            ui.kill()
    assets = [("/".join(a["assetKey"]["path"]), a["groupName"]) for a in assets]
    stopped = {"exit_code": exit_code, "started": started, "port": port}
    return {"seen": seen, "assets": assets, "config": config, "log": log, "stopped": stopped}


def test_on_sigterm_every_process_of_the_ui_stops_and_nothing_is_left_behind(session):
    stopped, log = session["stopped"], session["log"].read_text()
    assert stopped["exit_code"] == 0, log[-3000:]
    assert "Stopping the UI" in log
    assert len(stopped["started"]) >= 3  # dagster dev, its webserver, daemon and code server
    time.sleep(1)
    alive = [p.pid for p in stopped["started"] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert alive == []
    assert not serving(stopped["port"])


def test_the_lineage_page_draws_every_group_and_their_assets(session):
    seen, assets, config = session["seen"], session["assets"], session["config"]
    lineage = seen["lineage"]
    groups = {group for _, group in assets}
    # Every group of the definitions is listed beside the graph, once, and drawn as a box.
    assert sorted(lineage["sidebar_groups"]) == sorted(groups)
    assert {*config.enabled_sources(), "release", "publish", "identity", "warehouse_core"} <= groups
    assert lineage["graph_boxes"] >= 10
    # Filtered to the release and the deliveries, with groups expanded: each asset is a node.
    released = {key.split("/")[-1] for key, group in assets if group in ("release", "publish")}
    assert {RELEASE, "district_report", *config.enabled_recipients()} <= released
    assert sorted(lineage["filtered_nodes"]) == sorted(released)
    assert lineage["filtered_edges"] >= len(released) - 1  # the release feeds each of them
    assert seen["page_errors"] == []


def test_materialize_all_from_the_jobs_page_runs_the_refresh_to_success(session, monkeypatch):
    seen, config = session["seen"], session["config"]
    assert seen["job_page_button"] == "Materialize all"
    assert seen["launched_toast"] == f"Launched run {seen['run_id'][:8]}"
    assert seen["run"]["status"] == "Success", seen["run"]
    row = seen["runs_page"]["row"].split("\n")
    assert row[0] == seen["run_id"][:8] and JOB in row and "Success" in row and "Manually launched" in row

    # What the UI showed is what happened: that run, the only one, succeeded, and the warehouse it
    # released has the district's students.
    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home(config)))
    with DagsterInstance.get() as instance:
        runs = {run.run_id: run for run in instance.get_runs()}
    run = runs.pop(seen["run_id"])
    assert run.job_name == JOB and run.status == DagsterRunStatus.SUCCESS
    assert runs == {}  # nothing else ran, nor waits to
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        assert con.execute("select count(*) from dim_student").fetchone()[0] == STUDENTS
    assert config.published_warehouse_path.with_name("district_report.html").is_file()

    # The release shows its checks passed and counts the rows of what it released.
    checks = seen["checks_after_run"][RELEASE]["listed"]
    assert {c["name"]: c["status"] for c in checks} == {name: "Succeeded" for name in CHECKS[RELEASE]}
    overview = seen["release_overview"]
    assert "table_rows" in overview
    assert re.search(rf"\nrows_dim_student\n\s*[^\n]+\n\s*{STUDENTS}\n", overview), overview[:3000]


# What the runbook tells a data engineer to find in the UI, in bold (paragraph leads aside).
RUNBOOK_LABELS = {"Runs", "Queued", "Checks", "Jobs", "Lineage", "Materialize all", "Materialize selected", "Confirm"}


def runbook() -> str:
    text = README.read_text()
    return text.split("## Operating the pipeline", 1)[1].split("\n## ", 1)[0]


def test_the_runbook_names_the_uis_labels_and_only_those():
    bold = {" ".join(label.split()) for label in re.findall(r"\*\*([^*]+)\*\*", runbook())}
    leads = {label for label in bold if label.endswith(".")}
    assert bold - leads - {"blocking"} == RUNBOOK_LABELS


def test_every_label_the_runbook_names_is_in_the_ui(session):
    seen, config = session["seen"], session["config"]
    assert seen["run"]["status"] == "Success", seen["run"]  # the Checks tabs are read after it
    text = runbook()
    # The daily routine: the Runs page, the release's Checks tab; a failed check: each asset's
    # Checks tab lists the checks the runbook names.
    assert {"Runs", "Jobs", "Lineage", "Catalog"} <= set(seen["navigation"])
    assert "Queued" in " ".join(seen["runs_page"]["tabs"])  # where a run waits for the one in progress
    for asset, names in CHECKS.items():
        shown = seen["checks_after_run"][asset]
        assert "Checks" in shown["tabs"]
        assert [c["name"] for c in shown["listed"]] == names and shown["count"] == len(names)
        assert all(c["status"] == "Succeeded" for c in shown["listed"]), shown
        for name in names:
            assert f"`{name}`" in text
    # Re-running one source: a file source's delivery job on the Jobs page (REST sources have none).
    assert sorted(seen["jobs"]) == sorted({JOB} | {f"{name}_delivery" for name in file_sources(config)})
    assert "`<source>_delivery`" in text
    # ... any source and everything downstream, from the Lineage page's search box.
    downstream = seen["downstream"]
    assert 'group:"<source>"+' in text and 'group:"<source>"`' in text
    assert downstream["materialize_button"] == "Materialize all"
    assert "group%3A%22edfi%22%2B" in downstream["filter_url"]
    assert {REST_SOURCE, "release", "publish"} <= set(downstream["sidebar_groups"])
    assert not {FILE_SOURCE, "canvas", "oneroster_csv"} & set(downstream["sidebar_groups"])
    # ... or one source's landing alone: selected in its group, Materialize selected, Confirm.
    group = seen["group"]
    landing = sorted(
        key.split("/")[-1] for key, g in session["assets"] if g == FILE_SOURCE and key.startswith("landing/")
    )
    assert set(landing) <= set(group["sidebar"]) and "assessment_results" in group["nodes"]
    assert group["materialize_button"] == "Materialize selected"
    assert group["confirm_dialog"]["buttons"] == ["Cancel", "Confirm"]
    others = re.findall(rf"landing / {FILE_SOURCE} / (\w+)", group["confirm_dialog"]["text"])
    assert sorted(others) == [name for name in landing if name != "assessment_results"]
