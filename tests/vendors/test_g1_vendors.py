"""Built-in declarations of ACCUPLACER, ASVAB, BASC-3 BESS, DRC BEACON, CIRCLE, CMAS, Cambridge
International and DIBELS Next on the real anonymized vendor samples in
tests/fixtures/vendor_samples/ (Apache-2.0, published by Education Analytics; see the
README there): rows landed or rejected for a true reason, and exact values of a few conformed
results."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop_pipeline.connectors.tabular import builtin_declarations
from tests.samples import VENDOR_SAMPLES
from tests.vendors.sample_landing import RESULT_COLUMNS, land_sample, landed_rows

SAMPLES = VENDOR_SAMPLES


def _land(tmp_path: Path, folder: str, name: str, system: str):
    declarations = [d for d in builtin_declarations().values() if d.system == system]
    return land_sample(SAMPLES / folder / name, declarations, tmp_path), tmp_path / system


# (folder, file, system, entity, rows landed, rows rejected, results conformed)
CASES = [
    # 5 rows, 7 test scores (one row per session; blank cells are tests not taken).
    ("ACCUPLACER", "sample_anonymized_file.csv", "accuplacer", "scores", 7, 0, 7),
    ("ASVAB", "sample_anonymized_file.csv", "asvab", "results", 5, 0, 5),
    ("BASC3_BESS", "sample_anonymized_file.csv", "basc3_bess", "screening_results", 5, 0, 5),
    ("Beacon", "sample_anonymized_file.csv", "beacon", "student_results", 14, 0, 14),
    # The 2025-26 row whose Test is "Ready" names no BEACON test (neither MAT... nor ELA_/READ):
    # its subject and assessment cannot be told, so it is rejected (derive).
    ("Beacon", "sample_anonymized_file_25_26.csv", "beacon", "student_results", 10, 1, 10),
    # 8 student-wave rows, 48 measures taken (score, date or cut-point level given).
    ("CIRCLE", "sample_anonymized_file.csv", "circle", "progress_monitoring", 48, 0, 48),
    # One of the 5 is a parent-excused (not tested) row: it lands as a result without scores.
    ("CMAS", "sample_anonymized_file.csv", "cmas", "student_results", 5, 0, 5),
    ("Cambridge", "sample_anonymized_file.csv", "cambridge", "results", 5, 0, 5),
    ("Dibels_Next_Benchmark", "sample_anonymized_file.csv", "dibels", "next_benchmark", 5, 0, 5),
]


@pytest.mark.parametrize(("folder", "name", "system", "entity", "landed", "rejected", "results"), CASES)
def test_sample_lands_whole(tmp_path, folder, name, system, entity, landed, rejected, results):
    result, root = _land(tmp_path, folder, name, system)
    assert result.entities[entity].rows_landed == landed
    assert result.entities[entity].rows_rejected == rejected
    assert len(landed_rows(root, "_assessment_results", "result_id")) == results
    assert len({r for (r,) in landed_rows(root, "_assessment_results", "result_id")}) == results  # one id per result


def test_beacon_24_25_twin_is_the_same_bytes(tmp_path):
    # sample_anonymized_file.csv and _24_25.csv are byte-identical: the second lands nothing.
    _land(tmp_path, "Beacon", "sample_anonymized_file.csv", "beacon")
    again, _ = _land(tmp_path, "Beacon", "sample_anonymized_file_24_25.csv", "beacon")
    assert again.already_landed


def test_accuplacer_results(tmp_path):
    _, root = _land(tmp_path, "ACCUPLACER", "sample_anonymized_file.csv", "accuplacer")
    rows = landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '400'")
    assert rows == [
        ("400", "ACCUPLACER-NG-AAF", "Mathematics", None, "2024-05-01", "2024", "Spring", "216", None, None, None),
        ("400", "ACCUPLACER-NG-QAS", "Mathematics", None, "2024-05-01", "2024", "Spring", "250", None, None, None),
        ("400", "ACCUPLACER-NG-Writing", "Writing", None, "2024-05-01", "2024", "Spring", "221", None, None, None),
    ]


def test_asvab_afqt_and_subtests(tmp_path):
    _, root = _land(tmp_path, "ASVAB", "sample_anonymized_file.csv", "asvab")
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '605001'") == [
        ("605001", "ASVAB", "Composite", "10", "2023-11-22", "2024", "Fall", None, "90", None, None)
    ]
    assert landed_rows(
        root, "_assessment_scores", "objective, result", "objective in ('AR', 'WK') and result = '70'"
    ) == [("AR", "70")]


def test_basc3_bess_form_and_risk(tmp_path):
    _, root = _land(tmp_path, "BASC3_BESS", "sample_anonymized_file.csv", "basc3_bess")
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '100'") == [
        ("100", "BASC3-BESS-parent", "Other", "2", "2022-10-20", "2023", "Fall", None, "90", "Elevated", None)
    ]
    scores = landed_rows(root, "_assessment_scores", "objective, kind, result", "objective = 'Externalizing'")
    assert ("Externalizing", "performance_level", "Elevated Risk") in scores


def test_beacon_levels_and_named_strands(tmp_path):
    _, root = _land(tmp_path, "Beacon", "sample_anonymized_file.csv", "beacon")
    rows = landed_rows(
        root, "_assessment_results", RESULT_COLUMNS, "student_id = '605100' and administration_date = '2025-01-29'"
    )
    assert rows == [
        ("605100", "BEACON-Math", "Mathematics", "07", "2025-01-29", "2025", "Winter", "452", None, "Prepared", "true")
    ]
    # The 2024-09-25 ELA testlets fill one strand each: CSE is S10 (Conventions), RES is S11
    # (Research) in the 2024-25 grade 3-8 layout; level codes land as their names.
    dated = {r for (r,) in landed_rows(root, "_assessment_results", "result_id", "administration_date = '2024-09-25'")}
    strands = [
        (objective, method, value)
        for result_id, objective, method, value in landed_rows(
            root, "_assessment_scores", "result_id, objective, reporting_method, result"
        )
        if result_id in dated
    ]
    assert ("Conventions", "Achievement/proficiency level", "Support Needed") in strands
    assert ("Research", "Scale score", "414") in strands


def test_circle_measures(tmp_path):
    _, root = _land(tmp_path, "CIRCLE", "sample_anonymized_file.csv", "circle")
    rows = landed_rows(
        root,
        "_assessment_results",
        RESULT_COLUMNS,
        "student_id = 'ESU100000000' and assessment_identifier = 'CIRCLE-RLN_v1'",
    )
    assert rows == [
        (
            "ESU100000000",
            "CIRCLE-RLN_v1",
            "Reading",
            "PK",
            "2023-09-12",
            "2024",
            "Beginning of Year",
            None,
            None,
            "On Track",
            "true",
        )
    ]
    scores = landed_rows(root, "_assessment_scores", "reporting_method, result", "kind = 'score'")
    assert ("Raw score", "37") in scores


def test_cmas_results(tmp_path):
    _, root = _land(tmp_path, "CMAS", "sample_anonymized_file.csv", "cmas")
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id in ('12345', '12348')") == [
        ("12345", "CMAS-MAT03", "Mathematics", "3", "2023-04-20", "2023", "Spring", "709", "23", "2", "false"),
        ("12348", "CMAS-ELA04", "English Language Arts", "4", None, "2023", "Spring", None, None, None, None),
    ]


def test_cambridge_grades(tmp_path):
    _, root = _land(tmp_path, "Cambridge", "sample_anonymized_file.csv", "cambridge")
    assert landed_rows(
        root,
        "_assessment_results",
        "student_id, assessment_identifier, academic_subject, school_year, performance_level, is_proficient",
    ) == [
        ("605000", "Cambridge-8021", "English", None, "e", "true"),
        ("605001", "Cambridge-ADIP", "Composite", None, "M", "true"),
        ("605002", "Cambridge-8021", "English", None, "a", "true"),
        ("605003", "Cambridge-8021", "English", None, "X", "false"),
        ("605004", "Cambridge-8021", "English", None, "U", "false"),
    ]


def test_dibels_next_composite_and_measures(tmp_path):
    _, root = _land(tmp_path, "Dibels_Next_Benchmark", "sample_anonymized_file.csv", "dibels")
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '605003'") == [
        (
            "605003",
            "DIBELS-Next-Benchmark",
            "Reading",
            "K",
            "2022-10-05",
            "2023",
            "Beginning of Year",
            None,
            None,
            "Above Benchmark",
            "true",
        )
    ]
    # "Not Determined" (no benchmark goal) is no level at all.
    levels = landed_rows(
        root, "_assessment_scores", "distinct objective", "objective = 'LNF' and kind = 'performance_level'"
    )
    assert levels == []
