"""The SIS simulator's OneRoster bundle is valid OneRoster 1.2: the connector lands all of it."""

import pyarrow.parquet as pq

from interop_pipeline.connectors.oneroster_csv import land_oneroster_bundle
from interop_pipeline.simulators.generate import write_district


def test_generated_bundle_lands_completely_with_no_rejects(tmp_path, district_config):
    generated = write_district(district_config, students=400, seed=8, out_dir=tmp_path)
    truth = generated.truth
    result = land_oneroster_bundle(
        generated.drops["oneroster_csv"],
        tmp_path / "landing",
        source_system="oneroster_csv",
        district_code=district_config.district.code,
        max_uncompressed_bytes=2**30,
    )
    assert result.rows_rejected == {k: 0 for k in result.rows_rejected}
    assert result.rows_landed["users"] == truth.students.num_rows + truth.staff.num_rows
    assert result.rows_landed["demographics"] == truth.students.num_rows
    assert result.rows_landed["roles"] == truth.school_enrollments.num_rows + truth.staff.num_rows
    assert result.rows_landed["enrollments"] == truth.section_enrollments.num_rows + truth.sections.num_rows
    assert result.rows_landed["classes"] == truth.sections.num_rows
    assert result.rows_landed["orgs"] == truth.schools.num_rows + 1  # and the district
    demographics = pq.read_table(next((tmp_path / "landing" / "oneroster_csv" / "demographics").glob("*.parquet")))
    assert "metadata.idea" in demographics.column_names
    assert sum(v == "true" for v in demographics["metadata.idea"].to_pylist()) == sum(
        truth.students["idea"].to_pylist()
    )
