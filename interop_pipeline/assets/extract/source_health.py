"""Quarantine and freshness, shared by every landing step (file drops, OneRoster bundles, APIs).

One source's bad day must not stop the others: a refused file or a walk that failed for good is
recorded (landing/<source>/_refusals/), reported as a failed `delivery_accepted` check on the
source's `_batches` asset naming file or endpoint and why, and the step succeeds, so the
warehouse builds and is released with that source's last good data. Only a source the district
marks `required: true` fails its step instead, which holds the build and the release back.
`fresh_within_limit` reports the age of the source's newest landed batch against its
configured limit, so the UI shows which source is stale and since when.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    Failure,
    MaterializeResult,
    MetadataValue,
)

from interop_pipeline.config import DistrictConfig, SourceSettings
from interop_pipeline.connectors.landing import REFUSALS_DIR, read_batch_records, record_refusal

REFUSALS_ENTITY = REFUSALS_DIR.lstrip("_")  # the asset landing/<source>/refusals
DELIVERY_CHECK = "delivery_accepted"
FRESHNESS_CHECK = "fresh_within_limit"


@dataclass(frozen=True)
class Refusal:
    subject: str  # file name, or the endpoint walked
    reason: str  # names file and row, or endpoint and page; never a personal value
    fingerprint: str | None = None  # a file's sha256
    entity: str | None = None  # the API entity walked


def source_health_check_specs(source_name: str, source: SourceSettings, batches_key: AssetKey) -> list[AssetCheckSpec]:
    consequence = (
        "a required source: a refusal holds the release back"
        if source.required
        else "the warehouse is released with this source's last good data"
    )
    limit = f"{source.freshness_limit_hours:g} hours" if source.freshness_limit_hours else "no limit configured"
    return [
        AssetCheckSpec(
            DELIVERY_CHECK,
            asset=batches_key,
            description=f"Every new delivery or walk of {source.system_name} landed; fails naming what was refused "
            f"and why ({consequence}).",
        ),
        AssetCheckSpec(
            FRESHNESS_CHECK,
            asset=batches_key,
            description=f"{source.system_name}'s newest landed batch is within its freshness limit ({limit}).",
        ),
    ]


def record_refusals(
    config: DistrictConfig, source_name: str, refusals: list[Refusal], refusals_key: AssetKey
) -> MaterializeResult:
    """Record this run's refusals; the materialization of landing/<source>/refusals."""
    for refusal in refusals:
        record_refusal(
            config.landing_dir,
            source_name,
            district_code=config.district.code,
            kind="file" if refusal.fingerprint else "walk",
            subject=refusal.subject,
            reason=refusal.reason,
            fingerprint=refusal.fingerprint,
            entity=refusal.entity,
        )
    return MaterializeResult(
        asset_key=refusals_key,
        metadata={"dagster/row_count": len(refusals), "refused": ", ".join(r.subject for r in refusals) or "none"},
    )


def freshness(
    config: DistrictConfig, source_name: str, source: SourceSettings, now: datetime
) -> tuple[datetime | None, float | None, bool]:
    """(newest batch's extraction time, its age in hours, stale): a source is stale when it has
    a freshness limit and nothing landed within it (or nothing landed at all)."""
    newest = max((r["extracted_at"] for r in read_batch_records(config.landing_dir, source_name)), default=None)
    age_hours = (now - newest).total_seconds() / 3600 if newest else None
    limit = source.freshness_limit_hours
    return newest, age_hours, limit is not None and (age_hours is None or age_hours > limit)


def source_health_results(
    config: DistrictConfig,
    source_name: str,
    source: SourceSettings,
    batches_key: AssetKey,
    refusals: list[Refusal],
    now: datetime | None = None,
) -> Iterator[AssetCheckResult]:
    """The two checks' results for this run (refusals already recorded)."""
    yield AssetCheckResult(
        asset_key=batches_key,
        check_name=DELIVERY_CHECK,
        passed=not refusals,
        severity=AssetCheckSeverity.ERROR,
        metadata={
            "refused": len(refusals),
            "required_source": source.required,
            "refusals": MetadataValue.md("\n".join(f"- `{r.subject}`: {r.reason}" for r in refusals) or "none"),
            "consequence": (
                "none"
                if not refusals
                else "release held back (required source)"
                if source.required
                else "quarantined: the warehouse keeps this source's last good data"
            ),
        },
    )
    newest, age_hours, stale = freshness(config, source_name, source, now or datetime.now(UTC))
    limit = source.freshness_limit_hours
    yield AssetCheckResult(
        asset_key=batches_key,
        check_name=FRESHNESS_CHECK,
        passed=not stale,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "newest_batch_at": newest.isoformat() if newest else "nothing landed yet",
            "newest_batch_age_hours": MetadataValue.float(round(age_hours, 2)) if age_hours is not None else "n/a",
            "freshness_limit_hours": MetadataValue.float(float(limit)) if limit is not None else "no limit",
        },
    )


def report_source_health(
    config: DistrictConfig,
    source_name: str,
    source: SourceSettings,
    refusals: list[Refusal],
    *,
    batches_key: AssetKey,
    refusals_key: AssetKey,
    selected: Callable[[AssetKey], bool] = lambda key: True,
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """The end of every landing step: record the run's refusals, report them and the source's
    freshness, and fail the step if a required source was refused. `selected` says whether an
    asset (and the checks on it) is part of this run's subset."""
    recorded = record_refusals(config, source_name, refusals, refusals_key)
    if selected(refusals_key):
        yield recorded
    if selected(batches_key):
        yield from source_health_results(config, source_name, source, batches_key, refusals)
    hold_release_if_required(source, refusals)


def hold_release_if_required(source: SourceSettings, refusals: list[Refusal]) -> None:
    """A required source's refusal fails its step, so nothing downstream (dbt, the release, the
    extracts) runs; any other source's refusal was reported as a failed check."""
    if refusals and source.required:
        raise Failure(
            description=f"{source.system_name} is required and {len(refusals)} of its deliveries or walks were "
            "refused; the release waits for it (earlier data is unchanged):\n"
            + "\n".join(f"{r.subject}: {r.reason}" for r in refusals),
            allow_retries=False,
        )
