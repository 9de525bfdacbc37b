"""dagster-dbt wiring: the dbt project, how its nodes appear in Dagster, and the build step.

dbt is the only writer of the build warehouse. Its step runs in the WAREHOUSE_POOL (limit 1 in
the instance's dagster.yaml), as does every later step that opens the DuckDB file.
"""

import fcntl
import importlib.metadata
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import duckdb
from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetMaterialization,
    AssetsDefinition,
    AssetSpec,
    Output,
    TableColumn,
    TableSchema,
)
from dagster._core.definitions.metadata import TableMetadataSet
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets
from dagster_dbt.asset_utils import get_manifest_and_translator_from_dbt_assets
from dagster_dbt.core.dbt_cli_invocation import PARTIAL_PARSE_FILE_NAME
from dagster_dbt.dbt_project import run_with_concurrent_update_guard
from packaging import version

from interop_pipeline.chaos import pause_point
from interop_pipeline.config import PROJECT_ROOT, DistrictConfig, FileDropSource
from interop_pipeline.connectors.conformance import CONFORMED_SOURCE
from interop_pipeline.publish.table_versions import note_rebuilding
from interop_pipeline.transform.dbt_command import DBT_COMMAND
from interop_pipeline.transform.descriptions import check_description, model_description, relation_schemas
from interop_pipeline.transform.partial import (
    IDENTITY_SOURCE,
    exclusion_args,
    in_graph_order,
    nodes_to_rebuild,
    step_nodes,
    tables_of,
)
from interop_pipeline.transform.placeholders import ensure_source_placeholders
from interop_pipeline.transform.unchanged import (
    build_inputs,
    decide_build_mode,
    identity_resolved_again,
    note_selected_build,
    reason_to_rebuild,
    record_build_inputs,
    recorded_build_mode,
)

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
WAREHOUSE_POOL = "duckdb_warehouse"
DATA_TEAM = "team:district-data"

dbt_project = DbtProject(project_dir=DBT_PROJECT_DIR, profiles_dir=DBT_PROJECT_DIR)


class WarehouseDbtResource(DbtCliResource):
    """dagster-dbt's dbt resource without two things it does in this process before a step's dbt
    command, each costing about a second and a half of the step:
    - it sets up a dbt adapter (loading the profile, the project and its macros) that only serves
      its own row-count and column fetches; this project reads both itself once dbt has ended
      (with_table_metadata);
    - it starts `dbt --version` to learn dbt's version; the command is the dbt-core installed
      here (dbt_command.py), whose version the package metadata gives."""

    def _initialize_dbt_core_adapter(self, args: Sequence[str]) -> None:  # type: ignore[override]
        return None

    @cached_property
    def _cli_version(self) -> version.Version:
        return version.parse(importlib.metadata.version("dbt-core"))


def dbt_executable() -> str:
    return str(DBT_COMMAND) if DBT_COMMAND.exists() else "dbt"


def dbt_resource() -> DbtCliResource:
    return WarehouseDbtResource(project_dir=dbt_project, dbt_executable=dbt_executable())


def ensure_dbt_manifest(project: DbtProject = dbt_project) -> Path:
    """Parse the dbt project when its manifest is missing or older than any project file.

    `dbt parse` opens no database connection, so this is safe at definition-load time; the
    preparer guards against two processes parsing at once.
    """
    manifest = project.manifest_path
    sources = [
        p
        for folder in ("models", "seeds", "macros", "tests", "snapshots")
        for p in (project.project_dir / folder).rglob("*")
    ]
    sources += [project.project_dir / "dbt_project.yml"]
    newest = max(p.stat().st_mtime for p in sources if p.is_file())
    if not manifest.exists() or manifest.stat().st_mtime < newest:
        run_with_concurrent_update_guard(manifest, _parse, project=project)
    return manifest


def _parse(project: DbtProject) -> None:
    dbt_resource().cli(["parse", "--quiet"], target_path=project.target_path).wait()


class WarehouseTranslator(DagsterDbtTranslator):
    """dbt sources are the landing assets (landing/<system>/<entity>); models are grouped by the
    system they stage or the warehouse layer they belong to."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return AssetKey(["landing", dbt_resource_props["source_name"], dbt_resource_props["name"]])
        return super().get_asset_key(dbt_resource_props)

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        resource_type = dbt_resource_props["resource_type"]
        if resource_type == "source":
            return dbt_resource_props["source_name"]
        if resource_type == "seed":
            return "reference_codes"
        if resource_type == "snapshot":  # history of slowly changing entities
            return "warehouse_history"
        # models/<layer>/<system or area>/...: staging is grouped by system, marts by area.
        parts = Path(dbt_resource_props["original_file_path"]).parts
        if len(parts) >= 3 and parts[1] == "staging":
            # Batches, rejects and refusals of every source: not a source of their own.
            return "landing_bookkeeping" if parts[2] == "landing" else parts[2]
        if len(parts) >= 3 and parts[1] == "marts":
            return f"warehouse_{parts[2]}"
        return parts[1] if len(parts) > 2 else "warehouse"

    _schemas: dict[str, str] | None = None  # relation_schemas of the manifest, read once

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [DATA_TEAM]

    def get_description(self, dbt_resource_props: Mapping[str, Any]) -> str:
        return model_description(dbt_resource_props)  # the YAML's words, never the raw SQL

    def get_asset_check_spec(
        self, asset_spec: AssetSpec, manifest: Mapping[str, Any], unique_id: str, project: DbtProject | None
    ) -> AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None:
            return None
        if self._schemas is None:
            self._schemas = relation_schemas(manifest)
        return spec._replace(description=check_description(manifest["nodes"][unique_id], self._schemas))


def district_declarations(config: DistrictConfig) -> list:
    """The declarations of the district's own declared files (built-in formats are known anyway)."""
    from interop_pipeline.connectors.tabular import load_declarations

    paths = [
        path
        for source in config.sources.values()
        if isinstance(source, FileDropSource)
        for path in config.declaration_paths(source)
    ]
    return list(load_declarations(paths).values()) if paths else []


def dbt_environment(config: DistrictConfig) -> dict[str, str]:
    """Where dbt reads landed data and writes the warehouse (see dbt_project/profiles.yml), and
    where the dbt steps keep their artifacts."""
    return {
        "INTEROP_WAREHOUSE_PATH": str(config.build_warehouse_path),
        "INTEROP_LANDING_DIR": str(config.landing_dir),
        "DBT_TARGET_PATH": str(dbt_target_dir(config)),
    }


def dbt_target_dir(config: DistrictConfig) -> Path:
    """The district's dbt artifacts: one folder per dbt step run, and the parse state they share."""
    return config.build_warehouse_path.parent / "dbt_target"


KEPT_INVOCATIONS = 6  # the artifacts (compiled SQL, run results) of the latest dbt steps
PARSED_AHEAD = "parsed_ahead"  # parse_ahead's own target folder, beside the dbt steps'
PARSE_AHEAD_LOCK = ".parse_ahead.lock"


@contextmanager
def parse_ahead(config: DistrictConfig) -> Iterator[None]:
    """While a run lands its sources, dbt parses the project for a district that has no saved
    parse state yet (its first run: `demo`), so that the first dbt step starts from that state
    instead of parsing the whole project again (about 3 s; dbt keeps a parse only for the same
    vars and profile). The dbt process holds a lock on the district's dbt folder until it ends,
    and a dbt step waits for it (take_parsed_ahead). Later runs start from the state the last
    dbt step kept (keep_parse_state): nothing is started for them."""
    target = dbt_target_dir(config)
    if (target / PARTIAL_PARSE_FILE_NAME).exists():
        yield
        return
    target.mkdir(parents=True, exist_ok=True)
    command = [dbt_executable(), "parse", "--quiet", "--log-level-file", "none", "--vars", json.dumps(dbt_vars(config))]
    command += ["--target-path", str(target / PARSED_AHEAD), "--project-dir", str(DBT_PROJECT_DIR)]
    command += ["--profiles-dir", str(DBT_PROJECT_DIR)]
    parsing = None
    with (target / PARSE_AHEAD_LOCK).open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when dbt, which inherits it, ends
        if not (target / PARTIAL_PARSE_FILE_NAME).exists():  # another run's dbt step kept none meanwhile
            try:
                parsing = subprocess.Popen(
                    command,
                    env={**os.environ, **dbt_environment(config)},
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    pass_fds=(lock.fileno(),),
                )
            except OSError:  # only a head start: the dbt step parses for itself
                parsing = None
    try:
        yield
    finally:
        if parsing is not None:
            if parsing.poll() is None:  # the run ended first (it failed early)
                parsing.kill()
                shutil.rmtree(target / PARSED_AHEAD, ignore_errors=True)
            parsing.wait()


def take_parsed_ahead(config: DistrictConfig) -> None:
    """Wait for a parse started by parse_ahead, and make its state the one the dbt step starts
    from (unless a dbt step has kept one since)."""
    target = dbt_target_dir(config)
    if not (target / PARSE_AHEAD_LOCK).exists():
        return
    with (target / PARSE_AHEAD_LOCK).open() as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        parsed = target / PARSED_AHEAD / PARTIAL_PARSE_FILE_NAME
        if parsed.exists() and not (target / PARTIAL_PARSE_FILE_NAME).exists():
            os.replace(parsed, target / PARTIAL_PARSE_FILE_NAME)
        shutil.rmtree(target / PARSED_AHEAD, ignore_errors=True)


def keep_parse_state(invocation_target: Path, target_dir: Path) -> None:
    """Keep the parse state of the dbt step that just ran where the next one starts from.

    dagster-dbt copies `partial_parse.msgpack` from the target folder into each step's own, and
    dbt parses the project again from scratch unless that state was saved with the same vars and
    profile; the project's own (from `dbt parse` at definition load) has neither. Older steps'
    folders beyond the latest few are removed."""
    state = invocation_target / PARTIAL_PARSE_FILE_NAME
    if state.exists():
        staged = target_dir / f".{PARTIAL_PARSE_FILE_NAME}.partial"
        shutil.copyfile(state, staged)
        os.replace(staged, target_dir / PARTIAL_PARSE_FILE_NAME)
    steps = sorted((p for p in target_dir.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in steps[KEPT_INVOCATIONS:]:
        shutil.rmtree(old, ignore_errors=True)


def dbt_vars(config: DistrictConfig) -> dict[str, Any]:
    rules = config.business_rules
    return {
        "district_code": config.district.code,
        "school_year_start": config.school_year.start.isoformat(),
        "district_name": config.district.name,
        "district_state": config.district.state,
        "district_lea_id": config.district.lea_id,
        # Business rules (documented beside the models that apply them).
        "absent_day_fraction": rules.attendance.absent_day_fraction,
        "attendance_through_date": rules.attendance.through_date.isoformat() if rules.attendance.through_date else None,
        "chronic_absence_definitions": [d.model_dump() for d in rules.chronic_absence],
        "suppression_min_n": rules.suppression_min_n,
        "early_warning": rules.early_warning.model_dump(),
        "proficiency_cut_scores": [c.model_dump() for c in rules.proficiency_cut_scores],
        "sis_channel_precedence": rules.sis_channel_precedence,
        "sis_user_id_types": rules.sis_user_id_types.model_dump(),
        # Which systems this district uses: mart_data_quality reports the others as not configured.
        "sources": source_settings(config),
        # Systems whose files are declared (a file-drop source lands into the folder of its own
        # name): one with no committed dbt source is counted through the cross-system
        # bookkeeping tables (macro declared_only_systems).
        "declared_systems": sorted(n for n, s in config.sources.items() if isinstance(s, FileDropSource)),
    }


def source_settings(config: DistrictConfig) -> dict[str, dict[str, Any]]:
    """Per configured source (enabled or not): what the data-quality mart reports it against."""
    return {
        name: {
            "system_name": source.system_name,
            "enabled": source.enabled,
            "required": source.required,
            "freshness_limit_hours": source.freshness_limit_hours,
        }
        for name, source in config.sources.items()
    }


def prepare_dbt_build(config: DistrictConfig) -> list[str]:
    """What each dbt step does before dbt runs (also used by the benchmark): the build database's
    folder, and zero-row files for the identity tables and every source with nothing landed.
    Returns the sources given zero-row files."""
    # Imported here: the identity assets import this module.
    from interop_pipeline.assets.identity.landing import ensure_identity_placeholders

    config.build_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    # A fresh landing zone has no identity batch yet, and a source may have delivered nothing
    # yet or not be used by this district: the warehouse still builds, empty there.
    ensure_identity_placeholders(config.landing_dir)
    return ensure_source_placeholders(config.landing_dir, DBT_PROJECT_DIR / "models", district_declarations(config))


def with_table_metadata(events: list, manifest: Mapping[str, Any], warehouse: Path) -> Iterator:
    """`events` with each built table's row count and column schema (types from the warehouse,
    descriptions from the YAML) added to its materialization: what the UI shows of an asset."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        for event in events:
            unique_id = event.metadata.get("unique_id") if isinstance(event, Output | AssetMaterialization) else None
            node = manifest["nodes"].get(getattr(unique_id, "value", unique_id) or "")
            if node is None:
                yield event
                continue
            relation = node["relation_name"]
            described = {name: column.get("description") or None for name, column in node["columns"].items()}
            columns = [
                TableColumn(name, kind, description=described.get(name))
                for name, kind, *_ in con.execute(f"describe {relation}").fetchall()
            ]
            rows = con.execute(f"select count(*) from {relation}").fetchone()[0]
            table = TableMetadataSet(row_count=rows, column_schema=TableSchema(columns=columns))
            yield event.with_metadata({**event.metadata, **table})


def full_refresh_args(config: DistrictConfig, run_id: str) -> list[str]:
    """`--full-refresh` unless this run's first dbt step chose an incremental build (its record,
    transform/unchanged.py): incremental models are then rebuilt whole. Both steps pass it; the
    one incremental model, the attendance fact, is built by the first."""
    return [] if recorded_build_mode(config, run_id).incremental else ["--full-refresh"]


# What a refresh's dbt steps leave out, together about a fifth of the first step's CPU (300 students):
# - dbt's unit tests check the models' logic on fixed rows, not the district's data: they run in
#   the test suite (tests/warehouse/test_dbt_unit_tests.py), not in every refresh, as dbt advises;
# - dbt's own debug log file: each step's dbt events are in the run's log (dagster-dbt reads them
#   from dbt's output), its compiled SQL and run results in its target folder.
PRODUCTION_ARGS = ["--exclude-resource-type", "unit_test", "--log-level-file", "none"]

# Identity resolution runs between the two dbt steps: it reads the person records the first
# builds, and everything that reads its crosswalk (the `identity` source) is built by the second.
AFTER_IDENTITY = "source:identity+"


def context_manifest(context: AssetExecutionContext) -> Mapping[str, Any]:
    """The parsed dbt manifest the step's assets were defined from."""
    return get_manifest_and_translator_from_dbt_assets([context.assets_def])[0]


def build_warehouse_assets(config: DistrictConfig) -> list[AssetsDefinition]:
    """The dbt build (seeds, models, tests as asset checks) for this district, in two steps:
    everything before identity resolution, then everything downstream of its crosswalk."""

    def build(context: AssetExecutionContext, dbt: DbtCliResource, first: bool = False) -> Iterator:
        if first and context.selected_asset_keys != context.assets_def.keys:
            # Selected assets (a source's delivery): always built, incrementally on the same terms.
            mode = decide_build_mode(config, build_inputs(config), context.instance, context.run.tags)
            mode = replace(mode, systems=None)  # what is selected is built, whatever changed
            context.log.info(f"Building the selected assets. {mode.sentence()}")
            note_selected_build(config, context.run.run_id, mode)
        elif first:
            # A whole refresh: nothing downstream runs when nothing it reads has changed.
            inputs = build_inputs(config)
            reason = reason_to_rebuild(config, inputs, context.instance, context.run.tags)
            if reason is None:
                context.log.info(
                    "Nothing the warehouse is built from has changed since the last run, which ended well: "
                    "not rebuilt. Identity resolution, the release and the extracts are skipped; the published "
                    "warehouse and the recipients' last deliveries stand."
                )
                return
            context.log.info(f"Building the warehouse: {reason}.")
            mode = decide_build_mode(config, inputs, context.instance, context.run.tags)
            context.log.info(mode.sentence())
            record_build_inputs(config, inputs, context.run.run_id, mode)
        empty = prepare_dbt_build(config)
        unused = sorted(set(empty) - set(config.enabled_sources()) - {CONFORMED_SOURCE})
        if unused:
            context.log.info(f"Not configured for this district, built empty: {', '.join(unused)}")
        waiting = sorted(set(empty) & set(config.enabled_sources()))
        if waiting:
            context.log.warning(f"Configured but nothing landed yet, built empty: {', '.join(waiting)}")
        manifest = context_manifest(context)
        to_build, left_alone, unchanged = partial_build(context, manifest, first)
        # dagster-dbt passes this process's environment to dbt.
        os.environ.update(dbt_environment(config))
        take_parsed_ahead(config)
        args = ["build", *PRODUCTION_ARGS, *full_refresh_args(config, context.run.run_id)]
        args += ["--vars", json.dumps(dbt_vars(config))]
        built: list = []
        if to_build:
            may_rewrite = step_nodes(manifest, after_identity=not first) - left_alone
            note_rebuilding(config, tables_of(manifest, may_rewrite), context.run.run_id)
            built = yield from run_dbt(context, dbt, [*args, *exclusion_args(manifest, left_alone)])
        # Dagster takes a step's assets upstream first: what was left alone is never downstream
        # of what was rebuilt.
        yield from with_table_metadata([*unchanged, *built], manifest, config.build_warehouse_path)

    def run_dbt(context: AssetExecutionContext, dbt: DbtCliResource, args: list[str]):
        """dbt's events, once it has ended: only then may this process open the build file (one
        writer at a time) to count each model's rows and read its columns for the UI."""
        invocation = dbt.cli(args, context=context)
        built = []
        try:
            for event in invocation.stream():
                built.append(event)
                pause_point("dbt_build")
        except BaseException:
            yield from built  # what was built before dbt failed is recorded, then the failure
            raise
        finally:
            keep_parse_state(invocation.target_path, dbt_target_dir(config))
        return built

    def partial_build(
        context: AssetExecutionContext, manifest: Mapping[str, Any], first: bool
    ) -> tuple[bool, set[str], list[Output]]:
        """Whether this step runs dbt, the nodes it leaves alone (a partial build,
        transform/partial.py; none otherwise), and an output for each of its assets among them:
        each stands as the last build left it and is handed on to the steps after it."""
        mode = recorded_build_mode(config, context.run.run_id)
        if mode.systems is None:
            return True, set(), []
        systems = set(mode.systems)
        if not first and identity_resolved_again(config, context.run.run_id):
            systems.add(IDENTITY_SOURCE)
        step = step_nodes(manifest, after_identity=not first)
        left_alone = step - nodes_to_rebuild(manifest, systems, config.landing_dir)
        translator = WarehouseTranslator()
        unchanged = []
        for unique_id in in_graph_order(manifest, left_alone):
            node = manifest["nodes"].get(unique_id)
            key = translator.get_asset_key(node) if node else None
            if key is None or key not in context.selected_asset_keys:
                continue  # a test, or a node of no asset
            metadata = {"unique_id": unique_id, "rebuilt": False}
            unchanged.append(Output(None, context.assets_def.get_output_name_for_asset_key(key), metadata=metadata))
        context.log.info(
            f"{len(unchanged)} of this step's {len(context.selected_asset_keys)} tables, and their tests, read "
            f"nothing that changed: left as the last build left them. Rebuilt: {len(step - left_alone)} models "
            "and tests."
        )
        return bool(step - left_alone), left_alone, unchanged

    @dbt_assets(
        manifest=ensure_dbt_manifest(),
        project=dbt_project,
        dagster_dbt_translator=WarehouseTranslator(),
        pool=WAREHOUSE_POOL,
        name="warehouse_dbt_build",
        exclude=AFTER_IDENTITY,
    )
    def warehouse_dbt_build(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator:
        yield from build(context, dbt, first=True)

    @dbt_assets(
        manifest=ensure_dbt_manifest(),
        project=dbt_project,
        dagster_dbt_translator=WarehouseTranslator(),
        pool=WAREHOUSE_POOL,
        name="warehouse_dbt_build_after_identity",
        select=AFTER_IDENTITY,
    )
    def warehouse_dbt_build_after_identity(context: AssetExecutionContext, dbt: DbtCliResource) -> Iterator:
        yield from build(context, dbt)

    return [warehouse_dbt_build, warehouse_dbt_build_after_identity]
