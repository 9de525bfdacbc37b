"""Dagster definitions for the district selected by $INTEROP_DISTRICT_CONFIG (default: the demo).

Loading this module reads the YAML config and, if needed, parses the dbt project; it opens no
DuckDB connection (the webserver and every run worker load it).
"""

from __future__ import annotations

# ruff: noqa: E402  (the cycle collector is paused before the imports it would slow down)
from interop_pipeline import collector

collector.pause()  # while loading; see collector.py

from functools import partial

from dagster import (
    AssetSelection,
    DefaultScheduleStatus,
    Definitions,
    JobDefinition,
    RunRequest,
    ScheduleEvaluationContext,
    define_asset_job,
    multiprocess_executor,
    schedule,
)

import interop_pipeline.run_history  # noqa: F401  (run history without a disk flush per event)
from interop_pipeline.assets.extract.api_sources import build_api_source_assets
from interop_pipeline.assets.extract.conformed import build_conformed_assets
from interop_pipeline.assets.extract.file_drops import build_file_drop_assets
from interop_pipeline.assets.extract.sis_roster import build_sis_roster_assets
from interop_pipeline.assets.identity.resolution import build_identity_assets
from interop_pipeline.assets.publish.recipients import build_publish_assets
from interop_pipeline.assets.release import build_release_asset
from interop_pipeline.config import ApiSource, DistrictConfig, OneRosterCsvSource, load_config
from interop_pipeline.recovery import recover_at_start
from interop_pipeline.sensors import build_alert_sensors, build_drop_folder_sensor
from interop_pipeline.transform.dbt import build_warehouse_assets, dbt_resource

REFRESH_JOB_NAME = "district_refresh"
# Step processes fork from a server that has imported this module (dagster, dbt, the parsed
# project) once per run, instead of each starting Python and importing it all again.
# Named explicitly: with none named, Dagster 1.13 preloads nothing of it (an empty list, not its
# default of the job's module), and every step process imported all of it again (about 2 s).
EXECUTOR = multiprocess_executor.configured(
    {"start_method": {"forkserver": {"preload_modules": ["interop_pipeline.definitions"]}}},
    name="forkserver_multiprocess",
)


def build_definitions(config: DistrictConfig) -> Definitions:
    # Every launch first fails runs whose process is gone and sweeps what they left (recovery.py).
    recover_first = partial(recover_at_start, config)
    refresh_job = define_asset_job(
        REFRESH_JOB_NAME,
        selection=AssetSelection.all(),
        description=(
            "Land every enabled source, build and test the warehouse with dbt, then release it "
            "to analysts if every blocking check passed."
        ),
    )
    extract_assets, sensors = [], []
    for name, source in config.enabled_sources().items():
        if isinstance(source, ApiSource):
            extract_assets.append(build_api_source_assets(config, name, source))
            continue  # pulled on the schedule; there is no folder to watch
        if isinstance(source, OneRosterCsvSource):
            landing = build_sis_roster_assets(config, name, source)
        else:
            landing = build_file_drop_assets(config, name, source)
        extract_assets.append(landing)
        feeds = AssetSelection.assets(*landing.keys).downstream()
        sensors.append(
            build_drop_folder_sensor(
                name,
                config.drop_folder(source),
                source.file_pattern,
                feeds,
                config.landing_dir,
                recover_first,
                first_build=(refresh_job, config.published_warehouse_path),
            )
        )
    # The conformed tables every declared file feeds wait for every landing step.
    landing_keys = [key for step in extract_assets for key in step.keys]
    extract_assets.append(build_conformed_assets(config, landing_keys))
    # dbt before identity, identity resolution, dbt after it (ordered by the assets' dependencies).
    warehouse = [*build_warehouse_assets(config), build_identity_assets(config)]
    release = build_release_asset(config, upstream=[key for step in warehouse for key in step.keys])
    # Extracts go out only after a build whose blocking checks passed (the release ran).
    publish = build_publish_assets(config, upstream=[release.key])
    from interop_pipeline.assets.publish.report import build_report_asset  # the report, after the release

    @schedule(
        name="daily_district_refresh",
        job=refresh_job,
        cron_schedule=config.schedule.cron,
        execution_timezone=config.schedule.timezone,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Refresh {config.district.name} every day ({config.schedule.cron}, {config.schedule.timezone}).",
    )
    def daily(context: ScheduleEvaluationContext) -> RunRequest:
        recover_first(context.instance, context.log.info)
        return RunRequest()

    return Definitions(
        assets=[*extract_assets, *warehouse, release, *publish, build_report_asset(config, [release.key])],
        jobs=[refresh_job],
        schedules=[daily],
        sensors=[*sensors, *build_alert_sensors(config)],
        resources={"dbt": dbt_resource()},
        executor=EXECUTOR,
    )


_loaded = False
try:
    defs = build_definitions(load_config())
    _loaded = True
finally:
    collector.resume(loaded=_loaded)


def refresh_job() -> JobDefinition:
    """Module-level handle so runs can be reconstructed in worker processes (execute_job)."""
    return defs.resolve_job_def(REFRESH_JOB_NAME)
