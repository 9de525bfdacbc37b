"""Land the SIS roster from the OneRoster CSV bundles (1.1 or 1.2, bulk or delta) dropped in its
folder: every bundle not landed yet, in delivery order, so no delta is skipped.

A refused bundle lands nothing and, since later deltas build on it, later bundles wait behind
it; the source is quarantined (source_health.py: a failed check names the bundle and why, and the
roster landed before stays what dbt reads) unless the district marks it required, when the step
fails and the release waits. Runs outside the warehouse pool: it writes Parquet, never DuckDB.
"""

import time
from collections.abc import Iterator
from pathlib import Path

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

from interop_pipeline.assets.extract.source_health import (
    REFUSALS_ENTITY,
    Refusal,
    report_source_health,
    source_health_check_specs,
)
from interop_pipeline.config import DistrictConfig, OneRosterCsvSource
from interop_pipeline.connectors.landing import (
    BATCHES_DIR,
    REJECTS_DIR,
    ensure_placeholders,
    pending_files,
    sha256_file,
)
from interop_pipeline.connectors.oneroster_csv import (
    CANONICAL_COLUMNS,
    DEFAULT_EXTENSION_COLUMNS,
    SPECS,
    BundleLandingResult,
    OneRosterBundleError,
    land_oneroster_bundle,
)
from interop_pipeline.transform.dbt import DATA_TEAM

REJECTS_ENTITY = REJECTS_DIR.lstrip("_")
BATCHES_ENTITY = BATCHES_DIR.lstrip("_")


def land_bundle(
    config: DistrictConfig, source_name: str, source: OneRosterCsvSource, path: Path
) -> BundleLandingResult:
    """Land one bundle with this source's settings (also used by the benchmark)."""
    return land_oneroster_bundle(
        path,
        config.landing_dir,
        source_system=source_name,
        district_code=config.district.code,
        max_uncompressed_bytes=source.max_uncompressed_mb * 2**20,
        extension_columns=source.extension_columns,
    )


def build_sis_roster_assets(config: DistrictConfig, source_name: str, source: OneRosterCsvSource):
    entities = [spec.entity for spec in SPECS]
    keys = {
        entity: AssetKey(["landing", source_name, entity])
        for entity in [*entities, REJECTS_ENTITY, BATCHES_ENTITY, REFUSALS_ENTITY]
    }
    rejects_check = AssetCheckSpec(
        "no_rejected_rows",
        asset=keys[REJECTS_ENTITY],
        description="Warns when the connector refused rows; the rejects table says which and why.",
    )

    @multi_asset(
        name=f"land_{source_name}_oneroster_bundles",
        specs=[
            AssetSpec(
                key,
                group_name=source_name,
                kinds={"python", "parquet"},
                owners=[DATA_TEAM],
                description=(
                    f"{entity} from {source.system_name}'s OneRoster CSV bundles, landed as Parquet "
                    f"with lineage (one file per batch under landing/{source_name}/)."
                ),
            )
            for entity, key in keys.items()
        ],
        check_specs=[rejects_check, *source_health_check_specs(source_name, source, keys[BATCHES_ENTITY])],
        description=f"Validate and land every new OneRoster bundle dropped by {source.system_name}, in order.",
    )
    def land_bundles(context: AssetExecutionContext) -> Iterator:
        started = time.perf_counter()
        extensions = source.extension_columns or DEFAULT_EXTENSION_COLUMNS
        ensure_placeholders(
            config.landing_dir,
            source_name,
            {e: [*CANONICAL_COLUMNS[e], *extensions.get(e, [])] for e in entities},
        )
        bundles = pending_files(config.drop_folder(source), source.file_pattern, config.landing_dir, source_name)
        results: list[BundleLandingResult] = []
        refused: list[Refusal] = []
        for position, bundle in enumerate(bundles):
            try:
                result = land_bundle(config, source_name, source, bundle)
            except OneRosterBundleError as exc:
                # Nothing of it landed, and later deltas build on it: they wait. dbt still reads
                # the batches landed before.
                waiting = [b.name for b in bundles[position + 1 :]]
                reason = str(exc) + (f" (waiting behind it: {', '.join(waiting)})" if waiting else "")
                refused.append(Refusal(subject=bundle.name, reason=reason, fingerprint=sha256_file(bundle)))
                context.log.error(f"Refused, nothing landed: {reason}")
                break
            results.append(result)
            context.log.info(f"{bundle.name}: batch {result.batch_id}, {sum(result.rows_landed.values())} rows")

        common = {
            "bundles_landed": len(results),
            "batches": ", ".join(r.batch_id for r in results) or "none (no new bundle)",
            "duration_s": round(time.perf_counter() - started, 3),
        }
        total = lambda counts, entity: sum(getattr(r, counts).get(entity, 0) for r in results)  # noqa: E731
        for entity in entities:
            yield MaterializeResult(
                asset_key=keys[entity],
                metadata={
                    **common,
                    "dagster/row_count": total("rows_landed", entity),
                    "rows_rejected": total("rows_rejected", entity),
                    "modes": ", ".join(f"{r.oneroster_version} {r.modes.get(entity, '?')}" for r in results) or "none",
                },
            )
        total_rejected = sum(total("rows_rejected", entity) for entity in entities)
        yield MaterializeResult(
            asset_key=keys[REJECTS_ENTITY], metadata={**common, "dagster/row_count": total_rejected}
        )
        not_ingested = sorted({name for r in results for name in r.files_not_ingested})
        yield MaterializeResult(
            asset_key=keys[BATCHES_ENTITY], metadata={**common, "files_not_ingested": ", ".join(not_ingested) or "none"}
        )
        by_rule: dict[str, int] = {}
        for result in results:
            for rule, count in result.rejects_by_rule.items():
                by_rule[rule] = by_rule.get(rule, 0) + count
        yield AssetCheckResult(
            asset_key=keys[REJECTS_ENTITY],
            check_name=rejects_check.name,
            passed=total_rejected == 0,
            severity=AssetCheckSeverity.WARN,
            metadata={"rows_rejected": total_rejected, "by_rule": MetadataValue.json(by_rule)},
        )
        yield from report_source_health(
            config, source_name, source, refused, batches_key=keys[BATCHES_ENTITY], refusals_key=keys[REFUSALS_ENTITY]
        )

    return land_bundles
