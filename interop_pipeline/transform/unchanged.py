"""A refresh that would change nothing is not rebuilt.

A daily run that lands nothing new (no file dropped, every REST walk bringing back what the
warehouse already holds) would rebuild the warehouse into the same tables, resolve the same
identities, release an equal copy and re-check every extract. Instead the first dbt step
compares what the build reads (`build_inputs`) with what it read in the last run, and when they
are equal and that run ended well, it materializes nothing: Dagster then skips identity, the
second dbt step, the release and the extracts, and the published warehouse stays as it is.

"Ended well" means the run succeeded with no ERROR check failing (an Ed-Fi record the ODS
refused, a dbt test): such a run is followed by a full one, so retries happen. The checks of what
a source delivered (a refused file, a reject rate) are left out: they judged landed data, which
the inputs compared already hold.
The inputs compared are content, never batch ids or times: a REST walk that brings the same
records lands a new batch but the same content digest. The only time-dependent input is which
sources are past their freshness limit, so the warehouse's source statuses change the day a
source goes stale.

When a build is needed, it is also decided here how much of it (`choose_build_mode`). When the
last build's run ended well and the only difference from what it read is landed data, only what
reads the changed sources' data is rebuilt (`BuildMode.systems`; which dbt nodes that is:
transform/partial.py); the rest stands as that build left it. And when that difference is only
new batches of the SIS attendance file's daily events, the attendance fact is updated
incrementally: it recomputes just the student-days those batches hold. Anything else, or any
doubt, is a full refresh of every model. The record keeps each source's batches one by one so
the difference can be told.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from interop_pipeline.config import PROJECT_ROOT, DistrictConfig, FileDropSource
from interop_pipeline.connectors.landing import read_batch_records, read_refusals
from interop_pipeline.json_files import read_json_record, write_json_record

# A run with this tag builds even when nothing has changed (`interop-pipeline run --rebuild`, or
# the tag added in the UI's launchpad).
REBUILD_TAG = "interop/rebuild"
IDENTITY_SYSTEM = "identity"  # landed by the run itself, between the two dbt steps
RECORD_NAME = "build_inputs.json"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests")
LANDED = "landed data"
LANDING_ASSETS = "landing"  # the first part of every landed table's asset key: landing/<system>/<entity>
# 2: landed data kept per source, batch by batch (1: one digest of everything landed).
RECORD_FORMAT = 2
# The one change a build may apply incrementally: new batches of this entity of this source
# (fct_student_daily_attendance recomputes the student-days they hold).
INCREMENTAL_SYSTEM = "sis_attendance"
INCREMENTAL_ENTITY = "daily_attendance"


def _digest(parts: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for part in sorted(parts):
        hasher.update(part.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def _files_digest(paths: Iterable[Path], root: Path) -> str:
    return _digest(f"{p.relative_to(root)}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in paths if p.is_file())


def _batch_part(batch: dict) -> str | None:
    """One committed batch, by content: a walk's order-free digest (None for a walk that brought
    nothing: it adds no rows), a file's sha256 with the entities it landed."""
    details = batch["details"] if isinstance(batch["details"], dict) else json.loads(batch["details"] or "{}")
    if "content_digest" in details:
        if not details.get("records"):
            return None
        return f"walk {details.get('entity')}/{details.get('mode')} {details['content_digest']}"
    entities = sorted(set(batch["rows_landed"] or {}) | set(details.get("entities") or {}))
    return f"batch {'+'.join(entities)} {batch['fingerprint_sha256']}"


def _landed_systems(landing_dir: Path) -> Iterator[tuple[str, list[dict]]]:
    """Each source system with a landing folder, and its committed batches."""
    for system_dir in sorted(p for p in landing_dir.iterdir() if p.is_dir()) if landing_dir.is_dir() else []:
        if system_dir.name != IDENTITY_SYSTEM:
            yield system_dir.name, read_batch_records(landing_dir, system_dir.name)


def landed_content(landing_dir: Path) -> dict[str, list[str]]:
    """Every landed batch and refusal, by content, per source system: a file's sha256, a walk's
    order-free digest. Walks that brought nothing add no rows and are left out."""
    content: dict[str, list[str]] = {}
    for system, batches in _landed_systems(landing_dir):
        parts = [part for batch in batches if (part := _batch_part(batch))]
        for refusal in read_refusals(landing_dir, system):
            refused = refusal.get("fingerprint") or refusal.get("subject")
            parts.append(f"refused {refused}: {refusal['reason']}")
        if parts:
            content[system] = sorted(parts)
    return content


def landed_batch_ids(landing_dir: Path) -> dict[str, list[str]]:
    """Per source system, the ids of its committed batches that hold rows. Not content: a REST
    walk that brings the same records again replaces its twin batch, so the content is the same
    but the rows' batch is another one, and a model that reads batches (the landing bookkeeping)
    must not be rebuilt beside one still pointing at the replaced batch."""
    return {
        system: ids
        for system, batches in _landed_systems(landing_dir)
        if (ids := sorted(batch["batch_id"] for batch in batches if _batch_part(batch)))
    }


def stale_sources(config: DistrictConfig, now: datetime) -> list[str]:
    """The enabled sources past their freshness limit now (as the warehouse's statuses report)."""
    from interop_pipeline.assets.extract.source_health import freshness

    return [name for name, source in config.enabled_sources().items() if freshness(config, name, source, now)[2]]


def build_inputs(config: DistrictConfig, now: datetime | None = None) -> dict[str, object]:
    """What the warehouse build, identity resolution, the release and the extracts depend on."""
    dbt_dir = PROJECT_ROOT / "dbt_project"
    declarations = [
        path
        for source in config.sources.values()
        if isinstance(source, FileDropSource)
        for path in config.declaration_paths(source)
    ]
    return {
        LANDED: landed_content(config.landing_dir),
        "stale sources": stale_sources(config, now or datetime.now(UTC)),
        "district config": _digest([config.model_dump_json()]),
        "declarations": _files_digest(declarations, Path("/")),
        "identity decisions": _files_digest([config.identity_decisions_path], Path("/")),
        "dbt project": _files_digest(
            [dbt_dir / "dbt_project.yml", *(p for f in DBT_PROJECT_FOLDERS for p in (dbt_dir / f).rglob("*"))], dbt_dir
        ),
        "pipeline code": _files_digest(PACKAGE_DIR.rglob("*.py"), PACKAGE_DIR),
    }


def _record_path(config: DistrictConfig) -> Path:
    return config.build_warehouse_path.with_name(RECORD_NAME)


@dataclass(frozen=True)
class BuildMode:
    """How this run builds the warehouse, and why: the attendance fact incrementally (only the
    student-days of new attendance batches) or in full; and everything, or only what reads the
    landed data of `systems` (the only sources whose data changed since the last build)."""

    incremental: bool
    reason: str
    systems: tuple[str, ...] | None = None

    def recorded(self) -> dict:
        systems = list(self.systems) if self.systems is not None else None
        return {"incremental": self.incremental, "reason": self.reason, "systems": systems}

    @classmethod
    def from_record(cls, build: dict) -> BuildMode:
        systems = build.get("systems")
        return cls(
            build.get("incremental") is True,
            str(build.get("reason") or "not recorded"),
            tuple(systems) if isinstance(systems, list) else None,
        )

    def sentence(self) -> str:
        if self.incremental:
            how = f"The attendance fact is updated incrementally: {self.reason}."
        elif self.systems is None:
            how = f"The warehouse is built in full (every model refreshed): {self.reason}."
        else:
            how = f"Nothing is updated incrementally: {self.reason}."
        if self.systems is None:
            return how
        return (
            f"Only what reads the landed data of {', '.join(self.systems)} is rebuilt (the only sources changed "
            f"since the last build, which ended well); the rest stands as that build left it. {how}"
        )


def record_build_inputs(
    config: DistrictConfig, inputs: dict[str, object], run_id: str, mode: BuildMode | None = None
) -> None:
    """Note what this run's build reads, before it builds (a run that then fails is not trusted),
    and how it builds (the second dbt step reads that back)."""
    mode = mode or BuildMode(False, "no build mode was chosen")
    record = {"format": RECORD_FORMAT, "run_id": run_id, "build": mode.recorded(), "inputs": inputs}
    _write_record(config, {**record, "batches": landed_batch_ids(config.landing_dir)})


def _write_record(config: DistrictConfig, record: dict) -> None:
    write_json_record(_record_path(config), record)


def read_build_record(config: DistrictConfig) -> dict | None:
    """The last build's record (what it read, how it built), or None when there is none readable."""
    return read_json_record(_record_path(config))


def note_selected_build(config: DistrictConfig, run_id: str, mode: BuildMode) -> None:
    """Note how a run of selected assets (a source's delivery, a selection in the UI) builds,
    for its second dbt step; the last whole build's record stays the one compared with. A
    selection built in full may have rebuilt the attendance fact from other inputs than that
    record's, so no later build is incremental until the next whole one."""
    record = read_build_record(config) or {"format": RECORD_FORMAT}
    record["selected_run"] = {"run_id": run_id, "build": mode.recorded()}
    if not mode.incremental:
        record["incremental_base"] = False
    _write_record(config, record)


def recorded_build_mode(config: DistrictConfig, run_id: str) -> BuildMode:
    """How the first dbt step of this run chose to build; in full unless its record says
    incremental (no record of this run: a step run on its own, a re-execution)."""
    record = read_build_record(config) or {}
    selected = record.get("selected_run") or {}
    if record.get("run_id") == run_id:
        build = record.get("build") or {}
    elif selected.get("run_id") == run_id:
        build = selected.get("build") or {}
    else:
        return BuildMode(False, "this run's first dbt step left no record of how to build")
    return BuildMode.from_record(build)


def note_identity_resolution(config: DistrictConfig, run_id: str, resolved: bool) -> None:
    """Note whether identity resolution ran again in this run (it does not when every person
    record is as its last resolution read it), for the second dbt step."""
    record = read_build_record(config) or {"format": RECORD_FORMAT}
    record["identity"] = {"run_id": run_id, "resolved": resolved}
    _write_record(config, record)


def identity_resolved_again(config: DistrictConfig, run_id: str) -> bool:
    """Whether this run's identity resolution landed new crosswalks; yes unless it noted otherwise."""
    noted = (read_build_record(config) or {}).get("identity") or {}
    return not (noted.get("run_id") == run_id and noted.get("resolved") is False)


def _judges_a_delivery(asset_key_path: list[str]) -> bool:
    """Whether a check's asset is a source's landed data (landing/<system>/<entity>)."""
    return len(asset_key_path) > 1 and asset_key_path[0] == LANDING_ASSETS and asset_key_path[1] != IDENTITY_SYSTEM


def last_run_trouble(instance, run_id: str) -> str | None:
    """Why the run that built from a record cannot be trusted (it did not succeed, or an ERROR
    check of it failed, so that what it refused, an extract's record the recipient refused among
    them, is tried again), or None when it ended well. A failed check of a landing asset is left
    out (not identity's, which the run itself lands): it judged what a source delivered (a
    refused file, a reject rate), which the build's inputs already hold, so the same refused file
    in its drop folder does not make every later run build again; a corrected file changes the
    inputs."""
    from dagster import DagsterRunStatus

    from interop_pipeline.assets.release import check_evaluations

    run = instance.get_run_by_id(run_id)
    if run is None or run.status != DagsterRunStatus.SUCCESS:
        return f"the last build's run ({run_id[:8]}) did not succeed"
    failed = [
        f"{e.asset_key.to_user_string()} {e.check_name}"
        for e in check_evaluations(instance, run_id)
        if not e.passed and e.severity.value == "ERROR" and not _judges_a_delivery(e.asset_key.path)
    ]
    if failed:
        return f"the last build's run ({run_id[:8]}) had failed checks: {', '.join(failed[:3])}"
    return None


def reason_to_rebuild(config: DistrictConfig, inputs: dict[str, object], instance, run_tags: dict) -> str | None:
    """Why this run must build (a sentence), or None when the last run built from these same
    inputs and ended well, so building again would change nothing."""
    if run_tags.get(REBUILD_TAG) == "true":
        return f"a rebuild was asked for (run tag {REBUILD_TAG})"
    if not config.published_warehouse_path.exists() or not config.build_warehouse_path.exists():
        return "no warehouse has been built and released yet"
    previous = read_build_record(config)
    if previous is None or not isinstance(previous.get("inputs"), dict) or "run_id" not in previous:
        return "no record of what the last build read"
    changed = [name for name, value in inputs.items() if previous["inputs"].get(name) != value]
    if changed:
        return f"changed since the last build: {', '.join(changed)}"
    return last_run_trouble(instance, previous["run_id"])


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 'es' if word.endswith('ch') else 's'}"


def _changed_besides_landed(previous: dict[str, object], inputs: dict[str, object]) -> list[str]:
    return sorted(
        name for name in set(previous) | set(inputs) if name != LANDED and previous.get(name) != inputs.get(name)
    )


def changed_systems(
    previous: dict[str, object], inputs: dict[str, object], batches: tuple[dict, dict] | None = None
) -> tuple[str, ...] | None:
    """The source systems whose landed data differs between the inputs a build read (`previous`)
    and now, when landed data is all that differs; None when anything else differs too (or the
    record does not list landed batches per source), so everything is rebuilt. With `batches`
    (the batch ids that build read, and now's: landed_batch_ids), also those whose rows now come
    from other batches."""
    before, now = previous.get(LANDED), inputs.get(LANDED)
    if _changed_besides_landed(previous, inputs) or not isinstance(before, dict) or not isinstance(now, dict):
        return None
    changed = {s for s in set(before) | set(now) if before.get(s) != now.get(s)}
    if batches is not None:
        then, today = batches
        changed |= {s for s in set(then) | set(today) if then.get(s) != today.get(s)}
    return tuple(sorted(changed))


def attendance_only_change(previous: dict[str, object], inputs: dict[str, object]) -> BuildMode:
    """Incremental when the only difference between the inputs a build read (`previous`) and
    now is added batches of the SIS attendance file's daily events, each landing that entity
    alone; in full, saying why, on any other difference."""
    others = _changed_besides_landed(previous, inputs)
    if others:
        return BuildMode(False, f"changed since the last build besides landed data: {', '.join(others)}")
    systems = changed_systems(previous, inputs)
    if systems is None:
        return BuildMode(False, "the last build's record does not list landed batches one by one")
    if systems != (INCREMENTAL_SYSTEM,):
        if not systems:
            return BuildMode(False, "no new attendance batch to add")
        return BuildMode(False, f"landed data changed in {', '.join(systems)}")
    before, now = previous[LANDED], inputs[LANDED]
    old, new = Counter(before.get(INCREMENTAL_SYSTEM) or []), Counter(now.get(INCREMENTAL_SYSTEM) or [])
    if old - new:
        return BuildMode(False, f"{INCREMENTAL_SYSTEM} batches were removed or replaced")
    added = list((new - old).elements())
    wanted = f"batch {INCREMENTAL_ENTITY} "
    other = [part for part in added if not part.startswith(wanted)]
    if other:
        kinds = sorted({"refused" if p.startswith("refused") else (p.split(" ")[1] or "no rows") for p in other})
        what = ", ".join(kinds)
        return BuildMode(False, f"new {INCREMENTAL_SYSTEM} data other than {INCREMENTAL_ENTITY} alone: {what}")
    return BuildMode(
        True,
        f"the only change since the last build, which ended well, is {_plural(len(added), 'new batch')} "
        f"of {INCREMENTAL_SYSTEM} {INCREMENTAL_ENTITY}",
    )


def choose_build_mode(
    previous: dict | None,
    inputs: dict[str, object],
    *,
    rebuild_asked: bool,
    last_run_trouble: str | None,
    batches: dict[str, list[str]] | None = None,
) -> BuildMode:
    """Incremental or full, and everything or only what reads the sources whose landed data
    changed, from the last build's record (None: none readable), this run's inputs, whether a
    rebuild was asked for and why the last build's run is not trusted (None: it ended well).
    Every doubt is a full build of everything."""
    if rebuild_asked:
        return BuildMode(False, f"a rebuild was asked for (run tag {REBUILD_TAG})")
    if previous is None or not isinstance(previous.get("inputs"), dict):
        return BuildMode(False, "no record of what the last build read")
    if previous.get("format") != RECORD_FORMAT:
        return BuildMode(False, "the record of the last build is of an older format")
    # A run of selected assets since rebuilt what it selected from the landed data as it then
    # was: the rest is still as the last build left it, and what it rebuilt reads changed data.
    systems = None
    if last_run_trouble is None and batches is not None and isinstance(previous.get("batches"), dict):
        systems = changed_systems(previous["inputs"], inputs, (previous["batches"], batches))
    if previous.get("incremental_base") is False:
        return BuildMode(False, "a run of selected assets has built in full since the last build", systems)
    if last_run_trouble is not None:
        return BuildMode(False, last_run_trouble)
    return replace(attendance_only_change(previous["inputs"], inputs), systems=systems)


def decide_build_mode(config: DistrictConfig, inputs: dict[str, object], instance, run_tags: dict) -> BuildMode:
    """choose_build_mode for this run: the record on disk, the last build's run in the instance."""
    rebuild_asked = run_tags.get(REBUILD_TAG) == "true"
    if not rebuild_asked and not config.build_warehouse_path.exists():
        return BuildMode(False, "no warehouse has been built yet")
    previous = read_build_record(config)
    trouble = None
    if not rebuild_asked and previous is not None and isinstance(previous.get("run_id"), str):
        trouble = last_run_trouble(instance, previous["run_id"])
    return choose_build_mode(
        previous,
        inputs,
        rebuild_asked=rebuild_asked,
        last_run_trouble=trouble,
        batches=landed_batch_ids(config.landing_dir),
    )
