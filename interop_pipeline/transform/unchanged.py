"""A refresh that would change nothing is not rebuilt.

A daily run that lands nothing new (no file dropped, every REST walk bringing back what the
warehouse already holds) would rebuild the warehouse into the same tables, resolve the same
identities, release an equal copy and re-check every extract. Instead the first dbt step
compares what the build reads (`build_inputs`) with what it read in the last run, and when they
are equal and that run ended well, it materializes nothing: Dagster then skips identity, the
second dbt step, the release and the extracts, and the published warehouse stays as it is.

"Ended well" means the run succeeded with no ERROR check failing (a refused file, an Ed-Fi
record the ODS refused, a dbt test): such a run is followed by a full one, so retries happen.
The inputs compared are content, never batch ids or times: a REST walk that brings the same
records lands a new batch but the same content digest. The only time-dependent input is which
sources are past their freshness limit, so the warehouse's source statuses change the day a
source goes stale.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

from interop_pipeline.config import PROJECT_ROOT, DistrictConfig, FileDropSource
from interop_pipeline.connectors.landing import read_batch_records, read_refusals

# A run with this tag builds even when nothing has changed (`interop-pipeline run --rebuild`, or
# the tag added in the UI's launchpad).
REBUILD_TAG = "interop/rebuild"
IDENTITY_SYSTEM = "identity"  # landed by the run itself, between the two dbt steps
RECORD_NAME = "build_inputs.json"
PACKAGE_DIR = Path(__file__).resolve().parent.parent
DBT_PROJECT_FOLDERS = ("models", "macros", "seeds", "snapshots", "tests")


def _digest(parts: Iterable[str]) -> str:
    hasher = hashlib.sha256()
    for part in sorted(parts):
        hasher.update(part.encode())
        hasher.update(b"\0")
    return hasher.hexdigest()


def _files_digest(paths: Iterable[Path], root: Path) -> str:
    return _digest(f"{p.relative_to(root)}:{hashlib.sha256(p.read_bytes()).hexdigest()}" for p in paths if p.is_file())


def landed_content(landing_dir: Path) -> str:
    """Every landed batch and refusal, by content: a file's sha256, a walk's order-free digest.
    Walks that brought nothing add no rows and are left out."""
    parts = []
    for system_dir in sorted(p for p in landing_dir.iterdir() if p.is_dir()) if landing_dir.is_dir() else []:
        system = system_dir.name
        if system == IDENTITY_SYSTEM:
            continue
        for batch in read_batch_records(landing_dir, system):
            details = batch["details"] if isinstance(batch["details"], dict) else json.loads(batch["details"] or "{}")
            if "content_digest" in details:
                if details.get("records"):
                    parts.append(f"{system}/{details.get('entity')}/{details.get('mode')}:{details['content_digest']}")
            else:
                parts.append(f"{system}:{batch['fingerprint_sha256']}")
        for refusal in read_refusals(landing_dir, system):
            refused = refusal.get("fingerprint") or refusal.get("subject")
            parts.append(f"{system} refused {refused}: {refusal['reason']}")
    return _digest(parts)


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
        "landed data": landed_content(config.landing_dir),
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


def record_build_inputs(config: DistrictConfig, inputs: dict[str, object], run_id: str) -> None:
    """Note what this run's build reads, before it builds (a run that then fails is not trusted)."""
    path = _record_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.partial")
    staged.write_text(json.dumps({"run_id": run_id, "inputs": inputs}, indent=1))
    os.replace(staged, path)


def reason_to_rebuild(config: DistrictConfig, inputs: dict[str, object], instance, run_tags: dict) -> str | None:
    """Why this run must build (a sentence), or None when the last run built from these same
    inputs and ended well, so building again would change nothing."""
    from dagster import DagsterRunStatus

    from interop_pipeline.assets.release import check_evaluations

    if run_tags.get(REBUILD_TAG) == "true":
        return f"a rebuild was asked for (run tag {REBUILD_TAG})"
    if not config.published_warehouse_path.exists() or not config.build_warehouse_path.exists():
        return "no warehouse has been built and released yet"
    try:
        previous = json.loads(_record_path(config).read_text())
    except (FileNotFoundError, ValueError):
        return "no record of what the last build read"
    changed = [name for name, value in inputs.items() if previous["inputs"].get(name) != value]
    if changed:
        return f"changed since the last build: {', '.join(changed)}"
    run = instance.get_run_by_id(previous["run_id"])
    if run is None or run.status != DagsterRunStatus.SUCCESS:
        return f"the last build's run ({previous['run_id'][:8]}) did not succeed"
    failed = [
        f"{e.asset_key.to_user_string()} {e.check_name}"
        for e in check_evaluations(instance, previous["run_id"])
        if not e.passed and e.severity.value == "ERROR"
    ]
    if failed:
        return f"the last build's run ({previous['run_id'][:8]}) had failed checks: {', '.join(failed[:3])}"
    return None
