"""Built-in declarations of EOCEP, FastBridge (CAT, AUTOreading, CBMmath, CBMreading,
comprehension, COMPefficiency, earlyReading English) and Teaching Strategies GOLD, on the real
anonymized vendor samples in tests/fixtures/vendor_samples/ (Apache-2.0, published by
Education Analytics; see the README there): rows landed or rejected for a true reason, and
exact values of a few conformed results."""

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


# (folder, file, system, declaration, rows landed, rows rejected, results conformed)
CASES = [
    ("EOCEP", "sample_anonymized_file_EOCEP.csv", "eocep", "eocep", 5, 0, 5),
    # fake_aMath.csv: every row writes its Quantile as a bare decimal ("270.86129945709"),
    # which is no Quantile measure: rejected (type) for that reason.
    ("FastBridgeCAT", "fake_aMath.csv", "fastbridge", "fastbridge_cat", 0, 5, 0),
    # 10 students, 7 tested in the Fall: the 3 untested land nothing (unpivot_empty_row).
    ("FastBridgeCAT", "sample_anonymized_aMath.csv", "fastbridge", "fastbridge_cat", 7, 0, 7),
    ("FastBridgeCAT", "sample_anonymized_aReading.csv", "fastbridge", "fastbridge_cat", 3, 0, 3),
    # 5 composites and 26 subtests, Fall only.
    (
        "FastBridge_AUTOreading",
        "sample_anonymized_file_fastbridge_autoreading.csv",
        "fastbridge",
        "fastbridge_autoreading",
        31,
        0,
        31,
    ),
    ("FastBridge_CBMmath", "sample_anonymized_file_cbmm_auto.csv", "fastbridge", "fastbridge_cbmmath", 15, 0, 15),
    ("FastBridge_CBMmath", "sample_anonymized_file_cbmm_cap.csv", "fastbridge", "fastbridge_cbmmath", 6, 0, 6),
    ("FastBridge_CBMmath", "sample_anonymized_file_cbmm_process.csv", "fastbridge", "fastbridge_cbmmath", 8, 0, 8),
    (
        "FastBridge_CBMreading",
        "sample_anonymized_file_fastbridge_cbmreading.csv",
        "fastbridge",
        "fastbridge_cbmreading",
        15,
        0,
        15,
    ),
    (
        "FastBridge_CBMreading",
        "sample_anonymized_file_fastbridge_comprehension_question.csv",
        "fastbridge",
        "fastbridge_comprehension",
        10,
        0,
        10,
    ),
    (
        "FastBridge_CBMreading",
        "sample_anonymized_file_fastbridge_comprehension_recall.csv",
        "fastbridge",
        "fastbridge_comprehension",
        9,
        0,
        9,
    ),
    (
        "FastBridge_COMPefficiency",
        "sample_anonymized_file_fastbridge_compefficiency.csv",
        "fastbridge",
        "fastbridge_compefficiency",
        5,
        0,
        5,
    ),
    ("FastBridge_English", "sample_anonymized_file.csv", "fastbridge", "fastbridge_early_reading", 167, 0, 167),
    ("GOLD", "sample_anonymized_file.csv", "gold", "gold", 28, 0, 28),
]


@pytest.mark.parametrize(
    ("folder", "name", "system", "declaration", "landed", "rejected", "results"),
    CASES,
    ids=[f"{c[0]}/{c[1]}" for c in CASES],
)
def test_sample_lands(tmp_path, folder, name, system, declaration, landed, rejected, results):
    result, root = _land(tmp_path, folder, name, system)
    (entity,) = result.entities.values()
    assert entity.declaration == declaration
    assert (entity.rows_landed, entity.rows_rejected) == (landed, rejected)
    assert len(landed_rows(root, "_assessment_results", "result_id")) == results
    assert len({r[0] for r in landed_rows(root, "_assessment_results", "result_id")}) == results  # unique results


def test_fake_amath_rejects_name_the_quantile(tmp_path):
    _, root = _land(tmp_path, "FastBridgeCAT", "fake_aMath.csv", "fastbridge")
    rejects = landed_rows(root, "_rejects", "rule, field")
    assert {r[0] for r in rejects} == {"type"} and all(r[1].endswith("Quantile") for r in rejects)


def test_eocep_values(tmp_path):
    _, root = _land(tmp_path, "EOCEP", "sample_anonymized_file_EOCEP.csv", "eocep")
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id in ('605001', '605002')") == [
        ("605001", "SC-EOCEP-Algebra 1", "Mathematics", "09", "2023-12-14", "2024", "Fall", "88", None, "B", "true"),
        (
            "605002",
            "SC-EOCEP-US History and the Constitution",
            "Social Studies",
            "09",
            "2023-12-14",
            "2024",
            "Fall",
            "60",
            None,
            "D",
            "false",
        ),
    ]
    # The US History test's five reporting categories are objectives of its result.
    objectives = landed_rows(root, "_assessment_scores", "objective, result", "objective like 'USHC%'")
    assert objectives == [(f"USHC reporting category {k}", v) for k, v in zip("12345", "23121", strict=True)]


def test_fastbridge_cat_values(tmp_path):
    _, root = _land(tmp_path, "FastBridgeCAT", "sample_anonymized_aReading.csv", "fastbridge")
    assert landed_rows(root, "_assessment_results", RESULT_COLUMNS, "student_id = '465842'") == [
        (
            "465842",
            "FastBridge-aReading",
            "Reading",
            "08",
            "2025-08-28",
            "2026",
            "Fall",
            "547.4126",
            "63.0",
            "lowRisk",
            "true",
        ),
    ]
    lexiles = landed_rows(root, "_assessment_scores", "result", "reporting_method = 'Lexile Measure'")
    assert lexiles == [("1070",), ("1285",), ("555",)]


def test_fastbridge_cbmmath_levels_by_period(tmp_path):
    _, root = _land(tmp_path, "FastBridge_CBMmath", "sample_anonymized_file_cbmm_auto.csv", "fastbridge")
    rows = landed_rows(
        root, "_assessment_results", "assessment_identifier, season, school_year", "student_id = '2340001'"
    )
    assert rows == [("FastBridge-AUTO L2 GOM", s, "2023") for s in ("Fall", "Spring", "Winter")]


def test_fastbridge_cbmreading_passages_stay_with_their_period(tmp_path):
    _, root = _land(tmp_path, "FastBridge_CBMreading", "sample_anonymized_file_fastbridge_cbmreading.csv", "fastbridge")
    results = landed_rows(root, "_assessment_results", "count(*), count(distinct season)")
    assert results == [(15, 3)]
    # Each result has its own three passages (three objectives), not every period's.
    per_result = landed_rows(
        root,
        "_assessment_scores",
        "result_id, count(distinct objective)",
        "objective is not null group by result_id",
    )
    assert len(per_result) == 15 and {r[1] for r in per_result} == {3}


def test_fastbridge_early_reading_uses_state_id(tmp_path):
    _, root = _land(tmp_path, "FastBridge_English", "sample_anonymized_file.csv", "fastbridge")
    rows = landed_rows(
        root,
        "_assessment_results",
        RESULT_COLUMNS,
        "student_id = '605000' and assessment_identifier = 'FastBridge-Early Reading English' and season = 'Fall'",
    )
    assert len(rows) == 1
    assert rows[0][:7] == ("605000", "FastBridge-Early Reading English", "Reading", "KG", "2022-08-18", "2023", "Fall")
    assert rows[0][8:] == ("13", "someRisk", "false")


def test_gold_values(tmp_path):
    _, root = _land(tmp_path, "GOLD", "sample_anonymized_file.csv", "gold")
    assert landed_rows(
        root, "_assessment_results", RESULT_COLUMNS, "student_id = '605003' and assessment_identifier like '%Math%'"
    ) == [
        (
            "605003",
            "TS-GOLD-Mathematics",
            "Mathematics",
            None,
            "2022-10-23",
            "2023",
            "Fall",
            "498",
            None,
            "Meet",
            "true",
        ),
    ]
    # Children 605001 and 605002 have no Literacy score at the checkpoint: no Literacy result.
    literacy = landed_rows(root, "_assessment_results", "student_id", "assessment_identifier = 'TS-GOLD-Literacy'")
    assert literacy == [("605000",), ("605003",), ("605004",)]
