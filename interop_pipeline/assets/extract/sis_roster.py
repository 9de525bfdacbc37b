"""Land the SIS roster from the newest OneRoster 1.2 CSV bundle in its drop folder.

Runs outside the warehouse pool: it writes Parquet to the landing zone, never DuckDB.
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
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from interop_pipeline.config import DistrictConfig, OneRosterCsvSource
from interop_pipeline.connectors.landing import BATCHES_DIR, REJECTS_DIR
from interop_pipeline.connectors.oneroster_csv import SPECS, OneRosterBundleError, land_oneroster_bundle
from interop_pipeline.transform.dbt import DATA_TEAM

REJECTS_ENTITY = REJECTS_DIR.lstrip("_")
BATCHES_ENTITY = BATCHES_DIR.lstrip("_")


def newest_bundle(folder: Path, pattern: str) -> Path:
    """The most recently dropped bundle (by modification time, then name)."""
    candidates = [p for p in folder.glob(pattern) if p.is_file()] if folder.is_dir() else []
    if not candidates:
        raise Failure(
            description=f"No OneRoster bundle matching '{pattern}' in the drop folder {folder}.",
            allow_retries=False,
        )
    return max(candidates, key=lambda p: (p.stat().st_mtime, p.name))


def build_sis_roster_assets(config: DistrictConfig, source_name: str, source: OneRosterCsvSource):
    entities = [spec.entity for spec in SPECS]
    keys = {
        entity: AssetKey(["landing", source_name, entity]) for entity in [*entities, REJECTS_ENTITY, BATCHES_ENTITY]
    }
    rejects_check = AssetCheckSpec(
        "no_rejected_rows",
        asset=keys[REJECTS_ENTITY],
        description="Warns when the connector refused rows; the rejects table says which and why.",
    )

    @multi_asset(
        name=f"land_{source_name}_oneroster_bundle",
        specs=[
            AssetSpec(
                key,
                group_name=source_name,
                kinds={"python", "parquet"},
                owners=[DATA_TEAM],
                description=(
                    f"{entity} from {source.system_name}'s OneRoster 1.2 CSV bundle, landed as Parquet "
                    f"with lineage (one file per batch under landing/{source_name}/)."
                ),
            )
            for entity, key in keys.items()
        ],
        check_specs=[rejects_check],
        description=f"Validate and land the newest OneRoster bundle dropped by {source.system_name}.",
    )
    def land_bundle(context: AssetExecutionContext) -> Iterator:
        bundle = newest_bundle(config.drop_folder(source), source.file_pattern)
        started = time.perf_counter()
        try:
            result = land_oneroster_bundle(
                bundle,
                config.landing_dir,
                source_system=source_name,
                district_code=config.district.code,
                max_uncompressed_bytes=source.max_uncompressed_mb * 1024 * 1024,
            )
        except OneRosterBundleError as exc:
            # Nothing landed; the previous batch stays the one dbt reads.
            raise Failure(description=str(exc), allow_retries=False) from None
        seconds = round(time.perf_counter() - started, 3)
        context.log.info(
            f"{bundle.name}: batch {result.batch_id}"
            + (" (already landed: no-op)" if result.already_landed else f", {sum(result.rows_landed.values())} rows")
        )
        common = {
            "batch_id": result.batch_id,
            "source_file": bundle.name,
            "already_landed": result.already_landed,
            "duration_s": seconds,
        }
        for entity in entities:
            yield MaterializeResult(
                asset_key=keys[entity],
                metadata={
                    **common,
                    "dagster/row_count": result.rows_landed.get(entity, 0),
                    "rows_rejected": result.rows_rejected.get(entity, 0),
                },
            )
        total_rejected = sum(result.rows_rejected.values())
        yield MaterializeResult(
            asset_key=keys[REJECTS_ENTITY], metadata={**common, "dagster/row_count": total_rejected}
        )
        yield MaterializeResult(
            asset_key=keys[BATCHES_ENTITY],
            metadata={**common, "files_not_ingested": ", ".join(result.files_not_ingested) or "none"},
        )
        yield AssetCheckResult(
            asset_key=keys[REJECTS_ENTITY],
            check_name=rejects_check.name,
            passed=total_rejected == 0,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "rows_rejected": total_rejected,
                "by_rule": MetadataValue.json(result.rejects_by_rule),
                "by_entity": MetadataValue.json({k: v for k, v in result.rows_rejected.items() if v}),
            },
        )

    return land_bundle
