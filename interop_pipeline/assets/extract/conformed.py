"""The conformed landing tables every declared vendor file feeds (connectors/conformance.py),
as one Dagster asset per dbt table of the `declared` source.

They are written by the file-drop landing steps themselves, in the same batch as each file's
rows; this asset only marks the point after every landing step of a run, so the warehouse build
that reads them across systems waits for all of them, and it reports what they hold per system
(counts from Parquet footers, no values, no DuckDB connection).
"""

from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from interop_pipeline.config import DistrictConfig
from interop_pipeline.connectors.conformance import CONFORMED_ENTITIES, CONFORMED_SOURCE
from interop_pipeline.connectors.landing import BATCHES_DIR, REFUSALS_DIR, REJECTS_DIR
from interop_pipeline.transform.dbt import DATA_TEAM

# dbt table of the `declared` source → landing folder under each system.
TABLES = {
    "assessment_results": CONFORMED_ENTITIES[0],
    "assessment_scores": CONFORMED_ENTITIES[1],
    "student_records": CONFORMED_ENTITIES[2],
    "system_batches": BATCHES_DIR,
    "system_rejects": REJECTS_DIR,
    "system_refusals": REFUSALS_DIR,
}


def landed_rows_by_system(landing_dir: Path, folder: str) -> dict[str, int]:
    """Rows in every system's `folder`, from the Parquet footers."""
    counts: dict[str, int] = {}
    for path in sorted(landing_dir.glob(f"*/{folder}/*.parquet")):
        system = path.parent.parent.name
        counts[system] = counts.get(system, 0) + pq.ParquetFile(path).metadata.num_rows
    return {system: n for system, n in counts.items() if n}


def build_conformed_assets(config: DistrictConfig, landing_keys: list[AssetKey]):
    @multi_asset(
        name="conformed_landing",
        specs=[
            AssetSpec(
                AssetKey(["landing", CONFORMED_SOURCE, table]),
                deps=landing_keys,
                description=(
                    f"Every system's {folder} landing folder, read across systems by the warehouse: "
                    "declared files' conformed rows, or the systems' batch bookkeeping."
                ),
                group_name=CONFORMED_SOURCE,
                kinds={"python", "parquet"},
                owners=[DATA_TEAM],
                skippable=True,
            )
            for table, folder in TABLES.items()
        ],
        can_subset=True,
    )
    def conformed_landing(context: AssetExecutionContext) -> Iterator[MaterializeResult]:
        for key in context.selected_asset_keys:
            table = key.path[-1]
            counts = landed_rows_by_system(config.landing_dir, TABLES[table])
            yield MaterializeResult(
                asset_key=key,
                metadata={
                    "rows": MetadataValue.int(sum(counts.values())),
                    "rows_by_system": MetadataValue.json(counts),
                },
            )

    return conformed_landing
