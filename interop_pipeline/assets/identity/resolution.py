"""Identity resolution between the two dbt steps: read the person records dbt built, link them
(interop_pipeline/identity/), land the crosswalks, review queue, quality and model under
landing/identity/ for dbt to read back.

Runs in the warehouse pool: it opens the build warehouse (read-only) while no dbt step writes
it. Metadata holds counts only, never names or IDs.
"""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from interop_pipeline.assets.identity.landing import (
    ENTITY_COLUMNS,
    PERSON_TYPES,
    RECORD_MODELS,
    SOURCE_SYSTEM,
    IdentityOutputs,
    land_identity_batch,
    last_resolution,
    person_records_digest,
    previous_crosswalks,
    quality_rows,
    queue_rows,
    read_person_records,
    sis_keys_claimed_twice,
    standing_outputs,
    truth_quality,
    with_history,
)
from interop_pipeline.chaos import pause_point
from interop_pipeline.config import DistrictConfig
from interop_pipeline.identity.decisions import read_decisions
from interop_pipeline.transform.dbt import DATA_TEAM, WAREHOUSE_POOL
from interop_pipeline.transform.unchanged import note_identity_resolution, recorded_build_mode

if TYPE_CHECKING:
    import pyarrow as pa

    from interop_pipeline.identity.resolve import Thresholds

GROUP = "identity"
ENTITIES = [*ENTITY_COLUMNS, "rejects", "batches"]
DESCRIPTIONS = {
    "student_xwalk": "Every student record of every source linked to its district person key (the SIS student's).",
    "staff_xwalk": "Every staff record of every source linked to its district person key (the SIS staff member's).",
    "review_queue": "Records whose best candidate is ambiguous or between the thresholds, with evidence, for review.",
    "match_quality": "Per source system: records, linked, queued, unlinked (precision and recall where truth exists).",
    "model_parameters": "The probabilistic model fitted on this run's records (splink settings).",
    "rejects": "Kept for the shared landing shape; identity rejects nothing.",
    "batches": "One record per identity run.",
}


def thresholds_from(config: DistrictConfig) -> "Thresholds":
    from interop_pipeline.identity.resolve import Thresholds

    settings = config.identity
    return Thresholds(
        accept=settings.accept_threshold, review=settings.review_threshold, margin=settings.ambiguity_margin
    )


def resolve_and_land(
    config: DistrictConfig,
    log: Callable[[str], object] = print,
    records: dict[str, "pa.Table"] | None = None,
    digest: str | None = None,
) -> tuple[IdentityOutputs, str]:
    """Link the person records the first dbt step built (`records` and their `digest`, when
    already read) and land the results as one identity batch (the asset's work, also used by
    the benchmark); returns them and the batch id."""
    from interop_pipeline.identity.model import linkage_engine  # splink loads in the run, not with definitions
    from interop_pipeline.identity.resolve import resolve

    resolved_at = datetime.now(UTC)
    if records is None:
        records = read_person_records(config.build_warehouse_path)
    previous = previous_crosswalks(config.landing_dir)
    decisions = read_decisions(config.identity_decisions_path)
    thresholds = thresholds_from(config)
    outputs = IdentityOutputs(crosswalks={}, review_queue=[], quality=[], models={})
    with linkage_engine(config.identity.engine) as engine:
        for person_type in PERSON_TYPES:
            resolution = resolve(
                records[person_type],
                thresholds=thresholds,
                decisions=decisions,
                prior_links=previous[person_type],
                resolved_at=resolved_at.replace(tzinfo=None),
                engine=engine,
            )
            truth = truth_quality(resolution.crosswalk, config.truth_dir, person_type)
            outputs.crosswalks[person_type] = with_history(resolution.crosswalk, previous[person_type], resolved_at)
            outputs.review_queue += queue_rows(person_type, resolution)
            outputs.quality += quality_rows(person_type, resolution, truth)
            outputs.models[person_type] = resolution.model
            log(f"{person_type}: {records[person_type].num_rows} records resolved")
            pause_point("identity")
    digest = digest or person_records_digest(records)
    return outputs, land_identity_batch(config.landing_dir, config.district.code, outputs, resolved_at, digest)


def build_identity_assets(config: DistrictConfig):
    keys = {entity: AssetKey(["landing", SOURCE_SYSTEM, entity]) for entity in ENTITIES}
    record_keys = [AssetKey(model) for model in RECORD_MODELS.values()]
    checks = [
        spec
        for person_type, entity in PERSON_TYPES.items()
        for spec in (
            AssetCheckSpec(
                "match_rate_above_floor",
                asset=keys[entity],
                description=(
                    f"Every source links at least {config.identity.min_match_rate:.0%} of its {person_type} records."
                ),
            ),
            AssetCheckSpec(
                "one_person_per_sis_record",
                asset=keys[entity],
                blocking=True,
                description=f"No person key is claimed by two different SIS {person_type} records.",
            ),
        )
    ]

    @multi_asset(
        name="resolve_identities",
        specs=[
            AssetSpec(
                key,
                group_name=GROUP,
                kinds={"python", "parquet"},
                owners=[DATA_TEAM],
                deps=record_keys,
                description=DESCRIPTIONS[entity] + " Landed by identity resolution, one batch per run.",
            )
            for entity, key in keys.items()
        ],
        check_specs=checks,
        pool=WAREHOUSE_POOL,
        description=(
            "Link every source's student and staff records to one district person key: reviewed decisions, "
            "deterministic rules, then a probabilistic model; ambiguous records go to review."
        ),
    )
    def resolve_identities(context: AssetExecutionContext) -> Iterator:
        started = time.perf_counter()
        records = read_person_records(config.build_warehouse_path)
        digest = person_records_digest(records)
        last = last_resolution(config.landing_dir)
        # Only landed data changed (not the decisions, the thresholds or the code) and no person
        # record with it: resolving again would link the same records the same way.
        only_landed = recorded_build_mode(config, context.run.run_id).systems is not None
        again = not (only_landed and last is not None and last[1] == digest)
        if again:
            outputs, batch_id = resolve_and_land(config, context.log.info, records, digest)
        else:  # the standing batch, its checks evaluated again
            batch_id = last[0]
            outputs = standing_outputs(config.landing_dir, batch_id)
            note_identity_resolution(config, context.run.run_id, resolved=False)
            context.log.info(
                "Every person record is as the last resolution read it, and only landed data changed since: "
                f"not resolved again. Its crosswalks (batch {batch_id}) stand."
            )
        common = {"batch_id": batch_id, "resolved_again": again, "duration_s": round(time.perf_counter() - started, 3)}
        for person_type, entity in PERSON_TYPES.items():
            rows = [q for q in outputs.quality if q["person_type"] == person_type]
            yield MaterializeResult(
                asset_key=keys[entity],
                metadata={
                    **common,
                    "dagster/row_count": outputs.crosswalks[person_type].num_rows,
                    "by_source_system": MetadataValue.md(_quality_markdown(rows)),
                    **{
                        f"{q['source_system']}_{k}": q[k]
                        for q in rows
                        for k in ("records", "linked", "queued", "unlinked")
                    },
                },
            )
            yield from _checks(keys[entity], rows, outputs.crosswalks[person_type], config.identity.min_match_rate)
        truth_scored = [q for q in outputs.quality if q["precision"] is not None]
        yield MaterializeResult(
            asset_key=keys["match_quality"],
            metadata={
                **common,
                "dagster/row_count": len(outputs.quality),
                "truth_available": bool(truth_scored),
                **{f"{q['source_system']}_precision": MetadataValue.float(float(q["precision"])) for q in truth_scored},
                **{f"{q['source_system']}_recall": MetadataValue.float(float(q["recall"])) for q in truth_scored},
            },
        )
        yield MaterializeResult(
            asset_key=keys["review_queue"],
            metadata={**common, "dagster/row_count": len(outputs.review_queue)},
        )
        yield MaterializeResult(
            asset_key=keys["model_parameters"], metadata={**common, "dagster/row_count": len(outputs.models)}
        )
        yield MaterializeResult(asset_key=keys["rejects"], metadata={**common, "dagster/row_count": 0})
        yield MaterializeResult(asset_key=keys["batches"], metadata=common)

    return resolve_identities


def _quality_markdown(rows: list[dict]) -> str:
    lines = ["| source system | records | linked | queued | unlinked |", "|---|---:|---:|---:|---:|"]
    lines += [
        f"| {q['source_system']} | {q['records']} | {q['linked']} | {q['queued']} | {q['unlinked']} |" for q in rows
    ]
    return "\n".join(lines)


def _checks(key: AssetKey, rows: list[dict], crosswalk, floor: float) -> Iterator[AssetCheckResult]:
    rates = {q["source_system"]: q["linked"] / q["records"] for q in rows if q["records"]}
    low = sorted(system for system, rate in rates.items() if rate < floor)
    yield AssetCheckResult(
        asset_key=key,
        check_name="match_rate_above_floor",
        passed=not low,
        severity=AssetCheckSeverity.WARN,
        metadata={
            "below_floor": ", ".join(low) or "none",
            **{f"{system}_match_rate": MetadataValue.float(round(rate, 4)) for system, rate in rates.items()},
        },
    )
    claimed_twice = sis_keys_claimed_twice(crosswalk)
    yield AssetCheckResult(
        asset_key=key,
        check_name="one_person_per_sis_record",
        passed=claimed_twice == 0,
        severity=AssetCheckSeverity.ERROR,
        metadata={"person_keys_claimed_twice": claimed_twice},
    )
