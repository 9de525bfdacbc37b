"""Recovery without a human, part by part on a real Dagster instance: which runs are dead, the
sweep of what they left, the daily schedule recovering before it requests a run, and an Ed-Fi
load cut off mid-send audited as interrupted. Whole runs killed with kill -9 and run again
without `recover` are in test_chaos.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dagster import DagsterInstance, DagsterRunStatus
from dagster._core.instance.ref import InstanceRef

from interop_pipeline.cli import DAGSTER_YAML_TEMPLATE
from interop_pipeline.config import load_config
from interop_pipeline.recovery import (
    GRPC_INFO_TAG,
    OWNER_PID_TAG,
    OWNER_STARTED_TAG,
    owner_tags,
    recover_dead_runs,
    run_is_alive,
    sweep_leftovers,
    wait_for_live_runs,
)
from tests.hub_fixture import HUB_DISTRICT


def _cli(config_path: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "interop_pipeline.cli", *args, "--config", str(config_path)]


def _env(config_path: Path) -> dict[str, str]:
    return {**os.environ, "INTEROP_DISTRICT_CONFIG": str(config_path)}


def _instance(home: Path) -> DagsterInstance:
    return DagsterInstance.from_ref(InstanceRef.from_dir(str(home)))


def _plant_leftovers(config) -> list[Path]:
    """Work files of the names the landing writer, the release, a delivery and the Ed-Fi load
    give them while they work, as a run killed at those moments leaves them."""
    planted = [
        config.landing_dir / "iready" / ".tmp-0badc0ffee" / "part-0.parquet",
        config.published_warehouse_path.with_name(f".{config.published_warehouse_path.name}.deadrun.partial"),
        config.delivery_folder(config.recipients["learning_app"]) / ".learning_app_bulk_dead.zip.partial",
        config.data_dir / "publish" / "spool" / "state_ods" / "dead-delivery.jsonl",
    ]
    for path in planted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half-written")
    return planted


@pytest.fixture
def instance(tmp_path):
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        yield instance


def _started_run(instance: DagsterInstance, tags: dict[str, str], status=DagsterRunStatus.STARTED):
    from dagster import job, op

    @op
    def noop():
        pass

    @job
    def some_job():
        noop()

    return instance.create_run_for_job(some_job, tags=tags, status=status)


def test_liveness_follows_the_owning_process(instance):
    mine = _started_run(instance, owner_tags())
    assert run_is_alive(mine) is True
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = _started_run(instance, {OWNER_PID_TAG: str(gone.pid), OWNER_STARTED_TAG: "0.0"})
    assert run_is_alive(dead) is False
    # The same pid later given to another process is not the run's process.
    reused = _started_run(instance, {OWNER_PID_TAG: str(os.getpid()), OWNER_STARTED_TAG: "1.0"})
    assert run_is_alive(reused) is False
    unknown = _started_run(instance, {})
    assert run_is_alive(unknown) is None

    said: list[str] = []
    assert set(recover_dead_runs(instance, said.append)) == {dead.run_id, reused.run_id}
    assert instance.get_run_by_id(mine.run_id).status == DagsterRunStatus.STARTED
    assert instance.get_run_by_id(unknown.run_id).status == DagsterRunStatus.STARTED
    assert all("its process is gone" in line for line in said) and len(said) == 2
    # The explicit `recover` (nothing of the instance running) counts unknown runs as dead too.
    assert recover_dead_runs(instance, said.append, unknown_are_dead=True) == [unknown.run_id]


def _waiting(instance, **options) -> tuple[threading.Thread, list[str]]:
    said: list[str] = []
    waiter = threading.Thread(target=wait_for_live_runs, args=(instance, said.append, 0.1), kwargs=options)
    waiter.start()
    time.sleep(1.5)
    return waiter, said


def test_a_new_run_waits_for_the_live_one_and_not_for_a_dead_one(instance):
    """One run of a district at a time: `interop-pipeline run` waits while another run's process
    is alive, and goes on once it is gone (recover_at_start then fails that run)."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        import psutil

        owner = psutil.Process(other.pid)
        live = _started_run(instance, {OWNER_PID_TAG: str(other.pid), OWNER_STARTED_TAG: repr(owner.create_time())})
        waiter, said = _waiting(instance)
        assert waiter.is_alive()  # still waiting
        assert said == [f"Waiting for run(s) {live.run_id} of this district to end: one run at a time"]
    finally:
        other.kill()
        other.wait()
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert recover_dead_runs(instance, said.append) == [live.run_id]


def test_a_run_still_starting_is_waited_for_a_while_never_for_ever(instance):
    """A run the daemon has just launched may not yet answer for itself (here, its code server is
    not up): it is waited for, not taken for dead. One left STARTING past the grace period (its
    launcher stopped before the run began) is waited for no longer."""
    starting = _started_run(instance, {GRPC_INFO_TAG: '{"port": 1}'}, status=DagsterRunStatus.STARTING)
    waiter, said = _waiting(instance, starting_grace_seconds=3.0)
    assert waiter.is_alive()
    assert said == [f"Waiting for run(s) {starting.run_id} of this district to end: one run at a time"]
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert instance.get_run_by_id(starting.run_id).status == DagsterRunStatus.STARTING  # recover_at_start fails it


def test_the_ui_schedules_and_sensors_queue_their_runs_one_at_a_time(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(DAGSTER_YAML_TEMPLATE, home / "dagster.yaml")
    with _instance(home) as instance:
        # What the daemon dequeues by (the queue settings of the run coordinator, as the file sets them).
        assert instance.get_concurrency_config().run_queue_config.max_concurrent_runs == 1


def test_the_sweep_waits_while_a_run_is_in_progress(instance, tmp_path):
    shutil.copy(HUB_DISTRICT / "district.yaml", tmp_path / "district.yaml")
    config = load_config(tmp_path / "district.yaml")
    planted = _plant_leftovers(config)
    kept = config.delivery_folder(config.recipients["learning_app"]) / "learning_app_bulk_2025.zip"
    kept.write_bytes(b"a delivered bundle")
    live = _started_run(instance, owner_tags())
    assert sweep_leftovers(config, instance, print) == []
    assert all(p.exists() for p in planted)
    instance.report_run_failed(live, "test over")
    removed = sweep_leftovers(config, instance, print)
    landing_work_folder = planted[0].parent  # removed whole
    assert {r.path for r in removed} == {landing_work_folder, *planted[1:]}
    assert kept.exists() and not any(p.exists() for p in planted)


def test_the_daily_schedule_recovers_a_dead_run_before_it_requests_one(instance, tmp_path):
    from dagster import build_schedule_context

    from interop_pipeline.definitions import build_definitions

    shutil.copy(HUB_DISTRICT / "district.yaml", tmp_path / "district.yaml")
    config = load_config(tmp_path / "district.yaml")
    schedule = build_definitions(config).get_schedule_def("daily_district_refresh")
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead = _started_run(instance, {OWNER_PID_TAG: str(gone.pid), OWNER_STARTED_TAG: "0.0"})
    (spool_file,) = [p for p in _plant_leftovers(config) if "spool" in p.parts]
    requests = schedule.evaluate_tick(build_schedule_context(instance=instance)).run_requests
    assert len(requests) == 1
    assert instance.get_run_by_id(dead.run_id).status == DagsterRunStatus.FAILURE
    assert not spool_file.exists()


def test_a_load_cut_off_by_a_kill_is_audited_as_interrupted_with_what_reached_the_ods(instance, tmp_path):
    """What an Ed-Fi load killed mid-send leaves: its in-progress marker and the results file so
    far. The next start records the delivery as interrupted, counting what the ODS answered."""
    from interop_pipeline.publish.audit import in_progress_dir, mark_in_progress, read_audit_log
    from interop_pipeline.recovery import record_interrupted_deliveries

    shutil.copy(HUB_DISTRICT / "district.yaml", tmp_path / "district.yaml")
    config = load_config(tmp_path / "district.yaml")
    results = config.data_dir / "publish" / "results" / "state_ods" / "20250901T060000000000Z-state_ods.csv"
    results.parent.mkdir(parents=True)
    results.write_text(
        "resource,record_key,outcome,http_status,message\n"
        "schools,k1,created,201,\nstudents,k2,created,201,\nstudents,k3,updated,200,\nstudents,k4,failed,400,bad\n"
    )
    mark_in_progress(
        config.data_dir,
        results_file=results,
        delivery_id="20250901T060000000000Z-state_ods",
        recipient="state_ods",
        format="edfi_api",
        mode="bulk",
        destination="http://127.0.0.1:1",
        delivered_at="2025-09-01T06:00:00+00:00",
    )
    said: list[str] = []
    assert record_interrupted_deliveries(config, instance, said.append) == said
    assert said and "3 records had reached state_ods" in said[0] and "k2" not in said[0]
    audit = read_audit_log(config.data_dir).to_pylist()
    assert {a["status"] for a in audit} == {"interrupted"}
    assert {a["file_name"]: a["row_count"] for a in audit} == {
        "schools:created": 1,
        "students:created": 1,
        "students:updated": 1,
        "students:failed": 1,
    }
    assert not list(in_progress_dir(config.data_dir).glob("*"))
    assert record_interrupted_deliveries(config, instance, said.append) == []  # recorded once
