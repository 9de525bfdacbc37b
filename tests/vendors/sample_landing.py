"""Landing a real vendor sample with its built-in declarations and conformance, and reading what
it landed: shared by the per-vendor sample tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import duckdb

from interop_pipeline.connectors.conformance import ConformingSinks
from interop_pipeline.connectors.tabular import FileDeclaration, VendorFileResult, land_vendor_file

# The conformed result columns the tests compare exactly.
RESULT_COLUMNS = (
    "student_id, assessment_identifier, academic_subject, grade_assessed, administration_date, "
    "school_year, season, scale_score, percentile, performance_level, is_proficient"
)


def land_sample(sample: Path, declarations: Sequence[FileDeclaration], landing: Path) -> VendorFileResult:
    """Land `sample` into `landing` as the file-drop assets do, conformed results included."""
    return land_vendor_file(
        sample,
        list(declarations),
        landing,
        district_code="d1",
        max_uncompressed_bytes=2**30,
        row_sinks=ConformingSinks(),
    )


def landed_rows(root: Path, entity: str, columns: str, where: str = "true") -> list[tuple]:
    """`columns` of every row landed under `root/entity` (all batches), sorted."""
    files = sorted(str(p) for p in (root / entity).rglob("*.parquet"))
    if not files:
        return []
    query = f"select {columns} from read_parquet({files}, union_by_name=true) where {where} order by all"
    return duckdb.connect().execute(query).fetchall()
