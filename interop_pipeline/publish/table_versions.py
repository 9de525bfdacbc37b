"""A file extract none of whose tables was rebuilt is not built again.

Each extract format reads a known set of the published warehouse's tables (TABLES_READ, checked
by tests/publish/test_table_versions.py, which builds every format from a copy of the warehouse
holding only its set and finds the same extract). Before dbt runs, each dbt step marks every
table it may rewrite as rebuilt by this run, in the build's table versions
(warehouse/table_versions.json: table -> the run that last rebuilt it); a step that fails or is
killed has then at worst marked a table it did not rewrite. The release publishes the versions
beside the published warehouse, after the new copy is in place, and removes the old ones before.

A file recipient's step records a digest of what its extract was built from each time it
delivers, or finds that nothing changed, with every check passed: the versions of the tables it
read, its agreement (the recipient's settings), its secrets (hashed) and its delivery state
files. When the digest is the same at its next run, building the extract again would find what
it last delivered, so the step ends there. Anything unknown (no versions published, a table
never versioned, no record, a delivery state removed to force a full send) builds the extract;
a step that fails forgets its record first. An Ed-Fi API recipient is always built: what the
ODS holds can change without the warehouse (a restored ODS, records it refused to be sent
again). A code change rebuilds every table (the build's inputs include the pipeline's code),
so it rebuilds every extract too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from interop_pipeline.config import DistrictConfig, RecipientSettings, recipient_base_url_env
from interop_pipeline.json_files import read_json_record, write_json_record
from interop_pipeline.publish.state import publish_dir

VERSIONS_NAME = "table_versions.json"
DIGEST_NAME = "built_from.json"
# Formats whose delivery depends on nothing but the warehouse and the recipient's settings.
SKIPPABLE_FORMATS = {"oneroster_1.2", "oneroster_1.1", "edfi_json", "research"}

_ROSTER_SCOPE = (
    "main.dim_school",
    "main.dim_student",
    "main.fct_school_enrollment",
    "main.dim_course",
    "main.dim_section",
    "main.dim_staff",
    "main.fct_staff_section_assignment",
)
_ROSTER = (*_ROSTER_SCOPE, "main.dim_district", "main.dim_session", "main.fct_section_enrollment")
# What each format's extract reads (publish/roster.py, deliver.py, edfi.py, research.py).
TABLES_READ: dict[str, tuple[str, ...]] = {
    "oneroster_1.2": _ROSTER,
    "oneroster_1.1": _ROSTER,
    "research": (*_ROSTER_SCOPE, "main.mart_student_attendance", "main.mart_chronic_absenteeism"),
}
TABLES_READ["edfi_json"] = TABLES_READ["edfi_api"] = (
    *_ROSTER,
    "main.dim_school_calendar",
    "main.fct_student_daily_attendance",
    "main.dim_assessment",
    "main.fct_assessment_result",
    "main.fct_assessment_score",
    "reference.xwalk_race_ethnicity",
    "reference.xwalk_attendance_code",
    "reference.xwalk_grade_level",
)


def versions_path(warehouse: Path) -> Path:
    """The versions of the tables of this warehouse file (build or published)."""
    return warehouse.with_name(VERSIONS_NAME)


def note_rebuilding(config: DistrictConfig, tables: Iterable[str], run_id: str) -> None:
    """Before dbt runs: these tables (schema.name) are rebuilt by this run."""
    path = versions_path(config.build_warehouse_path)
    versions = read_json_record(path) or {}
    versions.update(dict.fromkeys(tables, run_id))
    write_json_record(path, versions)


def withdraw_versions(published: Path) -> None:
    """Before the published copy is replaced: until the new versions are there, none are."""
    versions_path(published).unlink(missing_ok=True)


def publish_versions(build: Path, published: Path) -> None:
    """After the published copy is replaced by `build`: its tables' versions."""
    versions = read_json_record(versions_path(build))
    if versions is not None:
        write_json_record(versions_path(published), versions)


def _recipient_dir(config: DistrictConfig, recipient: str) -> Path:
    return publish_dir(config.data_dir) / "state" / recipient


def extract_inputs(config: DistrictConfig, name: str) -> dict | None:
    """What `name`'s extract would be built from now, taken before it is built: the published
    versions of the tables its format reads, its settings, its secrets and target (hashed below,
    never kept). None when it is always built, or a table it reads has no version."""
    recipient: RecipientSettings = config.recipients[name]
    if recipient.format not in SKIPPABLE_FORMATS:
        return None
    versions = read_json_record(versions_path(config.published_warehouse_path)) or {}
    read = {table: versions.get(table) for table in TABLES_READ[recipient.format]}
    if None in read.values():
        return None
    variables = [
        recipient.client_id_env,
        recipient.client_secret_env,
        recipient.hmac_secret_env,
        recipient.serve_client_id_env,
        recipient.serve_client_secret_env,
        recipient_base_url_env(name),
    ]
    environment = {var: os.environ.get(var) for var in variables if var}
    return {"tables": read, "settings": recipient.model_dump(mode="json"), "environment": environment}


def extract_digest(config: DistrictConfig, name: str, inputs: dict) -> str:
    """The digest of `inputs` with the recipient's delivery state files as they are now."""
    folder = _recipient_dir(config, name)
    state = sorted(
        (p.name, p.stat().st_size, p.stat().st_mtime_ns)
        for p in (folder.iterdir() if folder.is_dir() else [])
        if p.is_file() and p.name != DIGEST_NAME and not p.name.startswith(".")
    )
    return hashlib.sha256(json.dumps({**inputs, "state": state}, sort_keys=True).encode()).hexdigest()


def unchanged_since_last_delivery(config: DistrictConfig, name: str, inputs: dict | None) -> bool:
    """Whether the extract would be built from what its last delivery (or finding that nothing
    changed) was built from."""
    recorded = (read_json_record(_recipient_dir(config, name) / DIGEST_NAME) or {}).get("built_from")
    return inputs is not None and recorded == extract_digest(config, name, inputs)


def forget_extract_digest(config: DistrictConfig, name: str) -> None:
    (_recipient_dir(config, name) / DIGEST_NAME).unlink(missing_ok=True)


def record_extract_digest(config: DistrictConfig, name: str, inputs: dict | None) -> None:
    """After a delivery with every check passed, or a finding that nothing changed: `inputs`
    (taken before the extract was built) with the delivery state the delivery left."""
    if inputs is not None:
        digest = extract_digest(config, name, inputs)
        write_json_record(_recipient_dir(config, name) / DIGEST_NAME, {"built_from": digest})
