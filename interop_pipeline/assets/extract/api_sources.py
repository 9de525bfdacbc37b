"""Land REST API sources: one asset per system entity, grouped by system.

Each entity is walked page by page into one landing batch (see connectors/api_landing.py):
incrementally from the cursor of its last committed batch, fully on the first run and every
`full_refresh_days`. The entities of one system are one multi-asset (one run step, so a run
does not pay a worker process per entity), walked concurrently, each with its own client; any
subset can be materialized. A walk that fails lands nothing and keeps its cursor, the others
still commit, and the step fails naming it so the RetryPolicy tries again. On the last try a
walk that still fails quarantines the source (source_health.py): it is recorded with its reason,
the `delivery_accepted` check fails, and the warehouse is released with the source's last good
data; only a required source fails its step then. Runs outside the warehouse pool: it writes
Parquet, never DuckDB.
"""

# No `from __future__ import annotations` here: Dagster inspects the context annotation at runtime.
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Backoff,
    Failure,
    MaterializeResult,
    RetryPolicy,
    multi_asset,
)

from interop_pipeline.assets.extract.source_health import Refusal, report_source_health, source_health_check_specs
from interop_pipeline.config import ApiSource, DistrictConfig
from interop_pipeline.connectors.api_landing import API_RECORD_COLUMNS, EntityWalk, WalkResult, land_entity_walk
from interop_pipeline.connectors.api_sources import api_connector, source_client
from interop_pipeline.connectors.http import ApiError
from interop_pipeline.connectors.landing import (
    BATCHES_DIR,
    REFUSALS_DIR,
    REJECTS_DIR,
    ensure_placeholders,
    read_batch_records,
)
from interop_pipeline.transform.dbt import DATA_TEAM

API_RETRY_POLICY = RetryPolicy(max_retries=2, delay=30, backoff=Backoff.EXPONENTIAL)
CONCURRENT_WALKS = 4  # network-bound: a few walks at once, each its own connection and token


def build_api_source_assets(config: DistrictConfig, source_name: str, source: ApiSource) -> AssetsDefinition:
    walks = {walk.entity: walk for walk in api_connector(source.kind).entity_walks(source)}
    keys = {entity: AssetKey(["landing", source_name, entity]) for entity in walks}
    bookkeeping = {
        name.lstrip("_"): AssetKey(["landing", source_name, name.lstrip("_")])
        for name in (BATCHES_DIR, REJECTS_DIR, REFUSALS_DIR)
    }
    specs = [
        AssetSpec(
            key,
            group_name=source_name,
            kinds={"api", "parquet"},
            owners=[DATA_TEAM],
            description=(
                f"{source.system_name} {entity}, walked page by page from {walks[entity].endpoint} into "
                f"landing/{source_name}/{entity}/ ("
                + (
                    "incremental between periodic full walks)."
                    if walks[entity].supports_incremental
                    else "full walks)."
                )
            ),
            metadata={"endpoint": walks[entity].endpoint, "incremental": walks[entity].supports_incremental},
            skippable=True,
        )
        for entity, key in keys.items()
    ] + [
        AssetSpec(
            key,
            group_name=source_name,
            kinds={"parquet"},
            owners=[DATA_TEAM],
            description=f"The {name} records of every {source.system_name} walk (a batch counts once it has a record).",
            skippable=True,
        )
        for name, key in bookkeeping.items()
    ]

    @multi_asset(
        name=f"land_{source_name}_api",
        specs=specs,
        check_specs=source_health_check_specs(source_name, source, bookkeeping["batches"]),
        can_subset=True,
        retry_policy=API_RETRY_POLICY,
        description=f"Walk {source.system_name}'s API entities into the landing zone.",
    )
    def land_api(context: AssetExecutionContext) -> Iterator[MaterializeResult | AssetCheckResult]:
        selected = [entity for entity, key in keys.items() if key in context.selected_asset_keys]
        ensure_placeholders(config.landing_dir, source_name, {entity: API_RECORD_COLUMNS for entity in walks})
        results, failures = walk_all(config, source_name, source, [walks[e] for e in selected])
        for entity, result in sorted(results.items()):
            context.log.info(
                f"{source_name}/{entity}: {result.mode} walk, {result.records} records "
                f"({result.tombstones} deletions) in {result.pages} pages, {result.retries} retries"
            )
            yield MaterializeResult(
                asset_key=keys[entity], metadata={"dagster/row_count": result.records, **result.metadata()}
            )
        for name, key in bookkeeping.items():
            if key in context.selected_asset_keys and name != "refusals":
                yield MaterializeResult(
                    asset_key=key, metadata={"batches": ", ".join(r.batch_id for r in results.values()) or "none"}
                )
        last_try = context.retry_number >= API_RETRY_POLICY.max_retries
        if failures and not last_try:
            # Each message names system, endpoint and page; nothing of those walks landed.
            raise Failure(
                description=f"{len(failures)} of {len(selected)} {source.system_name} walks failed; "
                "their data and cursors are unchanged, the step is tried again:\n"
                + "\n".join(f"{entity}: {message}" for entity, message in sorted(failures.items()))
            )
        refused = [
            Refusal(subject=walks[entity].endpoint, reason=message, entity=entity)
            for entity, message in sorted(failures.items())
        ]
        checked = {check.asset_key for check in context.selected_asset_check_keys}
        yield from report_source_health(
            config,
            source_name,
            source,
            refused,
            batches_key=bookkeeping["batches"],
            refusals_key=bookkeeping["refusals"],
            selected=lambda key: key in context.selected_asset_keys or key in checked,
        )

    return land_api


def walk_all(
    config: DistrictConfig, source_name: str, source: ApiSource, walks: list[EntityWalk]
) -> tuple[dict[str, WalkResult], dict[str, str]]:
    """Walk and land `walks` concurrently, each with its own client (also used by the benchmark):
    each committed walk's result, and each failed walk's message (nothing of it landed)."""
    # Read once for every walk: each needs only its own entity's earlier batches, which no
    # concurrent walk of another entity changes.
    batch_records = read_batch_records(config.landing_dir, source_name)

    def walk_one(walk: EntityWalk) -> WalkResult:
        client = source_client(config, source_name, source)
        try:
            return land_entity_walk(
                client,
                walk,
                landing_root=config.landing_dir,
                source_system=source_name,
                district_code=config.district.code,
                full_refresh_days=source.full_refresh_days,
                batch_records=batch_records,
            )
        finally:
            client.close()

    results: dict[str, WalkResult] = {}
    failures: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=CONCURRENT_WALKS) as pool:
        futures = {walk.entity: pool.submit(walk_one, walk) for walk in walks}
        for entity, future in futures.items():
            try:
                results[entity] = future.result()
            except ApiError as error:
                failures[entity] = str(error)
            except Exception as error:  # a defect in one walk must not take the others down
                failures[entity] = f"{entity}: unexpected {type(error).__name__} during the walk (see the run log)"
    return results, failures
