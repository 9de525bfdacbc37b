"""The district report: a static HTML page written beside the published warehouse after each
release (interop_pipeline/publish/report.py builds it).

Like the recipients' extracts it reads the published copy read-only, so it takes no slot in the
single-writer pool.
"""

import time

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from interop_pipeline.config import DistrictConfig
from interop_pipeline.publish.report import report_path, write_report
from interop_pipeline.transform.dbt import DATA_TEAM

REPORT_KEY = AssetKey("district_report")


def build_report_asset(config: DistrictConfig, upstream: list[AssetKey]) -> AssetsDefinition:
    @asset(
        key=REPORT_KEY,
        deps=upstream,
        group_name="publish",
        kinds={"html", "duckdb"},
        owners=[DATA_TEAM],
        description=(
            "District report beside the published warehouse: chronic absenteeism by school and subgroup, "
            "proficiency by school and grade, each source's rows, rejects and freshness, identity match "
            "rates. Aggregates only, suppressed cells shown as suppressed; one HTML file that needs no server."
        ),
        metadata={"path": MetadataValue.path(str(report_path(config.published_warehouse_path)))},
    )
    def district_report(context: AssetExecutionContext) -> MaterializeResult:
        started = time.perf_counter()
        report = write_report(config.published_warehouse_path)
        if report.sections_without_data:
            context.log.info(f"District report: no data for {', '.join(report.sections_without_data)}")
        return MaterializeResult(
            metadata={
                "path": MetadataValue.path(str(report.path)),
                "charts": report.charts,
                "sections_without_data": MetadataValue.text(", ".join(report.sections_without_data) or "none"),
                "size_kb": round(report.size_bytes / 1024, 1),
                "duration_s": round(time.perf_counter() - started, 3),
            }
        )

    return district_report
