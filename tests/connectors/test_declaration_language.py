"""The declaration language v2 against real vendor files: column groups and unpivot, repeated
header names, fixed-width twins, per-field null codes, compact dates, derived fields and blocks,
and the errors a wrong declaration gets.

The samples are Education Analytics' anonymized vendor exports (Apache-2.0, see
tests/fixtures/vendor_samples/README.md); tests read them in place and land into tmp_path.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors.tabular import (
    DeclarationError,
    FileDeclaration,
    VendorFileError,
    land_vendor_file,
    load_declaration,
)
from tests.samples import VENDOR_SAMPLES

SAMPLES = VENDOR_SAMPLES
WIN = SAMPLES / "WIN" / "sample_anonymized_file.csv"
CBMM = SAMPLES / "FastBridge_CBMmath" / "sample_anonymized_file_cbmm_auto.csv"
PREACT_CSV = SAMPLES / "PreACT" / "Records_anonymized.csv"
PREACT_TXT = SAMPLES / "PreACT" / "Records_anonymized.txt"
AT = datetime(2025, 10, 1, 6, 0, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="vendor samples not available")

WIN_HEAD = """\
name: win
system: win
entity: results
description: WIN Learning readiness results, one row per student per subject.
file_pattern: "*.csv"
mode: append
"""
WIN_ROW_FIELDS = """\
fields:
  - {name: student_id, columns: StudentID, required: true, not_null: true, personal: true}
  - {name: test_date, columns: TestDate, type: date, formats: ["%Y%m%d"]}
"""
WIN_SUBJECTS = """\
  - name: subject_results
    columns: '(?P<subject>Math|Data|Read|Soft)(?P<measure>Lev|SS|Status)'
    fields:
      - {name: level, columns: Lev, type: integer}
      - {name: scale_score, columns: SS, type: integer}
      - {name: status, columns: Status}
    keys:
      subject: {code_map: {Math: Mathematics, Read: Reading, Data: Data Literacy, Soft: Soft Skills}}
"""
WIN_UNPIVOT = (
    WIN_HEAD + WIN_ROW_FIELDS + "key: [student_id, subject]\ngroups:\n" + WIN_SUBJECTS + "unpivot: subject_results\n"
)


def declare(tmp_path: Path, text: str, name: str = "decl.yaml") -> FileDeclaration:
    path = tmp_path / "decl" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_declaration(path)


def copy_with(tmp_path: Path, source: Path, name: str, edit=None) -> Path:  # noqa: ANN001
    """A copy of a sample (optionally edited line by line) under a name the declaration matches."""
    text = source.read_text(encoding="utf-8-sig")
    if edit is not None:
        text = "\n".join(edit(i, line) for i, line in enumerate(text.split("\n")))
    path = tmp_path / "drop" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def land(path: Path, declarations: list[FileDeclaration], root: Path, **kwargs):  # noqa: ANN201
    return land_vendor_file(
        path, declarations, root, district_code="d001", max_uncompressed_bytes=10_000_000, extracted_at=AT, **kwargs
    )


def landed(root: Path, system: str, entity: str, batch_id: str) -> list[dict]:
    return pq.read_table(root / system / entity / f"{batch_id}.parquet").to_pylist()


def rejects(root: Path, system: str, batch_id: str) -> list[dict]:
    return landed(root, system, "_rejects", batch_id)


def project(rows: list[dict], *names: str) -> list[tuple]:
    return [tuple(row[name] for name in names) for row in rows]


# ------------------------------------------------------------------------------------------
# A.1 Column groups and unpivot
# ------------------------------------------------------------------------------------------


class RecordingSinks:
    """RowSinks that record every row handed to the sink."""

    def __init__(self) -> None:
        self.rows: list[tuple[dict, str]] = []

    def open(self, batch):  # noqa: ANN001, ANN201
        return self

    def sink(self, declaration: FileDeclaration) -> RecordingSinks:
        return self

    def add(self, row: dict, source_ref: str) -> None:
        self.rows.append((row, source_ref))

    def close(self) -> None:
        pass


def test_win_subject_groups_unpivot_to_one_row_per_taken_subject(tmp_path: Path) -> None:
    declaration = declare(tmp_path, WIN_UNPIVOT)
    assert declaration.output_columns == ["student_id", "test_date", "subject", "level", "scale_score", "status"]
    sinks = RecordingSinks()
    result = land(WIN, [declaration], tmp_path / "landing", row_sinks=sinks)

    rows = landed(tmp_path / "landing", "win", "results", result.batch_id)
    assert project(rows, "student_id", "test_date", "subject", "level", "scale_score", "status", "_source_ref") == [
        ("605100", "2023-11-01", "Soft Skills", None, "190", "1", "sample_anonymized_file.csv:2"),
        ("605101", "2023-11-01", "Mathematics", "4", "208", "1", "sample_anonymized_file.csv:3"),
        ("605102", "2023-11-03", "Mathematics", "1", "195", "1", "sample_anonymized_file.csv:4"),
        ("605103", "2023-11-03", "Mathematics", "2", "200", "1", "sample_anonymized_file.csv:5"),
        ("605103", "2023-11-03", "Data Literacy", "5", "216", "1", "sample_anonymized_file.csv:5"),
        ("605103", "2023-11-03", "Reading", "3", "204", "1", "sample_anonymized_file.csv:5"),
        ("605104", "2024-02-03", "Mathematics", "2", "201", "1", "sample_anonymized_file.csv:6"),
        ("605104", "2024-02-03", "Data Literacy", "1", "193", "1", "sample_anonymized_file.csv:6"),
        ("605104", "2024-02-03", "Reading", "1", "190", "1", "sample_anonymized_file.csv:6"),
        ("605104", "2024-02-03", "Soft Skills", None, "202", "1", "sample_anonymized_file.csv:6"),
    ]
    entity = result.entities["results"]
    assert (entity.rows_landed, entity.rows_rejected) == (10, 0)
    assert entity.warnings == {"unpivot_empty_member": 10}  # 5 records x 4 subjects, 10 taken
    # Columns the group claims are not unknown; times and other measures no field reads are.
    assert "MathSS" not in entity.unknown_columns and "SoftScore" in entity.unknown_columns
    # The row sink sees every landed row with every landed column, by name, and its line.
    assert len(sinks.rows) == 10
    first, ref = sinks.rows[0]
    assert ref == "sample_anonymized_file.csv:2"
    assert first == {
        "student_id": "605100",
        "test_date": "2023-11-01",
        "subject": "Soft Skills",
        "level": None,
        "scale_score": "190",
        "status": "1",
    }


def test_groups_not_unpivoted_land_as_one_json_column(tmp_path: Path) -> None:
    times = """\
  - name: subject_times
    columns: '(?P<subject>Math|Data|Read|Soft)(?P<measure>STime|FTime)'
    fields:
      - {name: started, columns: STime, type: integer}
      - {name: finished, columns: FTime, type: integer}
"""
    declaration = declare(tmp_path, WIN_HEAD + WIN_ROW_FIELDS + "groups:\n" + WIN_SUBJECTS + times)
    assert declaration.unpivot is None
    assert declaration.output_columns == ["student_id", "test_date", "subject_results", "subject_times"]
    assert declaration.group_fields == {
        "subject_results": ["subject", "level", "scale_score", "status"],
        "subject_times": ["subject", "started", "finished"],
    }
    sinks = RecordingSinks()
    result = land(WIN, [declaration], tmp_path / "landing", row_sinks=sinks)

    rows = landed(tmp_path / "landing", "win", "results", result.batch_id)
    assert len(rows) == 5
    assert json.loads(rows[0]["subject_results"]) == [
        {"subject": "Soft Skills", "level": None, "scale_score": "190", "status": "1"}
    ]
    assert json.loads(rows[3]["subject_times"]) == [
        {"subject": "Math", "started": "925", "finished": "1018"},
        {"subject": "Data", "started": "926", "finished": "951"},
        {"subject": "Read", "started": "910", "finished": "946"},
    ]
    assert [row["subject_results"] for row, _ in sinks.rows] == [row["subject_results"] for row in rows]
    assert result.entities["results"].warnings == {}


def test_member_field_rules_reject_naming_the_header_column(tmp_path: Path) -> None:
    def edit(i: int, line: str) -> str:
        # Line 3 (605101): MathSS 208 -> 2O8; line 4: a sentinel in MathLev lands as null.
        if i == 2:
            return line.replace(",4,208,1,", ",4,2O8,1,")
        return line.replace(",1,195,1,", ",N/A,195,1,") if i == 3 else line

    path = copy_with(tmp_path, WIN, "win.csv", edit)
    result = land(path, [declare(tmp_path, WIN_UNPIVOT)], tmp_path / "landing")

    [reject] = rejects(tmp_path / "landing", "win", result.batch_id)
    assert (reject["rule"], reject["field"], reject["_source_ref"]) == ("type", "MathSS", "win.csv:3")
    assert reject["detail"] == "MathSS: expected an integer, found '2O8'"
    rows = landed(tmp_path / "landing", "win", "results", result.batch_id)
    assert project(rows, "student_id", "subject", "level", "scale_score")[1] == ("605102", "Mathematics", None, "195")
    # Warnings count over records that land: the rejected record's 3 empty members are not counted.
    assert result.entities["results"].warnings == {"unpivot_empty_member": 7, "null_sentinel:level": 1}


def test_a_record_with_no_taken_member_lands_nothing_and_is_counted(tmp_path: Path) -> None:
    def edit(i: int, line: str) -> str:
        return line.replace("190,0,1,907,930", ",,,,") if i == 1 else line  # 605100 took nothing

    path = copy_with(tmp_path, WIN, "win.csv", edit)
    result = land(path, [declare(tmp_path, WIN_UNPIVOT)], tmp_path / "landing")

    entity = result.entities["results"]
    assert (entity.rows_landed, entity.rows_rejected) == (9, 0)
    assert entity.warnings == {"unpivot_empty_member": 11, "unpivot_empty_row": 1}
    rows = landed(tmp_path / "landing", "win", "results", result.batch_id)
    assert "605100" not in {row["student_id"] for row in rows}


def test_unpivot_keys_take_part_in_the_duplicate_key_rule(tmp_path: Path) -> None:
    def edit(i: int, line: str) -> str:
        return line.replace("605104", "605103") if i == 5 else line

    path = copy_with(tmp_path, WIN, "win.csv", edit)
    result = land(path, [declare(tmp_path, WIN_UNPIVOT)], tmp_path / "landing")

    [reject] = rejects(tmp_path / "landing", "win", result.batch_id)
    assert (reject["rule"], reject["_source_ref"]) == ("duplicate_row", "win.csv:6")
    assert reject["detail"] == "same key (student_id, subject) as line 5"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("(?P<measure>Lev|SS|Status)", "(?P<m>Lev|SS|Status)"), "no named group 'measure'"),
        (("unpivot: subject_results", "unpivot: subjects"), "unpivot: 'subjects' is not one of the groups"),
        (("keys:\n      subject:", "keys:\n      grade:"), "keys not among the pattern's named groups: grade"),
        (("{name: status, columns: Status}", "{name: student_id, columns: Status}"), "student_id"),
    ],
)
def test_group_declaration_mistakes_are_named(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    with pytest.raises(DeclarationError, match=expected):
        declare(tmp_path, WIN_UNPIVOT.replace(*change))


# ------------------------------------------------------------------------------------------
# A.2 Repeated header names
# ------------------------------------------------------------------------------------------

CBMM_HEAD = """\
name: cbmm
system: fastbridge
entity: cbmm
description: FastBridge CBMmath automaticity screening, one row per student.
file_pattern: "*.csv"
mode: append
fields:
  - {name: fast_id, columns: FAST ID, required: true, not_null: true}
"""


def test_repeated_header_names_are_addressed_by_occurrence(tmp_path: Path) -> None:
    # "Growth Score from Fall to Winter" is the 57th, 72nd and 87th header cell: one per level.
    text = CBMM_HEAD + (
        "  - {name: growth_l1, columns: 'Growth Score from Fall to Winter', type: decimal}\n"
        "  - {name: growth_l2, columns: 'Growth Score from Fall to Winter[2]', type: decimal}\n"
        "  - {name: growth_l3, columns: 'growth score from fall to winter[3]', type: decimal}\n"
    )
    result = land(CBMM, [declare(tmp_path, text)], tmp_path / "landing")

    rows = landed(tmp_path / "landing", "fastbridge", "cbmm", result.batch_id)
    assert project(rows, "fast_id", "growth_l1", "growth_l2", "growth_l3") == [
        ("2340001", None, "2.838889", None),
        ("2340002", None, None, "1.7622805"),
        ("2340003", None, None, "-0.61946905"),
        ("2340004", None, "2.8053436", None),
        ("2340005", None, None, "0.5833334"),
    ]
    unknown = result.entities["cbmm"].unknown_columns
    assert "Growth Score from Fall to Winter[2]" not in unknown and "Growth Score from Fall to Spring[2]" in unknown


def test_group_regexes_see_the_occurrence_of_repeated_names(tmp_path: Path) -> None:
    text = CBMM_HEAD + (
        "groups:\n"
        "  - name: fall_to_winter\n"
        r"    columns: '(?P<measure>Growth Score|National Growth Percentile) from Fall to Winter(\[(?P<copy>\d)\])?'"
        "\n"
        "    fields:\n"
        "      - {name: growth, columns: Growth Score, type: decimal}\n"
        "      - {name: national_percentile, columns: National Growth Percentile, type: integer}\n"
        "    keys: {copy: {code_map: {'2': L2, '3': L3}}}\n"
        "unpivot: fall_to_winter\n"
    )
    result = land(CBMM, [declare(tmp_path, text)], tmp_path / "landing")

    rows = landed(tmp_path / "landing", "fastbridge", "cbmm", result.batch_id)
    assert project(rows, "fast_id", "copy", "growth", "national_percentile") == [
        ("2340001", "L2", "2.838889", "97"),
        ("2340002", "L3", "1.7622805", "73"),
        ("2340003", "L3", "-0.61946905", "16"),
        ("2340004", "L2", "2.8053436", "97"),
        ("2340005", "L3", "0.5833334", "38"),
    ]
    assert result.entities["cbmm"].warnings == {"unpivot_empty_member": 10}


def test_a_plain_name_on_a_repeated_header_is_refused_unless_other_copies_are_addressed(tmp_path: Path) -> None:
    # Reading the first of three same-named columns without saying so would silently pick one.
    text = CBMM_HEAD + "  - {name: growth, columns: 'Growth Score from Fall to Winter', type: decimal}\n"
    with pytest.raises(VendorFileError) as refused:
        land(CBMM, [declare(tmp_path, text)], tmp_path / "landing")
    assert str(refused.value) == (
        "sample_anonymized_file_cbmm_auto.csv: column 'Growth Score from Fall to Winter' appears 3 times in the "
        "header; expected it once (field growth), or name each copy: Growth Score from Fall to Winter[1] ... "
        "Growth Score from Fall to Winter[3]"
    )
    assert not (tmp_path / "landing").exists() or not list((tmp_path / "landing").rglob("*.parquet"))


# ------------------------------------------------------------------------------------------
# A.4 Per-field null sentinels and null codes
# ------------------------------------------------------------------------------------------


def test_code_map_null_and_sentinels_never_reach_the_type_check(tmp_path: Path) -> None:
    # FastBridge writes N/A* in percentiles; risk levels here map "someRisk" to no value.
    text = CBMM_HEAD + (
        "  - {name: percentile_school, columns: Fall AUTO L3 GOM Percentile at School, type: decimal}\n"
        "  - name: risk\n"
        "    columns: Fall AUTO L3 GOM Risk Level\n"
        "    code_map: {lowRisk: low, someRisk: null, highRisk: 'null'}\n"
        "  - name: items\n"
        "    columns: Fall AUTO L3 GOM Items Attempted\n"
        "    type: integer\n"
        "    code_map: {'25': ''}\n"  # a code mapped to '' is null, never "expected an integer, found ''"
        "  - {name: grade, columns: Grade, null_values: [Nine]}\n"
    )
    declaration = declare(tmp_path, text)
    assert declaration.fields[2].code_map == {"lowRisk": "low", "someRisk": None, "highRisk": None}
    result = land(CBMM, [declaration], tmp_path / "landing")

    rows = landed(tmp_path / "landing", "fastbridge", "cbmm", result.batch_id)
    assert project(rows, "percentile_school", "risk", "items", "grade") == [
        (None, None, None, "Two"),
        ("93.902435", "low", "40", "Four"),
        (None, "low", None, None),  # N/A* and Nine are sentinels; 25 maps to null
        (None, None, None, "Two"),
        ("50.943398", "low", "16", "Four"),
    ]
    assert rejects(tmp_path / "landing", "fastbridge", result.batch_id) == []
    assert result.entities["cbmm"].warnings == {"null_sentinel:grade": 1, "null_sentinel:percentile_school": 1}


def test_a_null_code_in_a_not_null_field_rejects_the_row(tmp_path: Path) -> None:
    text = CBMM_HEAD + (
        "  - {name: risk, columns: Winter AUTO L3 GOM Risk Level, not_null: true, code_map: {someRisk: null}}\n"
    )
    result = land(CBMM, [declare(tmp_path, text)], tmp_path / "landing")

    found = rejects(tmp_path / "landing", "fastbridge", result.batch_id)
    assert [(r["rule"], r["field"], r["_source_ref"]) for r in found] == [
        ("not_null", "risk", "sample_anonymized_file_cbmm_auto.csv:2"),
        ("not_null", "risk", "sample_anonymized_file_cbmm_auto.csv:4"),
        ("not_null", "risk", "sample_anonymized_file_cbmm_auto.csv:5"),
    ]
    assert found[1]["detail"] == "risk: required value is a null sentinel"


# ------------------------------------------------------------------------------------------
# A.5 Compact dates are never guessed
# ------------------------------------------------------------------------------------------

DATES_YAML = """\
name: dates
system: win
entity: dates
description: Compact dates as vendors write them.
file_pattern: "*.csv"
mode: append
fields:
  - {name: student_id, columns: StudentID, not_null: true}
  - {name: birth_date, columns: DOB, type: date, formats: ["%Y%m%d"], personal: true}
  - {name: test_date, columns: TestDate, type: date, formats: ["%m%d%Y"]COMPACT}
"""
# WIN writes YYYYMMDD; the copy rewrites TestDate as MMDDYYYY, some with the leading zero dropped.
COMPACT_TEST_DATES = {1: "1062015", 2: "11062015", 3: "1112015", 4: "01062015", 5: "106215"}


def win_with_compact_dates(tmp_path: Path) -> Path:
    def edit(i: int, line: str) -> str:
        if i not in COMPACT_TEST_DATES:
            return line
        cells = line.split(",")
        cells[1] = COMPACT_TEST_DATES[i]  # TestDate is the second column
        return ",".join(cells)

    return copy_with(tmp_path, WIN, "win.csv", edit)


def test_compact_date_of_the_wrong_width_is_rejected_not_guessed(tmp_path: Path) -> None:
    result = land(
        win_with_compact_dates(tmp_path), [declare(tmp_path, DATES_YAML.replace("COMPACT", ""))], tmp_path / "landing"
    )

    rows = landed(tmp_path / "landing", "win", "dates", result.batch_id)
    assert project(rows, "student_id", "birth_date", "test_date") == [
        ("605101", "2006-06-01", "2015-11-06"),
        ("605103", "2006-11-09", "2015-01-06"),
    ]
    found = rejects(tmp_path / "landing", "win", result.batch_id)
    assert [(r["_source_ref"], r["rule"], r["field"], r["detail"]) for r in found] == [
        (
            "win.csv:2",
            "type",
            "test_date",
            "test_date: ambiguous compact date: 7 digits for %m%d%Y (MMDDYYYY), found '1062015'",
        ),
        (
            "win.csv:4",
            "type",
            "test_date",
            "test_date: ambiguous compact date: 7 digits for %m%d%Y (MMDDYYYY), found '1112015'",
        ),
        (
            "win.csv:6",
            "type",
            "test_date",
            "test_date: ambiguous compact date: 6 digits for %m%d%Y (MMDDYYYY), found '106215'",
        ),
    ]


def test_compact_dates_pad_left_when_the_field_says_so(tmp_path: Path) -> None:
    declaration = declare(tmp_path, DATES_YAML.replace("COMPACT", ", compact_dates: pad_left"))
    result = land(win_with_compact_dates(tmp_path), [declaration], tmp_path / "landing")

    rows = landed(tmp_path / "landing", "win", "dates", result.batch_id)
    assert project(rows, "student_id", "test_date") == [
        ("605100", "2015-01-06"),
        ("605101", "2015-11-06"),
        ("605102", "2015-01-11"),
        ("605103", "2015-01-06"),
    ]
    [reject] = rejects(tmp_path / "landing", "win", result.batch_id)
    assert reject["detail"] == "test_date: expected a date as %m%d%Y, found '106215'"  # 00106215: no month 00


def test_compact_dates_option_only_on_date_fields(tmp_path: Path) -> None:
    text = DATES_YAML.replace("COMPACT", "").replace(
        "{name: student_id, columns: StudentID, not_null: true}",
        "{name: student_id, columns: StudentID, compact_dates: pad_left}",
    )
    with pytest.raises(DeclarationError, match="compact_dates applies only to date fields"):
        declare(tmp_path, text)


# ------------------------------------------------------------------------------------------
# A.3 Fixed-width files
# ------------------------------------------------------------------------------------------

# PreACT ships the same records as CSV and as a fixed-width .txt without a header line; the
# positions below are read off the sample (1-based, inclusive) and checked against the CSV twin.
PREACT_FIELDS = """\
mode: append
system: preact
entity: records
description: PreACT student records.
blocks:
  record:
    - {name: student_name_last, columns: L_Name, personal: true}
    - {name: birth_date, columns: DOB, type: date, formats: ["%Y%m%d"], personal: true}
    - {name: test_date, columns: Test_Dte, type: date, formats: ["%Y%m%d"], required: true}
    - {name: grade, columns: Grade_Reported, type: integer}
    - {name: english, columns: Eng, type: integer}
    - {name: math, columns: Mth, type: integer}
    - {name: composite, columns: Composite, type: integer}
fields:
  - {name: state_code, columns: State_Code}
  - use: record
"""
PREACT_TXT_YAML = (
    "name: preact_fixed\n"
    'file_pattern: "*.txt"\n'
    "delimiter: fixed\n"
    "fixed_width:\n"
    "  State_Code: [15, 22]\n"
    "  L_Name: [44, 68]\n"
    "  DOB: [110, 117]\n"
    "  Grade_Reported: [130, 131]\n"
    "  Test_Dte: [132, 139]\n"
    "  Eng: [150, 151]\n"
    "  Mth: [152, 153]\n"
    "  Composite: [158, 159]\n" + PREACT_FIELDS
)
PREACT_CSV_YAML = 'name: preact_csv\nfile_pattern: "*.csv"\n' + PREACT_FIELDS
PREACT_COLUMNS = ("state_code", "student_name_last", "birth_date", "test_date", "grade", "english", "math", "composite")


def test_fixed_width_twin_lands_what_its_csv_lands(tmp_path: Path) -> None:
    fixed = declare(tmp_path, PREACT_TXT_YAML, "fixed.yaml")
    assert fixed.header_row == 0  # no header line: the default for fixed width
    from_csv = land(PREACT_CSV, [declare(tmp_path, PREACT_CSV_YAML, "csv.yaml")], tmp_path / "landing")
    from_txt = land(PREACT_TXT, [fixed], tmp_path / "landing")

    csv_rows = landed(tmp_path / "landing", "preact", "records", from_csv.batch_id)
    txt_rows = landed(tmp_path / "landing", "preact", "records", from_txt.batch_id)
    assert project(txt_rows, *PREACT_COLUMNS)[0] == (
        "41",
        "lastName1",
        "1943-11-01",
        "2020-10-07",
        "10",
        "8",
        "13",
        "12",
    )
    # The .txt carries one record more than its CSV twin; the four they share land alike.
    assert project(txt_rows, *PREACT_COLUMNS)[:4] == project(csv_rows, *PREACT_COLUMNS)
    assert len(txt_rows) == 5
    assert [row["_source_ref"] for row in txt_rows] == [f"Records_anonymized.txt:{n}" for n in range(1, 6)]
    assert from_txt.entities["records"].unknown_columns == []


def test_fixed_width_with_a_header_line_and_a_bad_value(tmp_path: Path) -> None:
    lines = PREACT_TXT.read_text(encoding="utf-8").split("\n")
    lines[2] = lines[2][:149] + "1x" + lines[2][151:]  # Eng of the third record: line 4 below the header
    path = tmp_path / "drop" / "preact.txt"
    path.parent.mkdir()
    path.write_text("\n".join(["PROCESS NUM   SCHOOL ...", *lines]), encoding="utf-8")
    declaration = declare(tmp_path, PREACT_TXT_YAML.replace("delimiter: fixed\n", "delimiter: fixed\nheader_row: 1\n"))
    result = land(path, [declaration], tmp_path / "landing")

    [reject] = rejects(tmp_path / "landing", "preact", result.batch_id)
    assert (reject["_source_ref"], reject["field"], reject["detail"]) == (
        "preact.txt:4",
        "english",
        "english: expected an integer, found '1x'",
    )
    assert result.entities["records"].rows_landed == 4


def test_fixed_width_declaration_mistakes(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="delimiter: fixed and fixed_width go together"):
        declare(tmp_path, PREACT_TXT_YAML.replace("delimiter: fixed\n", ""))
    with pytest.raises(DeclarationError, match="fixed_width.Eng: end 140 is before start 150"):
        declare(tmp_path, PREACT_TXT_YAML.replace("Eng: [150, 151]", "Eng: [150, 140]"))
    with pytest.raises(DeclarationError, match="header_row: 0 .* needs delimiter: fixed"):
        declare(tmp_path, PREACT_CSV_YAML + "header_row: 0\n")


# ------------------------------------------------------------------------------------------
# A.7 Errors a wrong declaration gets
# ------------------------------------------------------------------------------------------


def test_utf16_declared_on_a_utf8_file_says_it_is_not_utf16(tmp_path: Path) -> None:
    declaration = declare(tmp_path, WIN_UNPIVOT.replace("mode: append\n", "mode: append\nencoding: utf-16\n"))
    with pytest.raises(VendorFileError) as refused:
        land(WIN, [declaration], tmp_path / "landing")
    assert str(refused.value) == (
        "sample_anonymized_file.csv: declared encoding utf-16, but the file is not UTF-16 (no byte-order mark and "
        "no NUL bytes in its first characters: it is UTF-8 or Windows-1252 text); try encoding: auto"
    )


def test_a_wrong_delimiter_names_the_one_the_header_contains(tmp_path: Path) -> None:
    declaration = declare(tmp_path, WIN_UNPIVOT.replace("mode: append\n", "mode: append\ndelimiter: tab\n"))
    with pytest.raises(VendorFileError) as refused:
        land(WIN, [declaration], tmp_path / "landing")
    assert str(refused.value) == (
        "sample_anonymized_file.csv: the header (line 1) is one cell when split on the declared delimiter (tab); "
        "it contains 43 comma characters: did you mean delimiter: comma?"
    )
    tab_separated = copy_with(tmp_path, WIN, "win.tsv", lambda i, line: line.replace(",", "\t"))
    comma = declare(tmp_path, WIN_UNPIVOT.replace('"*.csv"', '"*.tsv"'), "comma.yaml")
    with pytest.raises(VendorFileError, match=r"it contains 43 tab characters: did you mean delimiter: tab\?"):
        land(tab_separated, [comma], tmp_path / "landing")


def test_a_likely_typo_in_an_optional_column_is_named_with_the_nearest_header(tmp_path: Path) -> None:
    text = WIN_UNPIVOT.replace(
        "  - {name: test_date,",
        "  - {name: middle_name, columns: Middle Nmae, personal: true}\n"
        "  - {name: retake, columns: Retakes}\n"
        "  - {name: homeroom, columns: Homeroom}\n"
        "  - {name: test_date,",
    )
    result = land(WIN, [declare(tmp_path, text)], tmp_path / "landing")

    entity = result.entities["results"]
    assert entity.missing_columns == ["middle_name", "retake", "homeroom"]
    assert entity.nearest_columns == {"middle_name": "MiddleName", "retake": "Retake"}  # no header near Homeroom
    rows = landed(tmp_path / "landing", "win", "results", result.batch_id)
    assert {row["retake"] for row in rows} == {None}


# ------------------------------------------------------------------------------------------
# A.6 Derived fields: typed, across fields; reusable blocks
# ------------------------------------------------------------------------------------------

WIN_DERIVED = (
    WIN_HEAD
    + r"""
blocks:
  subject:
    - {name: level, columns: Lev, type: integer}
    - {name: scale_score, columns: SS, type: integer}
fields:
  - {name: student_id, columns: StudentID, not_null: true}
  - {name: test_admin, columns: TestAdmin}
  - {name: raw_date, columns: TestDate}
  - {use: subject, prefix: Math, name_prefix: math_}
  - {use: subject, prefix: Read, name_prefix: reading_}
derive:
  - from: [test_admin, student_id]
    pattern: '(?P<season>FA|WI|SP)(?P<yy>\d\d)\|(?P<id>\d+)'
    fields:
      season: {group: season, code_map: {FA: Fall, WI: Winter, SP: Spring}}
      school_year: {template: '20{yy}', type: integer}
      admin_key: {template: '{season}-{id}'}
  - from: raw_date
    pattern: '(?P<date>\d{8})|(?P<other>.*)'
    fields:
      test_date: {group: date, type: date, formats: ["%Y%m%d"]}
      test_year: {template: '{date}{other}', type: integer}
"""
)


def test_blocks_and_typed_derivations_across_fields(tmp_path: Path) -> None:
    declaration = declare(tmp_path, WIN_DERIVED)
    assert declaration.output_columns == [
        "student_id",
        "test_admin",
        "raw_date",
        "math_level",
        "math_scale_score",
        "reading_level",
        "reading_scale_score",
        "season",
        "school_year",
        "admin_key",
        "test_date",
        "test_year",
    ]
    result = land(WIN, [declaration], tmp_path / "landing")

    rows = landed(tmp_path / "landing", "win", "results", result.batch_id)
    tail = project(rows, "student_id", "math_scale_score", "reading_level", "season", "school_year", "admin_key")[3:]
    assert tail == [
        ("605103", "200", "3", "Fall", "2023", "FA-605103"),
        ("605104", "201", "1", "Spring", "2024", "SP-605104"),
    ]
    assert {row["test_date"] for row in rows} == {"2023-11-01", "2023-11-03", "2024-02-03"}


def test_a_typed_derived_value_that_does_not_parse_is_a_type_reject(tmp_path: Path) -> None:
    path = copy_with(
        tmp_path, WIN, "win.csv", lambda i, line: line.replace("20231103,", "Nov 3,", 1) if i == 3 else line
    )
    result = land(path, [declare(tmp_path, WIN_DERIVED)], tmp_path / "landing")

    [reject] = rejects(tmp_path / "landing", "win", result.batch_id)
    assert (reject["_source_ref"], reject["rule"], reject["field"]) == ("win.csv:4", "type", "test_year")
    assert reject["detail"] == "test_year: expected an integer, found 'Nov 3'"


def test_block_mistakes_are_named(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match=r"fields\[3\].use: no block named 'subjects' \(blocks: subject\)"):
        declare(tmp_path, WIN_DERIVED.replace("{use: subject, prefix: Math", "{use: subjects, prefix: Math"))
    with pytest.raises(DeclarationError, match="unknown keys beside use: type"):
        declare(tmp_path, WIN_DERIVED.replace("prefix: Math,", "prefix: Math, type: integer,"))
    with pytest.raises(DeclarationError, match="a date field needs formats"):
        declare(tmp_path, WIN_DERIVED.replace(', formats: ["%Y%m%d"]}', "}"))
