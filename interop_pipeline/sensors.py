"""Drop-folder sensors: a new or changed file starts a run of the assets it feeds.

Files are fingerprinted by sha256, so the same file dropped twice, or a renamed copy, starts
nothing. The cursor keeps (size, mtime, sha256) per file name, so unchanged files are not
re-hashed on every tick.
"""

import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dagster import (
    AssetSelection,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SkipReason,
    define_asset_job,
    sensor,
)

from interop_pipeline.connectors.landing import find_landed_batch, sha256_file

SETTLE_SECONDS = 5  # a file modified more recently may still be arriving; look again next tick


def scan_drop_folder(
    folder: Path,
    pattern: str,
    cursor: dict[str, list],
    now: float,
    already_landed: Callable[[str], bool] = lambda fingerprint: False,
) -> tuple[dict[str, list], list[str]]:
    """New cursor, and the fingerprints of files whose content was neither seen before nor
    landed already (so a fresh cursor does not re-run what earlier runs landed)."""
    known = {entry[2] for entry in cursor.values()}
    current: dict[str, list] = {}
    new: list[str] = []
    for path in sorted(folder.glob(pattern)) if folder.is_dir() else []:
        if not path.is_file() or path.name.endswith(".partial"):
            continue
        stat = path.stat()
        previous = cursor.get(path.name)
        if previous and previous[:2] == [stat.st_size, stat.st_mtime_ns]:
            current[path.name] = previous
            continue
        if now - stat.st_mtime < SETTLE_SECONDS:
            continue
        fingerprint = sha256_file(path)
        current[path.name] = [stat.st_size, stat.st_mtime_ns, fingerprint]
        if fingerprint not in known and fingerprint not in new and not already_landed(fingerprint):
            new.append(fingerprint)
    return current, new


def build_drop_folder_sensor(
    source_name: str,
    folder: Path,
    pattern: str,
    selection: AssetSelection,
    landing_root: Path,
    before_run: Callable | None = None,
    *,
    first_build: tuple[Any, Path] | None = None,
):
    """`before_run(instance, say)` runs before a run is requested (the start-up recovery). Its
    runs are of a job named for the source (`<source>_delivery`), so the UI's run list says what
    started them. With `first_build` (the whole refresh job, the published warehouse), a
    delivery that arrives before any warehouse was released runs the whole refresh instead: the
    source's downstream models read models of other sources that have not been built yet."""
    job = define_asset_job(
        f"{source_name}_delivery",
        selection=selection,
        description=f"A new delivery of {source_name}: its landing and everything downstream of it.",
    )
    whole_refresh, released = first_build if first_build else (None, None)

    @sensor(
        name=f"{source_name}_drop_folder",
        jobs=[job, whole_refresh] if whole_refresh else [job],
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        description=f"Runs {source_name}'s landing and everything downstream when a new file appears in {folder}.",
    )
    def watch_drop_folder(context: SensorEvaluationContext):
        cursor = json.loads(context.cursor) if context.cursor else {}
        current, new = scan_drop_folder(
            folder,
            pattern,
            cursor,
            time.time(),
            lambda sha: find_landed_batch(landing_root, source_name, sha) is not None,
        )
        context.update_cursor(json.dumps(current, sort_keys=True))
        if not new:
            return SkipReason(f"No new files in {folder}")
        if before_run is not None:
            before_run(context.instance, context.log.info)
        run_key = hashlib.sha256("".join(sorted(new)).encode()).hexdigest()[:16]
        first = whole_refresh is not None and not released.exists()
        return RunRequest(
            run_key=f"{source_name}-{run_key}",
            job_name=whole_refresh.name if first else job.name,
            tags={"interop/drop_folder": source_name},
        )

    return watch_drop_folder


def build_alert_sensors(config) -> list:
    """Alerts for runs the daemon watches (the UI's, the schedule's, the sensors'): a failed run,
    and any finished run's failed blocking checks and stale sources. A run started by
    `interop-pipeline run` alerts by itself, so these leave it alone."""
    from dagster import DagsterRunStatus, RunStatusSensorContext, run_status_sensor

    from interop_pipeline.alerts import alerts_for_run, send_alerts
    from interop_pipeline.recovery import OWNER_PID_TAG

    def alert(context: RunStatusSensorContext) -> None:
        run = context.dagster_run
        if OWNER_PID_TAG in run.tags:
            return
        send_alerts(config, alerts_for_run(config, context.instance, run.run_id), context.log.info)

    return [
        run_status_sensor(
            run_status=status,
            name=f"alert_on_run_{status.value.lower()}",
            description=f"Sends the configured alerts for runs that end in {status.value.lower()}.",
            default_status=DefaultSensorStatus.RUNNING,
        )(alert)
        for status in (DagsterRunStatus.FAILURE, DagsterRunStatus.SUCCESS)
    ]
