"""Building a small generated district for tests the way the pipeline builds it: the landing
connectors, real dbt runs and the identity asset. Shared by the warehouse, identity and publish
tests (each builds its own district once per session or module)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from interop_pipeline.assets.extract.file_drops import land_file, source_declarations
from interop_pipeline.assets.extract.sis_roster import land_bundle
from interop_pipeline.config import PROJECT_ROOT, DistrictConfig, FileDropSource, OneRosterCsvSource
from interop_pipeline.connectors.landing import pending_files

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"  # as transform/dbt.py has it, without importing Dagster


def land_everything(config: DistrictConfig) -> None:
    """Land every file drop of every enabled source, in delivery order, as the landing assets do
    (REST sources are walked, or given their zero-row files, by the caller)."""
    for name, source in config.enabled_sources().items():
        if not isinstance(source, OneRosterCsvSource | FileDropSource):
            continue
        declarations = source_declarations(config, name, source) if isinstance(source, FileDropSource) else None
        for path in pending_files(config.drop_folder(source), source.file_pattern, config.landing_dir, name):
            if declarations is not None:
                land_file(config, source, declarations, path)
            else:
                land_bundle(config, name, source, path)


def walk_api_sources(config: DistrictConfig, names: tuple[str, ...]) -> None:
    """One full walk of every entity of the named REST sources from their simulators on
    127.0.0.1, as the landing assets walk them. The simulators' base-URL and credential
    variables are set only while they run."""
    from interop_pipeline.connectors.api_landing import land_entity_walk
    from interop_pipeline.connectors.api_sources import api_connector, source_client
    from interop_pipeline.simulators.apis import running_simulators

    saved = dict(os.environ)
    try:
        with running_simulators(config):
            for name in names:
                source = config.sources[name]
                client = source_client(config, name, source)
                try:
                    for walk in api_connector(source.kind).entity_walks(source):
                        land_entity_walk(
                            client,
                            walk,
                            landing_root=config.landing_dir,
                            source_system=name,
                            district_code=config.district.code,
                            force_full=True,
                        )
                finally:
                    client.close()
    finally:
        os.environ.clear()
        os.environ.update(saved)


def resolve_identities(config: DistrictConfig) -> None:
    """The identity asset, as the pipeline runs it between the two dbt steps."""
    from dagster import DagsterInstance, materialize

    from interop_pipeline.assets.identity.resolution import build_identity_assets

    with DagsterInstance.ephemeral() as instance:
        assert materialize([build_identity_assets(config)], instance=instance).success


def run_dbt(config: DistrictConfig, target: Path, *args: str) -> subprocess.CompletedProcess:
    """dbt for this district. A build leaves out what a refresh's does (PRODUCTION_ARGS: the unit
    tests, which tests/warehouse/test_dbt_unit_tests.py runs, and dbt's debug log file); any
    other command leaves out the debug log file."""
    from interop_pipeline.transform.dbt import PRODUCTION_ARGS, dbt_environment, dbt_vars
    from interop_pipeline.transform.dbt_command import DBT_COMMAND

    leave_out = PRODUCTION_ARGS if args[0] == "build" else ["--log-level-file", "none"]
    command = [
        str(DBT_COMMAND),
        *args,
        *leave_out,
        "--vars",
        json.dumps(dbt_vars(config)),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    env = {**os.environ, **dbt_environment(config)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


def prepare_build(config: DistrictConfig) -> None:
    """What the dbt steps do before dbt runs: the build database's folder, and zero-row files for
    the identity tables and every source with nothing landed."""
    from interop_pipeline.assets.identity.landing import ensure_identity_placeholders
    from interop_pipeline.transform.dbt import district_declarations
    from interop_pipeline.transform.placeholders import ensure_source_placeholders

    config.build_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    ensure_identity_placeholders(config.landing_dir)
    ensure_source_placeholders(config.landing_dir, DBT_PROJECT_DIR / "models", district_declarations(config))


def build_warehouse(config: DistrictConfig, target: Path, *, identity: bool = True) -> None:
    """The pipeline's warehouse steps in order, outside Dagster: zero-row files for the sources
    with nothing landed, dbt build up to identity, identity resolution, dbt build after it (the
    same split as transform/dbt.py's two @dbt_assets). Without `identity`, one dbt build over
    an empty crosswalk (every model and test, nothing linked)."""
    from interop_pipeline.transform.dbt import AFTER_IDENTITY

    prepare_build(config)
    steps = [("--exclude", AFTER_IDENTITY), ("--select", AFTER_IDENTITY)] if identity else [()]
    for step in steps:
        run = run_dbt(config, target, "build", *step)
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        if step and step[0] == "--exclude":
            resolve_identities(config)
