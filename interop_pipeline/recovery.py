"""Recovery that needs no human: runs whose process is gone are failed and their warehouse pool
slot freed, and what a dead run left half-written is swept, at every start.

A run killed with its processes (kill -9, a power cut, a stopped UI) stays "started" in the run
storage forever and keeps its slot in the one-writer warehouse pool, so every later run would
wait for that slot silently. Dagster's run monitoring cannot tell for the default run launcher,
so each run says who runs it:

- a run started by `interop-pipeline run` carries its process id and that process's start time
  (`OWNER_TAGS`): it is alive while that very process is;
- a run launched by the UI, a schedule or a sensor runs inside the code server Dagster tags it
  with (`dagster/grpc_info`): it is alive while that server still executes it.

`recover_dead_runs` is called by `interop-pipeline run` before it starts, by the daily schedule
and the drop-folder sensors before they request a run, and by `interop-pipeline recover`.
`sweep_leftovers` runs when no run is in progress, so it never touches a live run's work files."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from interop_pipeline.config import DistrictConfig

OWNER_PID_TAG = "interop/owner_pid"
OWNER_STARTED_TAG = "interop/owner_started"
GRPC_INFO_TAG = "dagster/grpc_info"  # written by Dagster's DefaultRunLauncher


def owner_tags() -> dict[str, str]:
    """Tags naming this process as the one executing a run (for runs started in-process)."""
    import psutil

    me = psutil.Process()
    return {OWNER_PID_TAG: str(me.pid), OWNER_STARTED_TAG: repr(me.create_time())}


def _owner_alive(tags: dict[str, str]) -> bool:
    import psutil

    try:
        process = psutil.Process(int(tags[OWNER_PID_TAG]))
        # The start time tells the run's own process from a later one given the same pid.
        return repr(process.create_time()) == tags[OWNER_STARTED_TAG] and process.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, KeyError, ValueError):
        return False


def _code_server_runs_it(run_id: str, grpc_info: str) -> bool:
    """Whether the code server the run was launched into is up and still executing it."""
    # Dagster's own client, as its run launcher uses it to cancel a run.
    from dagster._grpc.client import DagsterGrpcClient
    from dagster._grpc.types import CanCancelExecutionRequest, CanCancelExecutionResult
    from dagster._serdes import deserialize_value

    info = json.loads(grpc_info)
    client = DagsterGrpcClient(port=info.get("port"), socket=info.get("socket"), host=info.get("host", "localhost"))
    try:
        answer = client.can_cancel_execution(CanCancelExecutionRequest(run_id=run_id), timeout=5)
    except Exception:  # the server is gone (or answers nothing): nobody executes the run
        return False
    return deserialize_value(answer, CanCancelExecutionResult).can_cancel


def run_is_alive(run) -> bool | None:
    """True or False where the run says who executes it; None for a run that does not."""
    if OWNER_PID_TAG in run.tags:
        return _owner_alive(run.tags)
    if GRPC_INFO_TAG in run.tags:
        return _code_server_runs_it(run.run_id, run.tags[GRPC_INFO_TAG])
    return None


def in_progress_run_records(instance) -> list:
    """Records (run, create and update times) of the runs starting, started or cancelling."""
    from dagster import DagsterRunStatus, RunsFilter

    statuses = [DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]
    return list(instance.get_run_records(RunsFilter(statuses=statuses)))


def in_progress_runs(instance) -> list:
    return [record.dagster_run for record in in_progress_run_records(instance)]


def _claimed_pool_slots(instance) -> list:
    """The warehouse pool's claimed slots (none before any step has used the pool)."""
    from interop_pipeline.transform.dbt import WAREHOUSE_POOL

    storage = instance.event_log_storage
    if WAREHOUSE_POOL not in storage.get_concurrency_keys():
        return []
    return list(storage.get_concurrency_info(WAREHOUSE_POOL).claimed_slots)


def release_stale_pool_slots(instance) -> list[str]:
    """Free warehouse-pool slots still held by runs that are no longer in progress (a run whose
    processes were killed never hands its slot back and would block every later build).
    Returns the run ids freed."""
    from dagster import DagsterRunStatus

    in_progress = {DagsterRunStatus.QUEUED, DagsterRunStatus.STARTING, DagsterRunStatus.STARTED}
    freed = []
    for slot in _claimed_pool_slots(instance):
        run = instance.get_run_by_id(slot.run_id)
        if run is None or run.status not in in_progress:
            instance.event_log_storage.free_concurrency_slots_for_run(slot.run_id)
            freed.append(slot.run_id)
    return freed


def recover_dead_runs(instance, say: Callable[[str], None], *, unknown_are_dead: bool = False) -> list[str]:
    """Fail every in-progress run whose process is gone, free the pool slots of finished runs,
    and say each thing done. Runs that do not say who executes them are left alone unless
    `unknown_are_dead` (the explicit `recover`, run when nothing of the instance is up).
    Returns the run ids recovered."""
    recovered = []
    for run in in_progress_runs(instance):
        alive = run_is_alive(run)
        if alive or (alive is None and not unknown_are_dead):
            continue
        instance.report_run_failed(run, "Interrupted: the process executing this run is gone (crash, kill or reboot).")
        recovered.append(run.run_id)
        say(f"Recovered run {run.run_id}: its process is gone; marked failed, warehouse pool slot freed")
    for run_id in release_stale_pool_slots(instance):
        if run_id not in recovered:
            say(f"Freed the warehouse pool slot still held by finished run {run_id}")
    return recovered


def wait_for_live_runs(
    instance, say: Callable[[str], None], poll_seconds: float = 2.0, starting_grace_seconds: float = 60.0
) -> None:
    """One run of a district at a time: while another run is in progress and alive, wait. A run
    the daemon has just launched may not yet answer for itself: one still STARTING is waited for
    up to `starting_grace_seconds` since it last changed. A run whose process is gone is not
    waited for; recover_at_start fails it. The UI, schedules and sensors queue their runs behind
    any run in progress (the instance's `concurrency: runs: max_concurrent_runs: 1`); this is
    the same rule for a run started from the command line, which Dagster's queue does not see
    before it starts."""
    from dagster import DagsterRunStatus

    told: set[str] = set()
    while True:
        now = time.time()
        live = [
            record.dagster_run.run_id
            for record in in_progress_run_records(instance)
            if run_is_alive(record.dagster_run)
            or (
                record.dagster_run.status == DagsterRunStatus.STARTING
                and now - record.update_timestamp.timestamp() < starting_grace_seconds
            )
        ]
        if not live:
            return
        if set(live) - told:
            say(f"Waiting for run(s) {', '.join(live)} of this district to end: one run at a time")
            told.update(live)
        time.sleep(poll_seconds)


def waiting_for(instance) -> list[str]:
    """What a new run would wait for: the live runs holding the warehouse pool."""
    return [slot.run_id for slot in _claimed_pool_slots(instance)]


@dataclass(frozen=True)
class Leftover:
    path: Path
    bytes: int


def _leftovers(config: DistrictConfig):
    """Work files only a run in progress may have: landing batch work folders, the release's
    staged copy, half-written deliveries and the Ed-Fi load's spool."""
    from interop_pipeline.publish.state import publish_dir

    yield from config.landing_dir.glob("*/.tmp-*")
    yield from config.published_warehouse_path.parent.glob(".*.partial")
    for recipient in config.recipients.values():
        yield from config.delivery_folder(recipient).glob("**/.*.partial")
    yield from publish_dir(config.data_dir).glob("**/.*.partial")
    spool = publish_dir(config.data_dir) / "spool"
    if spool.is_dir():
        yield from (p for p in spool.rglob("*") if p.is_file())


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _shown(config: DistrictConfig, path: Path) -> str:
    return str(path.relative_to(config.data_dir)) if path.is_relative_to(config.data_dir) else str(path)


def sweep_leftovers(config: DistrictConfig, instance, say: Callable[[str], None]) -> list[Leftover]:
    """Remove what dead runs left behind, when no run is in progress (a live run's work files
    are its own). Says what it removed."""
    if in_progress_runs(instance):
        return []
    removed = []
    for path in sorted(set(_leftovers(config))):
        if not path.exists():
            continue
        removed.append(Leftover(path, _size(path)))
        shutil.rmtree(path) if path.is_dir() else path.unlink()
        say(f"Removed {_shown(config, path)} ({removed[-1].bytes:,} bytes), left by an interrupted run")
    return removed


def record_interrupted_deliveries(config: DistrictConfig, instance, say: Callable[[str], None]) -> list[str]:
    """API loads a dead run left under way: each gets its `interrupted` audit row (what the other
    side had answered), when no run is in progress (a live run's load is its own)."""
    from interop_pipeline.publish.audit import in_progress_dir, record_interrupted

    if in_progress_runs(instance):
        return []
    lines = [record_interrupted(config.data_dir, m) for m in sorted(in_progress_dir(config.data_dir).glob("*.json"))]
    for line in lines:
        say(line)
    return lines


def recover_at_start(config: DistrictConfig, instance, say: Callable[[str], None]) -> None:
    """What every start does: recover dead runs, record the loads they cut off, then sweep their
    leftovers, if nothing runs."""
    recover_dead_runs(instance, say)
    record_interrupted_deliveries(config, instance, say)
    sweep_leftovers(config, instance, say)
    holders = waiting_for(instance)
    if holders:
        say(f"The warehouse pool is held by live run(s) {', '.join(holders)}: the build steps wait for them")
