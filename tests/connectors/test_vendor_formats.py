"""Built-in vendor declarations (NWEA MAP CDF, i-Ready Diagnostic, SIS attendance) against
minimal files written by hand from the vendor-formats reference, landed for real."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors import tabular
from interop_pipeline.connectors.tabular import FileDeclaration, VendorFileError

AT = datetime(2025, 10, 1, 6, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def builtins() -> dict[str, FileDeclaration]:
    return tabular.builtin_declarations()


def nwea(builtins: dict[str, FileDeclaration]) -> list[FileDeclaration]:
    return [d for d in builtins.values() if d.system == "nwea_map"]


def iready(builtins: dict[str, FileDeclaration]) -> list[FileDeclaration]:
    return [d for d in builtins.values() if d.system == "iready"]


def land(path: Path, decls: list[FileDeclaration], root: Path, at: datetime = AT):
    return tabular.land_vendor_file(
        path, decls, root, district_code="d001", max_uncompressed_bytes=10_000_000, extracted_at=at
    )


def read(root: Path, system: str, entity: str, batch_id: str) -> list[dict]:
    return pq.read_table(root / system / entity / f"{batch_id}.parquet").to_pylist()


def details(root: Path, system: str, batch_id: str) -> dict:
    return json.loads(read(root, system, "_batches", batch_id)[0]["details"])


def quoted(rows: list[list[str]]) -> str:
    """CDF style: every field double-quoted, empty cells as "", CRLF line ends."""
    return "".join(",".join(f'"{v}"' for v in row) + "\r\n" for row in rows)


def plain(rows: list[list[str]]) -> str:
    return "".join(",".join(row) + "\n" for row in rows)


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


# ------------------------------------------------------------------------------------------
# NWEA MAP Growth CDF
# ------------------------------------------------------------------------------------------

MAP_CURRENT_HEADER = [
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID", "StudentID",
    "Student_StateID", "Subject", "Course", "GrowthMeasureYN", "NormsReferenceData", "WISelectedAYFall",
    "TestType", "TestName", "TestID", "TestStartDate", "TestStartTime", "TestDurationMinutes",
    "TestRITScore", "TestStandardError", "TestPercentile", "AchievementQuintile", "PercentCorrect",
    "RapidGuessingPercentage", "FallToSpringProjectedGrowth", "FallToSpringObservedGrowth",
    "FallToSpringMetProjectedGrowth", "FallToSpringConditionalGrowthPercentile", "LexileScore",
    "LexileMin", "LexileMax", "QuantileScore", "QuantileMin", "QuantileMax", "Goal1Name", "Goal1RitScore",
]  # fmt: skip
MAP_CURRENT_ROWS = [
    [
        "Fall 2025-2026", "Demo District", "D01", "Lincoln Elementary", "S01", "001234", "ST9001",
        "Mathematics", "Math K-12", "TRUE", "2020", "2025-2026", "Survey With Goals",
        "Growth: Math 2-5 CCSS 2010 V2", "7712001", "09/15/2025", "09:05:12", "42", "201", "3.1", "55",
        "Avg", "60.5", "0", "9", "", "", "", "", "", "", "1650Q", "1550Q", "1750Q", "Operations", "204",
    ],
    [
        "Fall 2025-2026", "Demo District", "D01", "Lincoln Elementary", "S01", "001234", "ST9001",
        "Language Arts", "Reading", "FALSE", "2020", "2025-2026", "Survey", "Growth: Reading 2-5",
        "7712002", "09/16/2025", "10:00:00", "38", "188", "3.3", "41", "LoAvg", "", "4.5", "", "", "",
        "", "BR120L", "BR220L", "BR20L", "", "", "", "Vocabulary", "190",
    ],
    [
        "Fall 2025-2026", "Demo District", "D01", "Lincoln Elementary", "S01", "000077", "",
        "Language Arts", "Reading", "TRUE", "2020", "2025-2026", "Survey With Goals",
        "Growth: Reading 2-5", "7712003", "09/17/2025", "", "", "215", "3.0", "70", "HiAvg", "", "", "",
        "", "", "", "585L", "485L", "635L", "", "", "", "", "",
    ],
]  # fmt: skip

MAP_PRE_2015_HEADER = [
    "TermName", "DistrictName", "SchoolName", "StudentID", "Discipline", "MeasurementScale",
    "GrowthMeasureYN", "TestType", "TestName", "TestID", "TestStartDate", "TestDurationMinutes",
    "TestRITScore", "TestStandardError", "TestPercentile", "RITtoReadingScore", "RITtoReadingMin",
    "RITtoReadingMax", "ProjectedProficiency",
]  # fmt: skip
MAP_PRE_2015_ROWS = [
    [
        "Spring 2013-2014", "Demo District", "Lincoln Elementary", "004321", "Reading", "Reading",
        "TRUE", "Survey With Goals", "Reading 2-5 Common Core 2010", "5501", "05/02/2014", "51", "207",
        "3.2", "62", "610L", "510L", "660L", "Level 3",
    ],
]  # fmt: skip

STUDENTS_BY_SCHOOL = [
    ["TermName", "DistrictName", "SchoolName", "StudentLastName", "StudentFirstName", "StudentMI", "StudentID",
     "StudentDateOfBirth", "StudentEthnicGroup", "StudentGender", "Grade"],
    ["Fall 2025-2026", "Demo District", "Lincoln Elementary", "Smith", "Ava", "Q", "001234", "03/02/2016",
     "White", "F", "3"],
    ["Fall 2025-2026", "Demo District", "Lincoln Elementary", "Jones", "Tom", "", "000077", "13/13/2016",
     "Asian", "M", "3"],
]  # fmt: skip
CLASS_ASSIGNMENTS = [
    ["TermName", "StudentID", "SchoolName", "ClassName", "TeacherName"],
    ["Fall 2025-2026", "001234", "Lincoln Elementary", "Grade 3 - Room 4", "Lee, Pat"],
    ["Fall 2025-2026", "000077", "Lincoln Elementary", "Grade 3 - Room 4", "Lee, Pat"],
]


def test_map_current_layout(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    path = write(tmp_path / "drop" / "AssessmentResults.csv", quoted([MAP_CURRENT_HEADER, *MAP_CURRENT_ROWS]))
    result = land(path, nwea(builtins), root)

    assert result.rows_landed == {"assessment_results": 3} and result.rejects_by_rule == {}
    math, reading_br, reading = read(root, "nwea_map", "assessment_results", result.batch_id)
    assert math["term_name"] == "Fall 2025-2026" and math["season"] == "Fall" and math["school_year"] == "2026"
    assert math["student_id"] == "001234" and reading["student_id"] == "000077"  # leading zeros kept
    assert math["subject"] == "Mathematics" and math["course"] == "Math K-12"
    assert math["test_start_date"] == "2025-09-15" and math["test_start_time"] == "09:05:12"
    assert math["test_rit_score"] == "201" and math["test_standard_error"] == "3.1"
    assert math["growth_measure"] == "true" and reading_br["growth_measure"] == "false"
    assert math["quantile_score"] == "1650" and math["lexile_score"] is None
    assert math["fall_to_spring_projected_growth"] == "9" and math["fall_to_spring_observed_growth"] is None
    assert reading_br["lexile_score"] == "-120" and reading_br["lexile_min"] == "-220"
    assert reading["lexile_score"] == "585" and reading["test_start_time"] is None
    assert reading["_source_ref"] == "AssessmentResults.csv:4"

    entity = result.entities["assessment_results"]
    assert entity.layout == "current" and entity.declaration == "nwea_map_assessment_results"
    assert entity.unknown_columns == ["WISelectedAYFall", "Goal1Name", "Goal1RitScore"]
    facts = details(root, "nwea_map", result.batch_id)["entities"]["assessment_results"]
    assert facts["layout"] == "current" and facts["mode"] == "append"
    assert facts["derived_values"]["school_year"] == ["2026"]


def test_map_pre_2015_layout(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    path = write(tmp_path / "drop" / "AssessmentResults.csv", quoted([MAP_PRE_2015_HEADER, *MAP_PRE_2015_ROWS]))
    result = land(path, nwea(builtins), root)

    (row,) = read(root, "nwea_map", "assessment_results", result.batch_id)
    assert row["subject"] == "Reading" and row["course"] == "Reading"  # from Discipline, MeasurementScale
    assert row["lexile_score"] == "610" and row["lexile_max"] == "660"  # from RITtoReading*
    assert row["season"] == "Spring" and row["school_year"] == "2014"
    assert row["test_start_date"] == "2014-05-02" and row["school_state_id"] is None
    entity = result.entities["assessment_results"]
    assert entity.layout == "pre_2015"
    assert entity.unknown_columns == ["ProjectedProficiency"]
    assert {"school_state_id", "student_state_id", "quantile_score"} <= set(entity.missing_columns)


def test_map_missing_required_column_refuses_the_file(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    header = [c for c in MAP_CURRENT_HEADER if c != "TestRITScore"]
    rows = [
        [v for c, v in zip(MAP_CURRENT_HEADER, row, strict=True) if c != "TestRITScore"] for row in MAP_CURRENT_ROWS
    ]
    path = write(tmp_path / "drop" / "AssessmentResults.csv", quoted([header, *rows]))
    with pytest.raises(VendorFileError, match="AssessmentResults.csv: missing required columns .*: TestRITScore"):
        land(path, nwea(builtins), root)
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def test_map_cdf_zip_lands_every_member_in_one_batch(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    archive = tmp_path / "drop" / "MAP_CDF_Fall_2025.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("AssessmentResults.csv", quoted([MAP_CURRENT_HEADER, *MAP_CURRENT_ROWS]))
        zf.writestr("StudentsBySchool.csv", quoted(STUDENTS_BY_SCHOOL))
        zf.writestr("ClassAssignments.csv", quoted(CLASS_ASSIGNMENTS))
        zf.writestr("AccommodationAssignment.csv", quoted([["TermName", "StudentID"], ["Fall 2025-2026", "1"]]))
    result = land(archive, nwea(builtins), root)

    assert result.rows_landed == {"assessment_results": 3, "students_by_school": 1, "class_assignments": 2}
    assert result.files_not_ingested == ["AccommodationAssignment.csv"]
    assert result.rejects_by_rule == {"type": 1}  # the impossible birth date
    (reject,) = read(root, "nwea_map", "_rejects", result.batch_id)
    assert reject["_source_ref"] == "MAP_CDF_Fall_2025.zip!StudentsBySchool.csv:3"
    assert reject["field"] == "student_date_of_birth" and "13/13/2016" not in reject["detail"]
    (student,) = read(root, "nwea_map", "students_by_school", result.batch_id)
    assert student["student_date_of_birth"] == "2016-03-02" and student["school_year"] == "2026"
    classes = read(root, "nwea_map", "class_assignments", result.batch_id)
    assert classes[0]["teacher_name"] == "Lee, Pat" and classes[1]["student_id"] == "000077"
    facts = details(root, "nwea_map", result.batch_id)
    assert set(facts["entities"]) == {"assessment_results", "students_by_school", "class_assignments"}
    assert facts["entities"]["students_by_school"]["member"] == "StudentsBySchool.csv"


def test_map_late_file_for_last_term_adds_a_batch(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    this_term = write(tmp_path / "a" / "AssessmentResults.csv", quoted([MAP_CURRENT_HEADER, *MAP_CURRENT_ROWS]))
    spring = [["Spring 2024-2025", *row[1:15], "05/01/2025", *row[16:]] for row in MAP_CURRENT_ROWS[:1]]
    last_term = write(tmp_path / "b" / "AssessmentResults.csv", quoted([MAP_CURRENT_HEADER, *spring]))
    first = land(this_term, nwea(builtins), root)
    late = land(last_term, nwea(builtins), root, at=AT + timedelta(days=1))

    batches = sorted(p.stem for p in (root / "nwea_map" / "assessment_results").iterdir())
    assert batches == sorted([first.batch_id, late.batch_id])  # appended, nothing replaced
    assert read(root, "nwea_map", "assessment_results", late.batch_id)[0]["school_year"] == "2025"
    assert details(root, "nwea_map", late.batch_id)["entities"]["assessment_results"]["mode"] == "append"


# A CDF whose last column is a declared optional field (QuantileMax), six test events; the
# last event's QuantileMax is empty.
MAP_SIX_HEADER = MAP_CURRENT_HEADER[:-2]
MAP_SIX_ROWS = [
    [*row[:14], f"{row[14]}{n}", *row[15:-2]] for n in range(2) for row in MAP_CURRENT_ROWS
]  # fmt: skip


def map_six_results() -> str:
    text = quoted([MAP_SIX_HEADER, *MAP_SIX_ROWS])
    assert MAP_SIX_ROWS[-1][-1] == "" and text.endswith(',""\r\n')
    return text


def test_map_last_record_short_by_one_optional_field_lands_every_row(
    tmp_path: Path, builtins: dict[str, FileDeclaration]
) -> None:
    # As delivered: the last record lacks its final empty cell and the file its final line break.
    root = tmp_path / "landing"
    text = map_six_results().removesuffix(',""\r\n')
    result = land(write(tmp_path / "drop" / "AssessmentResults.csv", text), nwea(builtins), root)

    assert result.rows_landed == {"assessment_results": 6} and result.rejects_by_rule == {}
    rows = read(root, "nwea_map", "assessment_results", result.batch_id)
    last = rows[-1]
    assert last["_source_ref"] == "AssessmentResults.csv:7" and last["student_id"] == "000077"
    assert last["test_rit_score"] == "215" and last["lexile_max"] == "635" and last["quantile_max"] is None
    assert result.entities["assessment_results"].warnings == {"short_last_record": 1}
    facts = details(root, "nwea_map", result.batch_id)["entities"]["assessment_results"]
    assert facts["warnings"] == {"short_last_record": 1}


def test_map_file_cut_inside_a_quoted_field_is_refused(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    full = map_six_results()
    text = full[: full.rindex('"635L"') + 3]  # ends '"63': inside the last record's LexileMax
    with pytest.raises(VendorFileError, match="truncated file: the record starting at line 7 is still inside a quoted"):
        land(write(tmp_path / "drop" / "AssessmentResults.csv", text), nwea(builtins), root)
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


def test_map_file_cut_before_a_required_field_is_refused(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    # Cut right after a closing quote: the record parses, but TestRITScore (required) is missing.
    root = tmp_path / "landing"
    full = map_six_results()
    text = full[: full.rindex('"09/17/2025"') + len('"09/17/2025"')]
    with pytest.raises(VendorFileError) as info:
        land(write(tmp_path / "drop" / "AssessmentResults.csv", text), nwea(builtins), root)
    message = str(info.value)
    assert "AssessmentResults.csv: truncated file: the last record (line 7) has 16 of 34 fields" in message
    assert "lacks required fields test_rit_score" in message and "000077" not in message
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))


# ------------------------------------------------------------------------------------------
# i-Ready Diagnostic
# ------------------------------------------------------------------------------------------

IREADY_COMMON = [
    "Last Name", "First Name", "Student ID", "Student Grade", "Academic Year", "School", "Enrolled",
    "Student State ID", "Sex", "Class(es)", "Start Date", "Completion Date", "Norming Window",
    "Baseline Diagnostic (Y/N)", "Most Recent Diagnostic YTD (Y/N)", "Duration (min)",
    "Overall Scale Score", "Overall Placement", "Overall Relative Placement", "Percentile",
    "Diagnostic Gain", "Annual Typical Growth Measure", "Percent Progress to Annual Typical Growth (%)",
]  # fmt: skip


def iready_row(student: str, placement: str, completed: str, extra: list[str]) -> list[str]:
    return [
        "Smith", "Ava", student, "3", "2025-2026", "Lincoln Elementary", "Yes", "ST9001", "F", "Room 4",
        "9/8/2025", completed, '"Fall (August 1 - November 15)"', "Y", "N", "42", "452", placement,
        "1 Grade Level Below", "35", "", "21", "45%", *extra,
    ]  # fmt: skip


def test_iready_ela_with_bom(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    header = [*IREADY_COMMON, "Lexile Measure", "Lexile Range", "Phonics Scale Score", "Phonics Placement"]
    rows = [
        iready_row("001234", "Early 3", "9/10/2025", ["BR45L", "BR145L-55L", "410", "Late 2"]),
        iready_row("000077", "Mid K", "10/2/2025", ["585L", "485L-635L", "", ""]),
        iready_row("000078", "Mid or Above", "10/3/2025", ["", "", "", ""]),
    ]
    path = write(tmp_path / "drop" / "diagnostic_results_ela_CONFIDENTIAL.csv", "\ufeff" + plain([header, *rows]))
    result = land(path, iready(builtins), root)

    assert result.rows_landed == {"diagnostic_ela": 3} and result.rejects_by_rule == {}
    early, mid_k, above = read(root, "iready", "diagnostic_ela", result.batch_id)
    assert early["subject"] == "ELA" and early["student_id"] == "001234"
    assert early["academic_year"] == "2025-2026" and early["school_year"] == "2026"
    assert early["start_date"] == "2025-09-08" and early["completion_date"] == "2025-09-10"
    assert mid_k["completion_date"] == "2025-10-02"
    assert early["norming_window"] == "Fall (August 1 - November 15)"
    assert early["baseline_diagnostic"] == "true" and early["most_recent_diagnostic_ytd"] == "false"
    assert early["overall_scale_score"] == "452" and early["percentile"] == "35"
    assert early["percent_progress_to_annual_typical_growth"] == "45" and early["diagnostic_gain"] is None
    assert early["overall_placement"] == "Early 3"
    assert early["overall_placement_level"] == "early_3" and early["overall_placement_grade"] == "3"
    assert mid_k["overall_placement_level"] == "mid_k" and mid_k["overall_placement_grade"] == "0"
    assert above["overall_placement"] == "Mid or Above" and above["overall_placement_level"] is None
    assert early["lexile_measure"] == "-45" and mid_k["lexile_measure"] == "585"
    assert early["lexile_range"] == "BR145L-55L" and early["phonics_placement"] == "Late 2"
    entity = result.entities["diagnostic_ela"]
    assert entity.encoding == "utf-8-sig" and entity.header[0] == "Last Name"
    assert "vocabulary_scale_score" in entity.missing_columns and entity.unknown_columns == []


def test_iready_math_and_ela_in_one_zip(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    ela_header = [*IREADY_COMMON, "Lexile Measure"]
    math_header = [*IREADY_COMMON, "Quantile Measure", "Geometry Scale Score", "Geometry Placement"]
    archive = tmp_path / "drop" / "iready_export.zip"
    archive.parent.mkdir()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(
            "Diagnostic_Results_ELA.csv",
            "\ufeff" + plain([ela_header, iready_row("1", "Late 4", "9/9/2025", ["700L"])]),
        )
        zf.writestr(
            "Diagnostic_Results_Math.csv",
            "\ufeff" + plain([math_header, iready_row("1", "Grade 9", "9/9/2025", ["EM120Q", "480", "Early 4"])]),
        )
    result = land(archive, iready(builtins), root)

    assert result.rows_landed == {"diagnostic_ela": 1, "diagnostic_math": 1}
    (math,) = read(root, "iready", "diagnostic_math", result.batch_id)
    assert math["subject"] == "Math" and math["quantile_measure"] == "-120"
    assert math["geometry_scale_score"] == "480" and math["overall_placement_level"] == "grade_9"
    assert math["_source_ref"] == "iready_export.zip!Diagnostic_Results_Math.csv:2"
    (ela,) = read(root, "iready", "diagnostic_ela", result.batch_id)
    assert ela["subject"] == "ELA" and ela["lexile_measure"] == "700"


def test_iready_academic_year_that_does_not_parse_is_rejected(
    tmp_path: Path, builtins: dict[str, FileDeclaration]
) -> None:
    root = tmp_path / "landing"
    rows = [iready_row("1", "Early 3", "9/10/2025", []), iready_row("2", "Early 3", "9/10/2025", [])]
    rows[1][4] = "2025"
    path = write(tmp_path / "drop" / "diagnostic_results_math.csv", plain([IREADY_COMMON, *rows]))
    result = land(path, iready(builtins), root)
    assert result.rows_landed == {"diagnostic_math": 1} and result.rejects_by_rule == {"derive": 1}
    (reject,) = read(root, "iready", "_rejects", result.batch_id)
    assert reject["field"] == "academic_year" and reject["_source_ref"] == "diagnostic_results_math.csv:3"


def test_iready_ela_not_provided_reading_difficulty_indicator_lands_as_null(
    tmp_path: Path, builtins: dict[str, FileDeclaration]
) -> None:
    root = tmp_path / "landing"
    header = [*IREADY_COMMON, "Lexile Measure", "Reading Difficulty Indicator"]
    flags = ["Not Provided", "Y", "Not Provided", "N", "Not Provided"]
    rows = [iready_row(f"00{n}", "Early 3", f"9/1{n}/2025", ["585L", flag]) for n, flag in enumerate(flags)]
    path = write(tmp_path / "drop" / "diagnostic_results_ela.csv", "\ufeff" + plain([header, *rows]))
    result = land(path, iready(builtins), root)

    assert result.rows_landed == {"diagnostic_ela": 5} and result.rejects_by_rule == {}
    landed = read(root, "iready", "diagnostic_ela", result.batch_id)
    assert [r["reading_difficulty_indicator"] for r in landed] == [None, "true", None, "false", None]
    expected = {"null_sentinel:reading_difficulty_indicator": 3}
    assert result.entities["diagnostic_ela"].warnings == expected
    assert result.warnings_by_entity == {"diagnostic_ela": expected}
    assert details(root, "iready", result.batch_id)["entities"]["diagnostic_ela"]["warnings"] == expected


def test_iready_required_score_that_is_na_is_rejected(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    rows = [iready_row("1", "Early 3", "9/10/2025", []), iready_row("2", "Early 3", "9/11/2025", [])]
    rows[0][19] = "N/A"  # Percentile: optional, lands as null
    rows[1][16] = "N/A"  # Overall Scale Score: required
    path = write(tmp_path / "drop" / "diagnostic_results_math.csv", plain([IREADY_COMMON, *rows]))
    result = land(path, iready(builtins), root)

    assert result.rows_landed == {"diagnostic_math": 1} and result.rejects_by_rule == {"not_null": 1}
    (row,) = read(root, "iready", "diagnostic_math", result.batch_id)
    assert row["percentile"] is None and row["overall_scale_score"] == "452"
    (reject,) = read(root, "iready", "_rejects", result.batch_id)
    assert reject["rule"] == "not_null" and reject["field"] == "overall_scale_score"
    assert reject["detail"] == "overall_scale_score: required value is a null sentinel"
    assert reject["_source_ref"] == "diagnostic_results_math.csv:3"
    assert result.entities["diagnostic_math"].warnings == {"null_sentinel:percentile": 1}


# ------------------------------------------------------------------------------------------
# SIS attendance (negative export)
# ------------------------------------------------------------------------------------------

ATTENDANCE_HEADER = "Student_Number,School_ID,Att_Date,Att_Code,Description,Presence_Status_CD,Total_Minutes"


def test_sis_attendance(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    rows = [
        "001234,101,09/15/2025,A,Absent Unexcused,Absent,0",
        "001235,101,09/15/2025,T,Tardy,Present,15",
        '001236,101,09/16/2025,AE,"Absent, Excused",Absent,0',
        "001237,101,09/16/2025,X,Mystery,Elsewhere,0",
        "001234,101,09/15/2025,A,Absent Unexcused,Absent,0",
        "001238,101,2025-09-17,A,Absent Unexcused,Absent,half",
    ]
    path = write(tmp_path / "drop" / "attendance_2025-09.csv", "\n".join([ATTENDANCE_HEADER, *rows]) + "\n")
    result = land(path, [builtins["sis_attendance"]], root)

    assert result.rows_landed == {"daily_attendance": 3}
    assert result.rejects_by_rule == {"unmapped_code": 1, "duplicate_row": 1, "type": 1}
    absent, tardy, excused = read(root, "sis_attendance", "daily_attendance", result.batch_id)
    assert absent["student_number"] == "001234" and absent["school_id"] == "101"
    assert absent["att_date"] == "2025-09-15" and absent["presence_status"] == "absent"
    assert tardy["presence_status"] == "present" and tardy["total_minutes"] == "15"
    assert excused["description"] == "Absent, Excused"
    by_line = {r["_source_ref"]: r for r in read(root, "sis_attendance", "_rejects", result.batch_id)}
    assert by_line["attendance_2025-09.csv:5"]["rule"] == "unmapped_code"
    assert "'Elsewhere'" in by_line["attendance_2025-09.csv:5"]["detail"]
    assert by_line["attendance_2025-09.csv:6"]["detail"] == ("same key (student_number, school_id, att_date) as line 2")
    assert by_line["attendance_2025-09.csv:7"]["field"] == "total_minutes"
    facts = details(root, "sis_attendance", result.batch_id)["entities"]["daily_attendance"]
    assert facts["key"] == ["student_number", "school_id", "att_date"] and facts["mode"] == "append"


def test_sis_attendance_header_only_never_replaces_data(tmp_path: Path, builtins: dict[str, FileDeclaration]) -> None:
    root = tmp_path / "landing"
    path = write(tmp_path / "drop" / "attendance_2025-09.csv", ATTENDANCE_HEADER + "\r\n")
    with pytest.raises(VendorFileError, match=r"attendance_2025-09\.csv: header only, no data rows"):
        land(path, [builtins["sis_attendance"]], root)
    assert not root.exists() or not any(p.is_file() for p in root.rglob("*"))
