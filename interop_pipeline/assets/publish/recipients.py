"""One Dagster asset per recipient: build its extract from the released warehouse, check it,
and deliver it only if every check passed.

The logic is plain Python in interop_pipeline/publish/; the asset stages the extract under
temporary names, reports each check, and either renames the files into place or removes them
and fails the step. It reads the published copy (read-only), exactly what analysts see: a
release only ever replaces that file by an atomic rename and nothing writes it in place, so the
recipients' steps need no slot in the single-writer pool and run side by side. When none of the
tables a file extract reads was rebuilt since its last delivery (publish/table_versions.py), the
step ends without building it, and nothing is materialized.
"""

from collections.abc import Iterator

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSpec,
    Failure,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)

from interop_pipeline.config import DistrictConfig, RecipientSettings
from interop_pipeline.publish.deliver import StagedExtract, stage_extract
from interop_pipeline.publish.table_versions import (
    TABLES_READ,
    extract_inputs,
    forget_extract_digest,
    record_extract_digest,
    unchanged_since_last_delivery,
)
from interop_pipeline.transform.dbt import DATA_TEAM

# Checks per format, run on the staged extract before anything is delivered.
CHECKS: dict[str, tuple[tuple[str, str], ...]] = {
    "oneroster_1.2": (
        ("oneroster_valid", "passes the OneRoster validator"),
        ("within_agreement", "holds only what the agreement allows"),
    ),
    "oneroster_1.1": (
        ("oneroster_valid", "passes the OneRoster validator"),
        ("within_agreement", "holds only what the agreement allows"),
    ),
    "edfi_json": (("edfi_documents_complete", "every document carries its required fields"),),
    "edfi_api": (
        ("edfi_documents_complete", "every document carries its required fields"),
        ("no_failed_records", "the ODS/API accepted every record"),
    ),
    "research": (
        ("no_direct_identifiers", "no direct identifiers"),
        ("small_cells_suppressed", "small cells suppressed"),
        ("k_anonymous", "every quasi-identifier group in the person file holds at least k students"),
    ),
}
KINDS = {
    "oneroster_1.2": "oneroster",
    "oneroster_1.1": "oneroster",
    "edfi_json": "edfi",
    "edfi_api": "edfi",
    "research": "csv",
}


def _check_results(key: AssetKey, staged: StagedExtract) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(
            asset_key=key,
            check_name=c.name,
            passed=c.passed,
            severity=AssetCheckSeverity.ERROR,
            description=c.description,
            metadata={
                "detail": MetadataValue.text(c.detail or "ok"),
                **{k: v for k, v in c.metadata.items() if isinstance(v, int | float | str)},
            },
        )
        for c in staged.checks
    ]


def build_recipient_asset(
    config: DistrictConfig, name: str, recipient: RecipientSettings, upstream: list[AssetKey]
) -> AssetsDefinition:
    key = AssetKey(["publish", name])

    # A multi_asset of one, so that it may end without materializing (can_subset makes its
    # checks' outputs optional too): when none of the tables it reads was rebuilt.
    @multi_asset(
        name=key.to_python_identifier(),
        specs=[
            AssetSpec(
                key,
                deps=upstream,
                skippable=True,
                group_name="publish",
                kinds={KINDS[recipient.format], "duckdb"},
                owners=[DATA_TEAM],
                description=(
                    f"{recipient.description or name}: {recipient.format} extract ({recipient.mode}) under its "
                    "data-sharing agreement, delivered only when every check passes."
                ),
                metadata={
                    "format": recipient.format,
                    "delivery_folder": MetadataValue.path(str(config.delivery_folder(recipient))),
                },
            )
        ],
        check_specs=[
            AssetCheckSpec(check, asset=key, description=text, blocking=True)
            for check, text in CHECKS[recipient.format]
        ],
        can_subset=True,
    )
    def publish_extract(context: AssetExecutionContext) -> Iterator[AssetCheckResult | MaterializeResult]:
        if key not in context.selected_asset_keys:
            raise Failure(description=f"The checks of {key.to_user_string()} run as its extract is built: select it.")
        inputs = extract_inputs(config, name)
        if unchanged_since_last_delivery(config, name, inputs):
            context.log.info(
                f"{name}: none of the {len(TABLES_READ[recipient.format])} tables its extract reads was rebuilt "
                "since its last delivery, under the same agreement: not built again (its last delivery stands)."
            )
            return
        forget_extract_digest(config, name)
        staged = stage_extract(config, name, warehouse=config.published_warehouse_path)
        if not staged.ok:
            staged.discard()  # nothing reaches the delivery folder
            # Each check's result is recorded before the step fails, so the UI shows which check
            # refused the delivery and why (file, row and rule).
            yield from _check_results(key, staged)
            raise Failure(description=staged.refusal())
        staged.commit()
        if staged.ok:  # an API load adds checks as it sends (and records no digest: it is always built)
            record_extract_digest(config, name, inputs)
        yield MaterializeResult(
            metadata={
                "mode": staged.mode,
                "destination": staged.destination,
                "rows": MetadataValue.json({e.file_name: e.row_count for e in staged.entries}),
                **{k: v for k, v in staged.metadata.items() if isinstance(v, int | str)},
            },
            check_results=_check_results(key, staged),
        )

    return publish_extract


def build_publish_assets(config: DistrictConfig, upstream: list[AssetKey]) -> list[AssetsDefinition]:
    return [build_recipient_asset(config, name, r, upstream) for name, r in config.enabled_recipients().items()]
