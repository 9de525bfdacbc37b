"""Release: publish the build warehouse for analysts, atomically, only after a good build.

Analysts open data/published/warehouse.duckdb read-only. A release copies the checkpointed
build file next to the published one and renames it into place, so readers see either the old
file or the new one, never half of one; a failed run never reaches this step.
"""

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    MaterializeResult,
    MetadataValue,
    asset,
)

from interop_pipeline.chaos import pause_point
from interop_pipeline.config import DistrictConfig
from interop_pipeline.publish.roster import limited_memory
from interop_pipeline.publish.state import restrict_to_owner
from interop_pipeline.publish.table_versions import publish_versions, withdraw_versions
from interop_pipeline.transform.dbt import DATA_TEAM, WAREHOUSE_POOL

# Tables a release must hold (verified in the copy before it replaces the published file).
RELEASE_TABLES = (
    "dim_school",
    "dim_student",
    "dim_staff",
    "dim_course",
    "dim_section",
    "fct_school_enrollment",
    "fct_section_enrollment",
    "dim_school_calendar",
    "fct_student_daily_attendance",
)


def table_counts(database: Path, spill_to: Path | None = None) -> dict[str, int]:
    """Rows of every table and view in `database`, named as analysts query them (schema-qualified
    outside main). Raises if one of RELEASE_TABLES is missing."""
    with duckdb.connect(str(database), read_only=True, config=limited_memory(spill_to)) as con:
        relations = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() order by all"
        ).fetchall()
        counts = {
            (name if schema == "main" else f"{schema}.{name}"): con.execute(
                f'select count(*) from "{schema}"."{name}"'
            ).fetchone()[0]
            for schema, name in relations
        }
    missing = [table for table in RELEASE_TABLES if table not in counts]
    if missing:
        raise RuntimeError(f"{database.name}: the build lacks released tables {', '.join(missing)}")
    return counts


def publish_warehouse(build: Path, published: Path, tag: str) -> dict[str, int]:
    """Copy `build` to `published` atomically, with its tables' versions (publish/table_versions.py);
    returns the published table counts."""
    # Fold the write-ahead log into the file so a byte copy is complete.
    with duckdb.connect(str(build), config=limited_memory()) as con:
        con.execute("checkpoint")
    published.parent.mkdir(parents=True, exist_ok=True)
    staged = published.with_name(f".{published.name}.{tag}.partial")
    spill = published.with_name(f".{published.name}.{tag}.spill.partial")  # what recovery sweeps
    try:
        shutil.copyfile(build, staged)
        counts = table_counts(staged, spill)  # the copy opens, every table of it reads, the released ones are there
        restrict_to_owner(staged)
        pause_point("release_copy")
        withdraw_versions(published)
        os.replace(staged, published)
        publish_versions(build, published)
    finally:
        staged.unlink(missing_ok=True)
        shutil.rmtree(spill, ignore_errors=True)  # DuckDB's own, unless it was killed
    return counts


SOURCES_CHECK = "sources_current"
GATE_CHECK = "released_after_blocking_checks"


def check_evaluations(instance, run_id: str) -> list:
    """Every asset check evaluation of the run."""
    from dagster import DagsterEventType

    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
    return [record.event_log_entry.dagster_event.event_specific_data for record in records]


def checks_of_run(instance, run_id: str) -> tuple[int, int, list[str]]:
    """(blocking checks passed, blocking checks failed, non-blocking checks failed) in the run."""
    passed, failed, warned = 0, 0, []
    for evaluation in check_evaluations(instance, run_id):
        blocking = evaluation.severity == AssetCheckSeverity.ERROR and evaluation.blocking
        if evaluation.passed:
            passed += blocking
        elif blocking:
            failed += 1
        else:
            warned.append(f"{evaluation.asset_key.to_user_string()} {evaluation.check_name}")
    return passed, failed, warned


def source_statuses(database: Path) -> list[tuple[str, str, str | None, str | None]]:
    """(source, status, latest refusal's file or endpoint, its reason) of every source the
    district configures, as mart_data_quality has them in a released warehouse."""
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            """select distinct source_system, source_status, last_refusal_subject, last_refusal_reason
               from main.mart_data_quality where is_enabled order by source_system"""
        ).fetchall()


def build_release_asset(config: DistrictConfig, upstream: list[AssetKey]):
    @asset(
        key=AssetKey("published_warehouse"),
        deps=upstream,
        group_name="release",
        kinds={"duckdb"},
        owners=[DATA_TEAM],
        pool=WAREHOUSE_POOL,
        description=(
            "The analysts' read-only copy of the warehouse, replaced atomically after a build "
            "whose blocking checks passed."
        ),
        check_specs=[
            AssetCheckSpec(
                SOURCES_CHECK,
                asset=AssetKey("published_warehouse"),
                description="Every configured source delivered on time: fails (WARN) naming each quarantined, "
                "stale or silent source released with its last good data, and why.",
            ),
            AssetCheckSpec(
                GATE_CHECK,
                asset=AssetKey("published_warehouse"),
                description="The release gate: this copy was released because every blocking check of its build "
                "passed (a failed one stops the run before the release). Its metadata counts them, and names the "
                "warnings the release went ahead with.",
            ),
        ],
    )
    def published_warehouse(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        started = time.perf_counter()
        counts = publish_warehouse(config.build_warehouse_path, config.published_warehouse_path, context.run.run_id)
        passed, failed, warned = checks_of_run(context.instance, context.run.run_id)
        statuses = source_statuses(config.published_warehouse_path)
        behind = [(name, status, subject, reason) for name, status, subject, reason in statuses if status != "current"]
        yield MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(config.published_warehouse_path)),
                "size_mb": round(config.published_warehouse_path.stat().st_size / 2**20, 2),
                "duration_s": round(time.perf_counter() - started, 3),
                "sources": MetadataValue.json({name: status for name, status, _, _ in statuses}),
                "tables": len(counts),
                "table_rows": MetadataValue.json(counts),
                **{f"rows_{table}": counts[table] for table in RELEASE_TABLES},
            }
        )
        yield AssetCheckResult(
            check_name=GATE_CHECK,
            passed=failed == 0,
            metadata={
                "blocking_checks_passed": passed,
                "blocking_checks_failed": failed,
                "warnings_released_with": MetadataValue.md("\n".join(f"- {w}" for w in warned) or "none"),
            },
        )
        yield AssetCheckResult(
            check_name=SOURCES_CHECK,
            passed=not behind,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "sources_behind": MetadataValue.md(
                    "\n".join(
                        f"- {name}: {status}"
                        + (f" (refused `{subject}`: {reason})" if subject and status == "quarantined" else "")
                        for name, status, subject, reason in behind
                    )
                    or "none"
                )
            },
        )

    return published_warehouse
