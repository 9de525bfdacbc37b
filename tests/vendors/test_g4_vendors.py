"""Built-in declarations of group g4's vendor samples (SC PTA, SC READY, STAAR Interim, STAMP,
TX-KEA, WIN, WI Forward, myIGDIs): every sample row lands, none is rejected, and a few
conformed results carry the exact student, subject, score, level, date and school year.

The samples are the Apache-2.0 files in tests/fixtures/vendor_samples (Education
Analytics' earthmover_edfi_bundles)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from interop_pipeline.connectors.tabular import FORMATS_DIR, load_declaration
from tests.samples import VENDOR_SAMPLES
from tests.vendors.sample_landing import RESULT_COLUMNS, land_sample, landed_rows

SAMPLES = VENDOR_SAMPLES

# vendor folder -> (declaration file, sample file, landed rows, conformed results)
CASES = {
    "SC_Performance_Task_Assessment": ("sc_performance_task_assessment.yaml", "sample_anonymized_file.csv", 31, 31),
    "SC_READY": ("sc_ready.yaml", "sample_anonymized_file.csv", 10, 10),
    "STAAR_Interim": ("staar_interim.yaml", "sample_anonymized_file.csv", 5, 5),
    "STAMP": ("stamp.yaml", "anonymized_sample_file.csv", 13, 13),
    "TX_KEA": ("tx_kea.yaml", "sample_anonymized_file.csv", 13, 13),
    "WIN": ("win.yaml", "sample_anonymized_file.csv", 10, 10),
    "WI_Forward": ("wi_forward.yaml", "sample_anonymized_file.csv", 19, 19),
    "myIGDIs": ("myigdis.yaml", "sample_anonymized_file.csv", 128, 128),
}


def _land(vendor: str, tmp_path: Path):
    declaration_file, sample, _, _ = CASES[vendor]
    path = SAMPLES / vendor / sample
    declaration = load_declaration(FORMATS_DIR / declaration_file)
    return declaration, land_sample(path, [declaration], tmp_path)


def _rows(tmp_path: Path, system: str, entity: str, sql: str) -> list[tuple]:
    files = sorted(str(p) for p in (tmp_path / system / entity).rglob("*.parquet"))
    if not files:
        return []
    return duckdb.connect().execute(sql.format(t=f"read_parquet({files})")).fetchall()


def _results(tmp_path: Path, system: str, where: str) -> list[tuple]:
    return landed_rows(tmp_path / system, "_assessment_results", RESULT_COLUMNS, where)


@pytest.mark.parametrize("vendor", sorted(CASES))
def test_every_sample_row_lands_and_conforms(vendor: str, tmp_path: Path) -> None:
    declaration, result = _land(vendor, tmp_path)
    _, _, landed, results = CASES[vendor]
    (entity,) = result.entities.values()
    assert entity.rows_rejected == 0
    assert entity.rows_landed == landed
    assert entity.missing_columns == []
    count = _rows(tmp_path, declaration.system, "_assessment_results", "select count(*) from {t}")
    assert count == [(results,)]
    assert _rows(tmp_path, declaration.system, "_rejects", "select count(*) from {t}") in ([], [(0,)])


def test_win_one_result_per_test_taken(tmp_path: Path) -> None:
    _land("WIN", tmp_path)
    assert _results(tmp_path, "win", "student_id = '605104'") == [
        ("605104", "WIN-Data", "Career and Technical Education", None, "2024-02-03", "2024", "Spring",
         "193", None, "1", None),
        ("605104", "WIN-Math", "Mathematics", None, "2024-02-03", "2024", "Spring", "201", None, "2", None),
        ("605104", "WIN-Read", "Reading", None, "2024-02-03", "2024", "Spring", "190", None, "1", None),
        ("605104", "WIN-Soft", "Career and Technical Education", None, "2024-02-03", "2024", "Spring",
         "202", None, "Fail", "false"),
    ]  # fmt: skip


def test_sc_ready_subjects_and_reporting_categories(tmp_path: Path) -> None:
    _land("SC_READY", tmp_path)
    assert _results(tmp_path, "sc_ready", "student_id = '605004'") == [
        ("605004", "SC-READY-ELA", "English Language Arts", "5", None, "2024", "Spring", "649", "51", "3", "true"),
        ("605004", "SC-READY-Math", "Mathematics", "8", None, "2024", "Spring", "526", "40", "1", "false"),
    ]
    # Math reports five reporting categories, ELA eleven plus its reading sub-score: each
    # objective belongs to its own subject's result.
    objectives = _rows(
        tmp_path,
        "sc_ready",
        "_assessment_scores",
        "select r.assessment_identifier, count(distinct s.objective) from {t} s "
        "join read_parquet('" + str(tmp_path / "sc_ready" / "_assessment_results") + "/**/*.parquet') r "
        "using (result_id) where s.objective is not null and r.student_id = '605004' group by all order by all",
    )
    assert objectives == [("SC-READY-ELA", 12), ("SC-READY-Math", 5)]


def test_wi_forward_levels_map_to_edfi(tmp_path: Path) -> None:
    _land("WI_Forward", tmp_path)
    assert _results(tmp_path, "wi_forward", "student_id = '0000000003' and academic_subject = 'Mathematics'") == [
        ("0000000003", "WI-Forward-MTH", "Mathematics", "05", "2025-04-15", "2025", "Spring", "1592", "44",
         "Basic", "false"),
    ]  # fmt: skip
    subjects = _rows(
        tmp_path, "wi_forward", "_assessment_results", "select count(*) from {t} where student_id = '0000000002'"
    )
    assert subjects == [(6,)]  # ELA, Reading, Writing/Language, Mathematics, Science, Social Studies


def test_tx_kea_one_result_per_measure(tmp_path: Path) -> None:
    _land("TX_KEA", tmp_path)
    assert _results(tmp_path, "tx_kea", "student_id = '605002'") == [
        ("605002", "TX-KEA-KEA_Literacy_Screening", "Reading", "EE", "2023-09-01", "2024", "Beginning of Year",
         None, None, "Support", "false"),
        ("605002", "TX-KEA-TEA_KG_Readiness", "English Language Arts", "EE", "2023-09-01", "2024",
         "Beginning of Year", None, None, "Support", "false"),
        ("605002", "TX-KEA-TXKEA_Language_Composite", "English Language Arts", "EE", "2023-08-24", "2024",
         "Beginning of Year", None, None, "Support", "false"),
        ("605002", "TX-KEA-TXKEA_Literacy-Reading_Composite", "Reading", "EE", "2023-08-24", "2024",
         "Beginning of Year", None, None, "Support", "false"),
    ]  # fmt: skip
    scores = _rows(
        tmp_path, "tx_kea", "_assessment_scores", "select result from {t} where kind = 'score' order by result"
    )
    assert ("73",) in scores and ("64",) in scores  # the two composites of 605002


def test_staar_interim_subject_from_test_code(tmp_path: Path) -> None:
    _land("STAAR_Interim", tmp_path)
    assert _results(tmp_path, "staar_interim", "student_id = '4444444444'") == [
        ("4444444444", "STAAR-Interim-I5C", "Science", "05", "2022-12-01", "2023", "Winter", "4148", None, None, None),
    ]


def test_stamp_composite_and_skills(tmp_path: Path) -> None:
    _land("STAMP", tmp_path)
    assert _results(tmp_path, "stamp", "student_id = '605001'") == [
        ("605001", "STAMP-Spanish", "Foreign Language and Literature", "11", "2022-12-01", "2023", "Winter",
         None, None, None, None),
    ]  # fmt: skip
    levels = _rows(
        tmp_path, "stamp", "_assessment_scores",
        "select objective, result from {t} where kind = 'performance_level' and result_id = "
        "(select result_id from read_parquet('" + str(tmp_path / "stamp" / "_assessment_results")
        + "/**/*.parquet') where student_id = '605001') order by objective",
    )  # fmt: skip
    assert levels == [("Listening", "7"), ("Reading", "6"), ("Speaking", "5"), ("Writing", "5")]


def test_sc_pta_qualification(tmp_path: Path) -> None:
    _land("SC_Performance_Task_Assessment", tmp_path)
    both = _results(tmp_path, "sc_performance_task_assessment", "performance_level = 'BOTH'")
    assert both == [("604824", "SC-PTA", "Cross Subject", "3", None, "2025", "Spring", None, None, "BOTH", "true")]


def test_myigdis_tiers(tmp_path: Path) -> None:
    _land("myIGDIs", tmp_path)
    rows = _results(tmp_path, "myigdis", "student_id = '605015' and assessment_identifier like '%Number Naming'")
    assert rows == [
        ("605015", "myIGDIs-Early Numeracy-Number Naming", "Mathematics", "Preschool/Prekindergarten", "2022-10-06",
         "2023", "Fall", None, None, "Tier I", "true"),
    ]  # fmt: skip
