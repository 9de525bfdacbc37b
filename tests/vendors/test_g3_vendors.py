"""Built-in declarations of group g3's vendor samples (mCLASS IDEL, ILEARN, KRA, mCLASS Lectura,
MVPA, PALS, PreACT, SC-Alt): every sample row lands or is rejected for a true reason, the
conformed results are counted, and a few carry the exact student, subject, score, level, date
and school year.

The samples are the Apache-2.0 files of Education Analytics' earthmover_edfi_bundles, copied
with their attribution into tests/fixtures/vendor_samples."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop_pipeline.connectors.tabular import (
    FORMATS_DIR,
    VendorFileError,
    load_declaration,
)
from tests.samples import VENDOR_SAMPLES
from tests.vendors.sample_landing import RESULT_COLUMNS, land_sample, landed_rows

SAMPLES = VENDOR_SAMPLES


# (folder, file, declaration, entity, rows landed, rows rejected, results conformed, distinct result ids)
CASES = [
    # The anonymised sample gives all students the primary id 000000; its district id (blank on two
    # rows) tells the two BOY and the two MOY benchmarks apart.
    ("IDEL", "sample_anonymized_file.csv", "idel.yaml", "benchmark_results", 5, 0, 5, 5),
    ("IN_ILEARN", "ilearn_sample_data.csv", "in_ilearn.yaml", "student_results", 5, 0, 5, 5),
    ("IN_ILEARN", "ilearn_checkpoint_sample_data.csv", "in_ilearn.yaml", "student_results", 2, 0, 2, 2),
    ("KRA", "KRA_sample_file_deidentified.csv", "kra.yaml", "readiness_results", 10, 0, 10, 10),
    ("KRA", "KRA_sample_file_deidentified_new.csv", "kra.yaml", "readiness_results", 13, 0, 13, 13),
    # Five students anonymised into one (same ids, names, year and period): the four rows after
    # the first repeat its key with other scores and are rejected as duplicates.
    ("Lectura", "sample_anonymized_file.csv", "mclass_lectura.yaml", "benchmark_results", 1, 4, 1, 1),
    ("MVPA", "sample_anonymized_file.csv", "mvpa.yaml", "test_results", 5, 0, 5, 5),
    # 30 students x 8 tasks.
    ("PALS", "PALS_SAMPLE_data_file.csv", "pals.yaml", "task_scores", 240, 0, 240, 240),
    # 4 (CSV) and 5 (fixed width) students x English, Mathematics, Reading, Science, Composite, STEM.
    ("PreACT", "Records_anonymized.csv", "preact.yaml", "student_records", 24, 0, 24, 24),
    ("PreACT", "Records_anonymized.txt", "preact_fixed.yaml", "student_records", 30, 0, 30, 30),
    # 10 students: ELA and math each (2016); 17 subjects tested of 40 (2024).
    ("SC_Alternate_Assessment", "sample_anonymized_file_2016.csv", "sc_alt.yaml", "student_results", 20, 0, 20, 20),
    ("SC_Alternate_Assessment", "sample_anonymized_file_2024.csv", "sc_alt.yaml", "student_results", 17, 0, 17, 17),
]


def _land(tmp_path: Path, folder: str, name: str, declaration: str):
    decl = load_declaration(FORMATS_DIR / declaration)
    return land_sample(SAMPLES / folder / name, [decl], tmp_path), tmp_path / decl.system


@pytest.mark.parametrize(("folder", "name", "declaration", "entity", "landed", "rejected", "results", "ids"), CASES)
def test_sample_lands_whole(tmp_path, folder, name, declaration, entity, landed, rejected, results, ids):
    result, root = _land(tmp_path, folder, name, declaration)
    assert result.entities[entity].rows_landed == landed
    assert result.entities[entity].rows_rejected == rejected
    assert result.entities[entity].nearest_columns == {}  # no declared column looks misspelt
    assert len(landed_rows(root, "_assessment_results", "result_id")) == results
    assert len(set(landed_rows(root, "_assessment_results", "result_id"))) == ids


def test_idel_benchmark_and_measures(tmp_path):
    _, root = _land(tmp_path, "IDEL", "sample_anonymized_file.csv", "idel.yaml")
    [(result_id, *result)] = landed_rows(
        root, "_assessment_results", f"result_id, {RESULT_COLUMNS}", "_source_ref = 'sample_anonymized_file.csv:6'"
    )
    assert result == ["000000", "mCLASS-IDEL", "Reading", "K", "2020-01-01", "2023", "Winter"] + [
        None,
        None,
        "Met Standard",  # Benchmark
        "true",
    ]
    fnl = landed_rows(
        root, "_assessment_scores", "objective, kind, result, is_proficient", f"result_id = '{result_id}'"
    )
    assert [row for row in fnl if row[0] == "FNL"] == [
        ("FNL", "performance_level", "Green", "true"),
        ("FNL", "score", "45", None),
    ]


def test_ilearn_summative_and_checkpoint(tmp_path):
    _, root = _land(tmp_path, "IN_ILEARN", "ilearn_sample_data.csv", "in_ilearn.yaml")
    # No test date and no school year anywhere in the export.
    grade_3_math = "assessment_identifier = 'ILEARN Mathematics Grade 3'"
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, grade_3_math) == [
        ("2000000", "ILEARN Mathematics Grade 3", "Mathematics", "3", None, None, "Spring", "6500", None,
         "Above Proficiency", "true"),
    ]  # fmt: skip
    assert ("Quantile Measure", "-90") in landed_rows(root, "_assessment_scores", "reporting_method, result")  # EM90Q
    assert ("Writing Opinion Organization/Purpose", "4") in landed_rows(root, "_assessment_scores", "objective, result")
    _, root = _land(tmp_path / "checkpoint", "IN_ILEARN", "ilearn_checkpoint_sample_data.csv", "in_ilearn.yaml")
    checkpoints = "student_id, assessment_identifier, season, scale_score, is_proficient"
    assert landed_rows(root, "_assessment_results", checkpoints) == [
        ("1000000", "ILEARN English/Language Arts Grade 6 Checkpoint 1", None, "5400", "false"),
        ("2000000", "ILEARN English/Language Arts Grade 3 Checkpoint 1", None, "5600", "true"),
    ]


def test_kra_both_layouts(tmp_path):
    result, root = _land(tmp_path, "KRA", "KRA_sample_file_deidentified.csv", "kra.yaml")
    assert result.entities["readiness_results"].layout == "legacy"
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '605001'") == [
        ("605001", "KRA", "Cross Subject", "K", "2022-08-15", "2023", "Fall", "288", None,
         "Demonstrating Readiness", "true"),
    ]  # fmt: skip
    result, root = _land(tmp_path / "new", "KRA", "KRA_sample_file_deidentified_new.csv", "kra.yaml")
    assert result.entities["readiness_results"].layout == "current"
    # The current layout carries no test date and no school year.
    assert landed_rows(root, "_assessment_results", f"{RESULT_COLUMNS}, standard_error", "student_id = '111111'") == [
        ("111111", "KRA", "Cross Subject", "K", None, None, "Fall", "253", None, "Emerging Readiness", "false", "3"),
    ]
    math = landed_rows(root, "_assessment_scores", "objective, reporting_method, result", "objective = 'Mathematics'")
    assert math[:2] == [("Mathematics", "Scale score", "249"), ("Mathematics", "Scale score", "262")]


def test_lectura_first_benchmark_stands_and_repeats_are_rejected(tmp_path):
    _, root = _land(tmp_path, "Lectura", "sample_anonymized_file.csv", "mclass_lectura.yaml")
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS) == [
        ("000000", "mCLASS-Lectura", "Reading", "K", "2020-01-01", "2024", "Fall", None, "35", "At Benchmark", "true"),
    ]
    assert landed_rows(root, "_assessment_scores", "result", "reporting_method = 'Composite Score'") == [("276",)]
    rejects = landed_rows(root, "_rejects", "_source_ref, rule")
    assert rejects == [(f"sample_anonymized_file.csv:{line}", "duplicate_row") for line in (3, 4, 5, 6)]


def test_mvpa_placeholder_date_is_no_date(tmp_path):
    result, root = _land(tmp_path, "MVPA", "sample_anonymized_file.csv", "mvpa.yaml")
    assert result.entities["test_results"].warnings == {"null_sentinel:test_date": 5}  # 1900-01-01
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '605003'") == [
        ("605003", "MVPA-8th Grade Math", "Mathematics", "8", None, "2025", "Fall", None, None, "1", "false"),
    ]


def test_pals_one_result_per_task(tmp_path):
    _, root = _land(tmp_path, "PALS", "PALS_SAMPLE_data_file.csv", "pals.yaml")
    where = "student_id = '605014' and assessment_identifier = 'PALS-ALPHA_UC'"
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, where) == [
        ("605014", "PALS-ALPHA_UC", "English Language Arts", "PK", "2022-08-15", "2023", "Fall",
         None, None, None, None),
    ]  # fmt: skip
    assert landed_rows(root, "_assessment_scores", "count(*), sum(cast(result as integer))") == [(240, 798)]


def test_preact_csv_and_fixed_width_twins_agree(tmp_path):
    csv_result, root = _land(tmp_path, "PreACT", "Records_anonymized.csv", "preact.yaml")
    txt_result, _ = _land(tmp_path, "PreACT", "Records_anonymized.txt", "preact_fixed.yaml")
    reading = landed_rows(
        root, "_assessment_results", RESULT_COLUMNS, "student_id = '605002' and academic_subject = 'Reading'"
    )
    # Once from each twin.
    assert (
        reading
        == [("605002", "PreACT-Reading", "Reading", "10", "2020-10-07", "2021", "Fall", "28", "88", None, None)] * 2
    )
    # Each test's result takes only its own reporting categories as objectives (R_Earn_*: 14, 3, 4).
    [(reading_id,)] = landed_rows(
        root,
        "_assessment_results",
        "result_id",
        f"student_id = '605002' and academic_subject = 'Reading' and _batch_id = '{csv_result.batch_id}'",
    )
    objectives = landed_rows(
        root, "_assessment_scores", "objective, result", f"result_id = '{reading_id}' and objective > ''"
    )
    assert objectives == [
        ("Craft and Structure", "3"),
        ("Integration of Knowledge and Ideas", "4"),
        ("Key Ideas and Details", "14"),
    ]
    # Every landed and conformed value of the CSV's four students comes out of the .txt alike (the
    # .txt has a fifth student); only the declaration name (and the result id hashed from it) differ.
    columns = {
        "student_records": "* exclude (_batch_id, _extracted_at, _source_ref)",
        "_assessment_results": "* exclude (result_id, declaration, _batch_id, _extracted_at, _source_ref)",
        "_assessment_scores": "* exclude (result_id, declaration, _batch_id, _extracted_at, _source_ref)",
    }
    for entity, select in columns.items():
        from_csv = landed_rows(root, entity, select, f"_batch_id = '{csv_result.batch_id}'")
        from_txt = landed_rows(root, entity, select, f"_batch_id = '{txt_result.batch_id}'")
        assert from_csv and set(from_csv) <= set(from_txt), entity
    # The two declarations share their body word for word.
    body = "# ---- Shared with the PreACT twin"
    csv_text = (FORMATS_DIR / "preact.yaml").read_text(encoding="utf-8")
    txt_text = (FORMATS_DIR / "preact_fixed.yaml").read_text(encoding="utf-8")
    assert body in csv_text
    assert csv_text[csv_text.index(body) :] == txt_text[txt_text.index(body) :]


def test_sc_alt_both_layouts(tmp_path):
    result, root = _land(tmp_path, "SC_Alternate_Assessment", "sample_anonymized_file_2024.csv", "sc_alt.yaml")
    assert result.entities["student_results"].layout == "since_2017"
    assert landed_rows(root, "_assessment_results", f"{RESULT_COLUMNS}, standard_error", "student_id = '605006'") == [
        ("605006", "SC-Alt-ELA", "English Language Arts", "07", None, "2024", "Spring", "605", None, "4", "true", "24"),
        ("605006", "SC-Alt-Math", "Mathematics", "07", None, "2024", "Spring", "587", None, "3", "true", "34"),
    ]
    result, root = _land(tmp_path / "2016", "SC_Alternate_Assessment", "sample_anonymized_file_2016.csv", "sc_alt.yaml")
    assert result.entities["student_results"].layout == "until_2016"
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '605004'") == [
        ("605004", "SC-Alt-ELA", "English Language Arts", None, None, "2016", "Spring", "1248", None, "3", "true"),
        ("605004", "SC-Alt-Math", "Mathematics", None, None, "2016", "Spring", "1238", None, "2", "false"),
    ]


def test_sc_alt_column_layout_side_files_are_not_results(tmp_path):
    # columns_by_year.csv/.jsonl describe the layout by year; no declaration reads them.
    for name in ("columns_by_year.csv", "columns_by_year.jsonl"):
        with pytest.raises(VendorFileError, match="no declaration matches"):
            _land(tmp_path, "SC_Alternate_Assessment", name, "sc_alt.yaml")
