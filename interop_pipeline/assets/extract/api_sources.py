"""Land REST API sources: one asset per system entity, grouped by system.

Each asset walks its entity page by page into one landing batch (see connectors/api_landing.py):
incrementally from the cursor of its last committed batch, fully on the first run and every
`full_refresh_days`. A walk that fails lands nothing and keeps the cursor, and the RetryPolicy
tries the step again. Runs outside the warehouse pool: it writes Parquet, never DuckDB.
"""

# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    Backoff,
    Failure,
    MaterializeResult,
    RetryPolicy,
    asset,
)

from interop_pipeline.config import ApiSource, DistrictConfig
from interop_pipeline.connectors.api_landing import API_RECORD_COLUMNS, EntityWalk, land_entity_walk
from interop_pipeline.connectors.api_sources import api_connector, source_client
from interop_pipeline.connectors.http import ApiError
from interop_pipeline.connectors.landing import ensure_placeholders
from interop_pipeline.transform.dbt import DATA_TEAM

API_RETRY_POLICY = RetryPolicy(max_retries=2, delay=30, backoff=Backoff.EXPONENTIAL)


def build_api_source_assets(config: DistrictConfig, source_name: str, source: ApiSource) -> list[AssetsDefinition]:
    connector = api_connector(source.kind)
    return [_entity_asset(config, source_name, source, walk) for walk in connector.entity_walks(source)]


def _entity_asset(config: DistrictConfig, source_name: str, source: ApiSource, walk: EntityWalk) -> AssetsDefinition:
    @asset(
        key=AssetKey(["landing", source_name, walk.entity]),
        group_name=source_name,
        kinds={"api", "parquet"},
        owners=[DATA_TEAM],
        retry_policy=API_RETRY_POLICY,
        description=(
            f"{source.system_name} {walk.entity}, walked page by page from {walk.endpoint} into "
            f"landing/{source_name}/{walk.entity}/ (incremental when the API allows it)."
        ),
        metadata={"endpoint": walk.endpoint, "incremental": walk.supports_incremental},
    )
    def land_entity(context: AssetExecutionContext) -> MaterializeResult:
        ensure_placeholders(config.landing_dir, source_name, {walk.entity: API_RECORD_COLUMNS})
        client = source_client(config, source_name, source)
        try:
            result = land_entity_walk(
                client,
                walk,
                landing_root=config.landing_dir,
                source_system=source_name,
                district_code=config.district.code,
                full_refresh_days=source.full_refresh_days,
            )
        except ApiError as error:
            # The message names system, endpoint and page; nothing landed, the cursor is unchanged.
            raise Failure(description=str(error)) from None
        finally:
            client.close()
        context.log.info(
            f"{source_name}/{walk.entity}: {result.mode} walk, {result.records} records "
            f"({result.tombstones} deletions) in {result.pages} pages, {result.retries} retries"
        )
        return MaterializeResult(metadata=result.metadata())

    return land_entity
