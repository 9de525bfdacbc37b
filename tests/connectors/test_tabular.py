"""Declarative vendor-file engine: declarations, text handling, row rules and refusals.

Every test writes real files into tmp_path and lands them into a real landing folder.
"""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors.tabular import (
    DeclarationError,
    FileDeclaration,
    VendorFileError,
    builtin_declarations,
    land_vendor_file,
    load_declaration,
    load_declarations,
)
from tests.samples import VENDOR_SAMPLES

AT = datetime(2025, 10, 1, 6, 0, 0, tzinfo=UTC)
LIMIT = 10_000_000

# A small vendor "score" file: exercises every type, a code map, a constant, a derive and a key.
SCORES_YAML = """\
name: demo_scores
system: demo_vendor
entity: scores
description: Demo score export used by the engine tests.
file_pattern: ["scores*.csv", "scores*.txt"]
mode: append
key: [student_id, test_date]
layouts:
  - {name: v2, columns: [Student ID, Window]}
  - {name: v1, columns: [StudentNumber]}
fields:
  - {name: student_id, columns: [Student ID, StudentNumber], required: true, not_null: true, personal: true}
  - {name: student_name, columns: Student Name, personal: true}
  - {name: window, columns: [Window, Term], required: true, not_null: true}
  - {name: test_date, columns: Test Date, type: date, formats: ["%m/%d/%Y", "%Y-%m-%d"], required: true}
  - {name: test_time, columns: Test Time, type: time}
  - {name: score, columns: Score, type: integer, required: true, not_null: true}
  - {name: std_error, columns: SEM, type: decimal}
  - {name: completed, columns: Completed, type: boolean, true_values: [Y], false_values: [N]}
  - {name: lexile, columns: Lexile, type: lexile}
  - {name: quantile, columns: Quantile, type: quantile}
  - name: level
    columns: Level
    code_map: {Below: below, "On": on_track, Above: above}
    unmapped: reject
  - {name: grade, columns: Grade, code_map: {K: "0"}}
  - {name: vendor, constant: Demo}
derive:
  - from: window
    pattern: '(?P<season>Fall|Winter|Spring) (?P<start_year>\\d{4})-(?P<end_year>\\d{4})'
    fields:
      season: season
      school_year: end_year
"""
HEADER = "Student ID,Student Name,Window,Test Date,Test Time,Score,SEM,Completed,Lexile,Quantile,Level,Grade"
GOOD = [
    "00123,Ava Smith,Fall 2025-2026,09/15/2025,09:05:00,201,3.2,Y,585L,1650Q,On,K",
    "00124,Tom Jones,Fall 2025-2026,2025-09-16,13:30,188,,N,BR120L,EM50Q,Below,3",
]
OUTPUT = [
    "student_id",
    "student_name",
    "window",
    "test_date",
    "test_time",
    "score",
    "std_error",
    "completed",
    "lexile",
    "quantile",
    "level",
    "grade",
    "vendor",
    "season",
    "school_year",
]
LINEAGE = ["_district_code", "_source_system", "_batch_id", "_extracted_at", "_source_ref"]


# ------------------------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------------------------


def declaration(tmp_path: Path, text: str = SCORES_YAML, name: str = "scores.yaml") -> FileDeclaration:
    path = tmp_path / "decl" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return load_declaration(path)


def write(tmp_path: Path, name: str, content: str | bytes, *, nl: str = "\n") -> Path:
    path = tmp_path / "drop" / name
    path.parent.mkdir(exist_ok=True)
    if isinstance(content, str):
        content = content.replace("\n", nl).encode("utf-8")
    path.write_bytes(content)
    return path


def scores_csv(rows: list[str] | None = None, header: str = HEADER) -> str:
    return "\n".join([header, *(GOOD if rows is None else rows)]) + "\n"


def land(path: Path, decls: list[FileDeclaration], root: Path, **kwargs):
    kwargs.setdefault("max_uncompressed_bytes", LIMIT)
    kwargs.setdefault("extracted_at", AT)
    return land_vendor_file(path, decls, root, district_code="d001", **kwargs)


def read(root: Path, system: str, entity: str, batch_id: str) -> list[dict]:
    return pq.read_table(root / system / entity / f"{batch_id}.parquet").to_pylist()


def rejects(root: Path, batch_id: str, system: str = "demo_vendor") -> list[dict]:
    return read(root, system, "_rejects", batch_id)


def batch_details(root: Path, batch_id: str, system: str = "demo_vendor") -> dict:
    record = read(root, system, "_batches", batch_id)[0]
    return json.loads(record["details"])


def assert_nothing_landed(root: Path) -> None:
    files = sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
    assert files == []
    assert not list(root.glob("*/.tmp-*"))


@pytest.fixture
def scores(tmp_path: Path) -> FileDeclaration:
    return declaration(tmp_path)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "landing"


# ------------------------------------------------------------------------------------------
# Declarations
# ------------------------------------------------------------------------------------------


def test_declaration_loads_with_yaml_scalars_kept_as_text(scores: FileDeclaration) -> None:
    level = next(f for f in scores.fields if f.name == "level")
    grade = next(f for f in scores.fields if f.name == "grade")
    assert level.code_map == {"Below": "below", "On": "on_track", "Above": "above"}  # "On" is not True
    assert grade.code_map == {"K": "0"}
    assert scores.output_columns == OUTPUT
    assert scores.mode == "append" and scores.header_row == 1 and scores.delimiter == ","


def test_unknown_key_is_refused_naming_the_key_path(tmp_path: Path) -> None:
    text = SCORES_YAML.replace("type: time}", "type: time, fromat: '%H'}")
    with pytest.raises(DeclarationError) as info:
        declaration(tmp_path, text)
    message = str(info.value)
    assert "scores.yaml" in message
    assert "fields[4].fromat (field test_time): unknown key" in message


def test_top_level_unknown_key_and_bad_values_are_all_listed(tmp_path: Path) -> None:
    text = SCORES_YAML.replace("mode: append", "mode: sometimes\nschedule: daily").replace(
        "type: integer, required", "type: number, required"
    )
    with pytest.raises(DeclarationError) as info:
        declaration(tmp_path, text)
    message = str(info.value)
    assert "schedule: unknown key" in message
    assert "mode: Input should be 'snapshot' or 'append'" in message
    assert "fields[5].type (field score)" in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("key: [student_id, test_date]", "key: [student_id, test_day]"), "key: not declared fields: test_day"),
        (("from: window", "from: term"), "derive[0].from: 'term' is not one of the fields"),
        (("season: season", "season: quarter"), "uses groups not in the pattern: quarter"),
        (('formats: ["%m/%d/%Y", "%Y-%m-%d"], ', ""), "a date field needs formats"),
        (("type: time}", "type: time, true_values: [Y]}"), "true_values/false_values apply only to boolean"),
        (("{name: vendor, constant: Demo}", "{name: vendor}"), "needs columns (header names) or a constant"),
        (("{name: grade, columns: Grade,", "{name: student_id, columns: Grade,"), "used more than once"),
        (("system: demo_vendor", "system: Demo Vendor"), "system: String should match pattern"),
    ],
)
def test_invalid_declarations_name_the_problem(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    text = SCORES_YAML.replace(*change)
    assert text != SCORES_YAML
    with pytest.raises(DeclarationError, match="invalid file declaration") as info:
        declaration(tmp_path, text)
    assert expected in str(info.value)


def test_constant_is_checked_against_its_type(tmp_path: Path) -> None:
    text = SCORES_YAML.replace("{name: vendor, constant: Demo}", "{name: vendor, constant: Demo, type: integer}")
    with pytest.raises(DeclarationError, match=r"fields\[12\] \(field vendor\): constant is not an integer"):
        declaration(tmp_path, text)


def test_load_declarations_reads_folders_and_refuses_repeated_names(tmp_path: Path) -> None:
    declaration(tmp_path, SCORES_YAML, "a.yaml")
    declaration(tmp_path, SCORES_YAML, "b.yml")
    with pytest.raises(DeclarationError, match="declaration name 'demo_scores' is also used by"):
        load_declarations([tmp_path / "decl"])
    (tmp_path / "decl" / "b.yml").unlink()
    assert list(load_declarations([tmp_path / "decl"])) == ["demo_scores"]


def test_missing_and_malformed_declaration_files(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match="not found"):
        load_declaration(tmp_path / "nope.yaml")
    with pytest.raises(DeclarationError, match="expected a mapping"):
        declaration(tmp_path, "- just\n- a list\n")


def test_builtin_declarations_load() -> None:
    builtins = builtin_declarations()
    assert {
        "nwea_map_assessment_results",
        "nwea_map_students_by_school",
        "nwea_map_class_assignments",
        "iready_diagnostic_ela",
        "iready_diagnostic_math",
        "sis_attendance",
    } <= set(builtins)


def test_declarations_of_one_drop_must_share_a_system(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    other = builtin_declarations()["sis_attendance"]
    with pytest.raises(DeclarationError, match="share one system"):
        land(write(tmp_path, "scores.csv", scores_csv()), [scores, other], root)


# ------------------------------------------------------------------------------------------
# Happy path and normalisation
# ------------------------------------------------------------------------------------------


def test_values_are_normalised_and_lineage_added(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    result = land(write(tmp_path, "scores_fall.csv", scores_csv()), [scores], root)

    assert not result.already_landed
    assert result.rows_landed == {"scores": 2} and result.rows_rejected == {"scores": 0}
    table = pq.read_table(root / "demo_vendor" / "scores" / f"{result.batch_id}.parquet")
    assert table.column_names == [*OUTPUT, *LINEAGE]
    ava, tom = table.to_pylist()
    assert ava["student_id"] == "00123"  # leading zeros kept
    assert ava["test_date"] == "2025-09-15" and tom["test_date"] == "2025-09-16"
    assert ava["test_time"] == "09:05:00" and tom["test_time"] == "13:30:00"
    assert ava["score"] == "201" and ava["std_error"] == "3.2" and tom["std_error"] is None
    assert ava["completed"] == "true" and tom["completed"] == "false"
    assert ava["lexile"] == "585" and tom["lexile"] == "-120"
    assert ava["quantile"] == "1650" and tom["quantile"] == "-50"
    assert ava["level"] == "on_track" and tom["level"] == "below"
    assert ava["grade"] == "0" and tom["grade"] == "3"
    assert ava["vendor"] == "Demo"
    assert ava["season"] == "Fall" and ava["school_year"] == "2026"
    assert ava["_source_ref"] == "scores_fall.csv:2" and tom["_source_ref"] == "scores_fall.csv:3"
    assert ava["_district_code"] == "d001" and ava["_source_system"] == "demo_vendor"

    entity = result.entities["scores"]
    assert entity.declaration == "demo_scores" and entity.layout == "v2"
    assert entity.header == HEADER.split(",") and entity.encoding == "utf-8"
    details = batch_details(root, result.batch_id)["entities"]["scores"]
    assert details["declaration"] == "demo_scores" and details["mode"] == "append"
    assert details["header"] == HEADER.split(",") and details["unknown_columns"] == []
    assert details["derived_values"] == {"school_year": ["2026"], "season": ["Fall"]}


def test_header_names_match_case_and_whitespace_insensitively(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    header = HEADER.replace("Student ID", " STUDENTID ").replace("Test Date", "test  date")
    result = land(write(tmp_path, "scores.csv", scores_csv(header=header)), [scores], root)
    rows = read(root, "demo_vendor", "scores", result.batch_id)
    assert [r["student_id"] for r in rows] == ["00123", "00124"]
    assert rows[0]["test_date"] == "2025-09-15"


def test_historical_column_names_and_layouts(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    header = "StudentNumber,Term,Test Date,Score"
    rows = ["777,Spring 2024-2025,04/02/2025,210"]
    result = land(write(tmp_path, "scores_old.csv", scores_csv(rows, header)), [scores], root)
    landed = read(root, "demo_vendor", "scores", result.batch_id)[0]
    assert landed["student_id"] == "777" and landed["window"] == "Spring 2024-2025"
    assert landed["school_year"] == "2025" and landed["lexile"] is None
    entity = result.entities["scores"]
    assert entity.layout == "v1"
    assert "lexile" in entity.missing_columns and "vendor" not in entity.missing_columns


def test_extra_columns_land_and_are_listed(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    header = HEADER + ",Proctor Notes,Room"
    rows = [row + ",quiet,12" for row in GOOD]
    result = land(write(tmp_path, "scores.csv", scores_csv(rows, header)), [scores], root)
    assert result.rows_landed == {"scores": 2}
    assert result.entities["scores"].unknown_columns == ["Proctor Notes", "Room"]
    details = batch_details(root, result.batch_id)["entities"]["scores"]
    assert details["unknown_columns"] == ["Proctor Notes", "Room"]


def test_header_row_skips_title_lines(tmp_path: Path, root: Path) -> None:
    decl = declaration(tmp_path, SCORES_YAML.replace("mode: append", "mode: append\nheader_row: 3"))
    text = "Demo Vendor export\nGenerated 10/01/2025, all schools\n" + scores_csv()
    result = land(write(tmp_path, "scores.csv", text), [decl], root)
    rows = read(root, "demo_vendor", "scores", result.batch_id)
    assert [r["_source_ref"] for r in rows] == ["scores.csv:4", "scores.csv:5"]


def test_tab_delimited_file(tmp_path: Path, root: Path) -> None:
    decl = declaration(tmp_path, SCORES_YAML.replace("mode: append", "mode: append\ndelimiter: tab"))
    text = scores_csv([r.replace(",", "\t") for r in GOOD], HEADER.replace(",", "\t"))
    result = land(write(tmp_path, "scores.txt", text), [decl], root)
    assert result.rows_landed == {"scores": 2}


# ------------------------------------------------------------------------------------------
# Text: encodings, line endings, quoting
# ------------------------------------------------------------------------------------------


def test_windows_1252_file_is_detected(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    rows = ["00125,Zoë Renée,Fall 2025-2026,09/15/2025,,190,,,,,Above,5", *GOOD]
    path = write(tmp_path, "scores.csv", scores_csv(rows).encode("cp1252"))
    result = land(path, [scores], root)
    landed = read(root, "demo_vendor", "scores", result.batch_id)
    assert landed[0]["student_name"] == "Zoë Renée"
    assert result.entities["scores"].encoding == "cp1252"
    assert batch_details(root, result.batch_id)["entities"]["scores"]["encoding"] == "cp1252"
    assert not list(root.glob("*/.tmp-*"))


def test_windows_1252_detected_late_in_a_large_file(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    # The first undecodable byte sits far beyond the first read: the attempt restarts cleanly.
    rows = [f"{i:05d},Student,Fall 2025-2026,09/15/2025,,200,,,,,On,4" for i in range(3000)]
    rows.append("99999,José,Fall 2025-2026,09/15/2025,,200,,,,,On,4")
    result = land(write(tmp_path, "scores.csv", scores_csv(rows).encode("cp1252")), [scores], root)
    assert result.rows_landed == {"scores": 3001}
    assert read(root, "demo_vendor", "scores", result.batch_id)[-1]["student_name"] == "José"


def test_utf8_with_bom_and_crlf(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    text = scores_csv(["00126,Zoë,Fall 2025-2026,09/15/2025,,190,,,,,Above,5"])
    path = write(tmp_path, "scores.csv", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    result = land(path, [scores], root)
    row = read(root, "demo_vendor", "scores", result.batch_id)[0]
    assert row["student_id"] == "00126" and row["student_name"] == "Zoë" and row["grade"] == "5"
    assert result.entities["scores"].header[0] == "Student ID"
    assert result.entities["scores"].encoding == "utf-8-sig"


def test_declared_utf8_still_drops_a_bom_from_the_header(tmp_path: Path, root: Path) -> None:
    decl = declaration(tmp_path, SCORES_YAML.replace("mode: append", "mode: append\nencoding: utf-8"))
    path = write(tmp_path, "scores.csv", b"\xef\xbb\xbf" + scores_csv().encode("utf-8"))
    result = land(path, [decl], root)
    assert result.entities["scores"].header[0] == "Student ID"


def test_quoted_delimiters_and_newlines(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    rows = [
        '00127,"Smith, Ava",Fall 2025-2026,09/15/2025,,200,,,,,On,4',
        '00128,"Line one\nline two",Fall 2025-2026,09/15/2025,,201,,,,,On,4',
        "00129,Tom,Fall 2025-2026,09/15/2025,,202,,,,,On,4",
    ]
    result = land(write(tmp_path, "scores.csv", scores_csv(rows), nl="\r\n"), [scores], root)
    landed = read(root, "demo_vendor", "scores", result.batch_id)
    assert [r["student_name"] for r in landed] == ["Smith, Ava", "Line one\r\nline two", "Tom"]
    # The record after the embedded line break starts on physical line 5, not 4.
    assert [r["_source_ref"] for r in landed] == ["scores.csv:2", "scores.csv:3", "scores.csv:5"]


def test_missing_final_newline_is_fine_when_the_record_is_complete(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    result = land(write(tmp_path, "scores.csv", scores_csv().rstrip("\n")), [scores], root)
    assert result.rows_landed == {"scores": 2}


def test_blank_lines_and_trailing_empty_cells_are_tolerated(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    rows = [GOOD[0] + ",,", "", ",,,,,,,,,,,", GOOD[1]]
    result = land(write(tmp_path, "scores.csv", scores_csv(rows)), [scores], root)
    assert result.rows_landed == {"scores": 2} and result.rejects_by_rule == {}
    assert batch_details(root, result.batch_id)["entities"]["scores"]["blank_rows"] == 2
    assert result.entities["scores"].warnings == {"trailing_empty_fields": 1}


# ------------------------------------------------------------------------------------------
# Row rejects
# ------------------------------------------------------------------------------------------


def test_row_rules_reject_with_rule_field_line_and_no_personal_values(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    rows = [
        *GOOD,
        "00130,Ana Secret,Fall 2025-2026,13/45/2025,,200,,,,,On,4",  # 4: bad date
        "00131,Bo,Fall 2025-2026,09/15/2025,,high,,,,,On,4",  # 5: score not an integer
        ",Cy Secret,Fall 2025-2026,09/15/2025,,200,,,,,On,4",  # 6: blank student id
        "00132,Di,Fall 2025-2026,09/15/2025,,200,,,,,Sideways,4",  # 7: unmapped level
        "00133,Ed,Fall 2025-2026,09/15/2025,,200",  # 8: too few fields
        "00123,Ava Again,Fall 2025-2026,09/15/2025,,205,,,,,On,K",  # 9: duplicate of line 2
        "00134,Fi,Autumn 2025,09/15/2025,,200,,,,,On,4",  # 10: window does not derive
        "00135,Gus,Fall 2025-2026,09/15/2025,,200,,maybe,12X,,On,4",  # 11: boolean and lexile
        '00136,"Hal"x,Fall 2025-2026,09/15/2025,,200,,,,,On,4',  # 12: text after a closing quote
        "00137,Ivy,Fall 2025-2026,09/16/2025,,200,,,,,on,4",  # 13: code map is case-insensitive
    ]
    result = land(write(tmp_path, "scores.csv", scores_csv(rows)), [scores], root)

    assert result.rows_landed == {"scores": 3}
    assert result.rows_rejected == {"scores": 9}
    assert result.rejects_by_rule == {
        "type": 3,
        "not_null": 1,
        "unmapped_code": 1,
        "field_count": 1,
        "duplicate_row": 1,
        "derive": 1,
        "quoting": 1,
    }
    by_line = {r["_source_ref"].rsplit(":", 1)[1]: r for r in rejects(root, result.batch_id)}
    assert by_line["4"]["rule"] == "type" and by_line["4"]["field"] == "test_date"
    assert by_line["4"]["detail"] == "test_date: expected a date as %m/%d/%Y or %Y-%m-%d, found '13/45/2025'"
    assert by_line["5"]["rule"] == "type" and by_line["5"]["field"] == "score"
    assert "expected an integer, found 'high'" in by_line["5"]["detail"]
    assert by_line["6"]["rule"] == "not_null" and by_line["6"]["field"] == "student_id"
    assert by_line["7"]["rule"] == "unmapped_code" and "'Sideways'" in by_line["7"]["detail"]
    assert by_line["8"]["rule"] == "field_count" and "expected 12 fields" in by_line["8"]["detail"]
    assert by_line["9"]["rule"] == "duplicate_row"
    assert by_line["9"]["detail"] == "same key (student_id, test_date) as line 2"
    assert by_line["10"]["rule"] == "derive" and by_line["10"]["field"] == "window"
    assert by_line["11"]["field"] == "completed" and "lexile" in by_line["11"]["detail"]
    assert by_line["12"]["rule"] == "quoting"
    assert by_line["4"]["_source_ref"] == "scores.csv:4"
    # Personal values stay in raw_record only.
    for reject in by_line.values():
        for secret in ("Secret", "00123", "00130", "Ava Again"):
            assert secret not in (reject["detail"] or "")
    assert json.loads(by_line["4"]["raw_record"])["Student Name"] == "Ana Secret"
    landed = read(root, "demo_vendor", "scores", result.batch_id)
    assert [r["student_id"] for r in landed] == ["00123", "00124", "00137"]


def test_type_errors_on_personal_fields_do_not_quote_the_value(tmp_path: Path, root: Path) -> None:
    decl = declaration(
        tmp_path,
        SCORES_YAML.replace(
            "{name: test_time, columns: Test Time, type: time}",
            "{name: test_time, columns: Test Time, type: time, personal: true}",
        ),
    )
    rows = ["00140,Jo,Fall 2025-2026,09/15/2025,25:99:00,200,,,,,On,4", GOOD[0]]
    result = land(write(tmp_path, "scores.csv", scores_csv(rows)), [decl], root)
    (reject,) = rejects(root, result.batch_id)
    assert reject["field"] == "test_time" and "25:99" not in reject["detail"]
    assert "personal: not shown" in reject["detail"]


# ------------------------------------------------------------------------------------------
# Refused files: nothing lands
# ------------------------------------------------------------------------------------------


def test_empty_file_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    with pytest.raises(VendorFileError, match=r"scores\.csv: empty file \(0 bytes\)"):
        land(write(tmp_path, "scores.csv", b""), [scores], root)
    assert_nothing_landed(root)


def test_blank_only_file_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    with pytest.raises(VendorFileError, match="no header row"):
        land(write(tmp_path, "scores.csv", "\n  \n"), [scores], root)
    assert_nothing_landed(root)


def test_header_only_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    with pytest.raises(VendorFileError, match="header only, no data rows") as info:
        land(write(tmp_path, "scores.csv", HEADER + "\n\n"), [scores], root)
    assert "scores.csv" in str(info.value)
    assert_nothing_landed(root)


def test_missing_required_columns_are_listed_with_the_columns_found(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    header = "Student ID,Student Name,Test Date"
    with pytest.raises(VendorFileError) as info:
        land(write(tmp_path, "scores.csv", scores_csv(["1,A,09/15/2025"], header)), [scores], root)
    message = str(info.value)
    assert "scores.csv: missing required columns for demo_scores" in message
    assert "Window or Term; Score" in message
    assert "Found: Student ID, Student Name, Test Date" in message
    assert_nothing_landed(root)


def test_a_data_row_where_the_header_should_be_is_not_echoed(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    with pytest.raises(VendorFileError) as info:
        land(write(tmp_path, "scores.csv", "\n".join(GOOD) + "\n"), [scores], root)
    message = str(info.value)
    assert "missing required columns" in message and "not shown" in message
    assert "Ava" not in message and "00123" not in message
    assert_nothing_landed(root)


def test_no_declaration_matches_the_file_name(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    with pytest.raises(VendorFileError) as info:
        land(write(tmp_path, "roster.csv", scores_csv()), [scores], root)
    message = str(info.value)
    assert "roster.csv: no declaration matches this file name" in message
    assert "demo_scores: scores*.csv, scores*.txt" in message
    assert_nothing_landed(root)


def test_truncated_last_line_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    text = scores_csv() + "00150,Cut,Fall 2025-2026,09/1"
    with pytest.raises(VendorFileError, match=r"scores\.csv: truncated file: the last record \(line 4\) has 4 of 12"):
        land(write(tmp_path, "scores.csv", text), [scores], root)
    assert_nothing_landed(root)


def test_a_header_run_on_into_the_first_record_refuses_the_file(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    """The header's line break lost: the first record continues it (its cells are unknown
    columns; the header's last column, Grade, is optional) and every later record is short. No
    reject could hold that first record, so the file is refused whole instead of landing."""
    rows = [*GOOD, "00125,Mia Diaz,Fall 2025-2026,09/17/2025,10:00,195,2.9,Y,600L,1700Q,On,2"]
    text = scores_csv(rows).replace("\n", "", 1)
    with pytest.raises(VendorFileError, match=r"scores\.csv: every record has fewer fields than the header \(12 at"):
        land(write(tmp_path, "scores.csv", text), [scores], root)
    assert_nothing_landed(root)


def test_file_ending_inside_a_quoted_field_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    text = scores_csv() + '00151,"Cut off in the mid'
    with pytest.raises(VendorFileError, match="truncated file: the record starting at line 4 is still inside a quoted"):
        land(write(tmp_path, "scores.csv", text), [scores], root)
    assert_nothing_landed(root)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 40, "binary content (a ZIP archive or Excel .xlsx workbook)"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "binary content (a legacy Excel .xls workbook)"),
        (HEADER.encode() + b"\n\x00\x01\x02\x03,4\n", "NUL bytes at line 2"),
        (HEADER.encode() + b"\n1,\x81\x8d\x8f\x90\x9d\n", "not valid cp1252 text"),
    ],
)
def test_binary_or_garbage_content_is_refused(
    tmp_path: Path, scores: FileDeclaration, root: Path, content: bytes, expected: str
) -> None:
    with pytest.raises(VendorFileError) as info:
        land(write(tmp_path, "scores.csv", content), [scores], root)
    assert expected in str(info.value) and "scores.csv" in str(info.value)
    assert_nothing_landed(root)


def test_snapshot_with_every_row_rejected_is_refused(tmp_path: Path, root: Path) -> None:
    decl = declaration(tmp_path, SCORES_YAML.replace("mode: append", "mode: snapshot"))
    rows = ["1,A,Fall 2025-2026,09/15/2025,,x,,,,,On,4", "2,B,Fall 2025-2026,09/15/2025,,y,,,,,On,4"]
    with pytest.raises(VendorFileError, match=r"none of the 2 rows passed the rules \(type 2\)"):
        land(write(tmp_path, "scores.csv", scores_csv(rows)), [decl], root)
    assert_nothing_landed(root)


def test_column_named_twice_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    header = HEADER + ",Score"
    rows = [row + ",1" for row in GOOD]
    with pytest.raises(VendorFileError, match="column 'Score' appears 2 times in the header"):
        land(write(tmp_path, "scores.csv", scores_csv(rows, header)), [scores], root)
    assert_nothing_landed(root)


# ------------------------------------------------------------------------------------------
# Idempotency and zips
# ------------------------------------------------------------------------------------------


def test_same_bytes_twice_even_renamed_land_once(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    first = land(write(tmp_path, "scores_fall.csv", scores_csv()), [scores], root)
    again = land(write(tmp_path, "scores_fall_copy.csv", scores_csv()), [scores], root)
    assert again.already_landed and again.batch_id == first.batch_id
    assert again.rows_landed == {} and again.entities == {}
    assert len(list((root / "demo_vendor" / "_batches").iterdir())) == 1


def write_zip(path: Path, members: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            zf.writestr(zipfile.ZipInfo(name), content)
    return path


def test_zip_member_matched_by_pattern_and_others_listed(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    members = {
        "scores_2025.csv": scores_csv(),
        "readme.txt": "hello",
        "__MACOSX/._scores_2025.csv": b"\x00\x05\x16\x07",  # macOS resource fork, not data
    }
    result = land(write_zip(tmp_path / "export.zip", members), [scores], root)
    assert result.rows_landed == {"scores": 2}
    assert result.files_not_ingested == ["__MACOSX/._scores_2025.csv", "readme.txt"]
    rows = read(root, "demo_vendor", "scores", result.batch_id)
    assert rows[0]["_source_ref"] == "export.zip!scores_2025.csv:2"
    details = batch_details(root, result.batch_id)
    assert details["files_not_ingested"] == ["__MACOSX/._scores_2025.csv", "readme.txt"]
    assert details["entities"]["scores"]["member"] == "scores_2025.csv"


def test_zip_with_unsafe_member_path_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    archive = write_zip(tmp_path / "export.zip", {"scores.csv": scores_csv(), "../x.csv": "a,b\n1,2\n"})
    with pytest.raises(VendorFileError, match=r"export\.zip: member '\.\./x\.csv' has an unsafe path"):
        land(archive, [scores], root)
    assert_nothing_landed(root)


def test_zip_with_a_refused_member_lands_nothing(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    archive = write_zip(tmp_path / "export.zip", {"scores_a.csv": scores_csv(), "scores_b.csv": HEADER + "\n"})
    with pytest.raises(VendorFileError, match="would all land as entity 'scores'"):
        land(archive, [scores], root)
    solo = write_zip(tmp_path / "solo.zip", {"scores_b.csv": HEADER + "\n"})
    with pytest.raises(VendorFileError, match=r"solo\.zip!scores_b\.csv: header only"):
        land(solo, [scores], root)
    assert_nothing_landed(root)


def test_zip_without_any_matching_member_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    archive = write_zip(tmp_path / "export.zip", {"other.csv": "a\n1\n"})
    with pytest.raises(VendorFileError, match=r"export\.zip: no member matches a declaration.*found other\.csv"):
        land(archive, [scores], root)
    assert_nothing_landed(root)


def test_zip_too_large_is_refused(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    archive = write_zip(tmp_path / "export.zip", {"scores.csv": scores_csv()})
    with pytest.raises(VendorFileError, match="exceeds the limit"):
        land(archive, [scores], root, max_uncompressed_bytes=10)
    assert_nothing_landed(root)


# ------------------------------------------------------------------------------------------
# Tolerated defects: they land and are counted as warnings
# ------------------------------------------------------------------------------------------


def entity_warnings(root: Path, batch_id: str, entity: str = "scores") -> dict[str, int]:
    return batch_details(root, batch_id)["entities"][entity]["warnings"]


def test_clean_file_has_no_warnings(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    result = land(write(tmp_path, "scores.csv", scores_csv()), [scores], root)
    assert result.entities["scores"].warnings == {} and result.warnings_by_entity == {}
    assert entity_warnings(root, result.batch_id) == {}


def test_trailing_empty_fields_beyond_the_header_are_ignored_and_counted(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    rows = [GOOD[0] + ",", GOOD[1] + ", ,,"]
    result = land(write(tmp_path, "scores.csv", scores_csv(rows)), [scores], root)
    assert result.rows_landed == {"scores": 2} and result.rejects_by_rule == {}
    first, second = read(root, "demo_vendor", "scores", result.batch_id)
    assert first["grade"] == "0" and second["grade"] == "3"
    assert result.entities["scores"].warnings == {"trailing_empty_fields": 2}
    assert result.warnings_by_entity == {"scores": {"trailing_empty_fields": 2}}
    assert entity_warnings(root, result.batch_id) == {"trailing_empty_fields": 2}


def test_a_non_empty_field_beyond_the_header_still_rejects_the_row(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    rows = [GOOD[0], GOOD[1] + ",,extra"]
    result = land(write(tmp_path, "scores.csv", scores_csv(rows)), [scores], root)
    assert result.rows_landed == {"scores": 1} and result.rejects_by_rule == {"field_count": 1}
    (reject,) = rejects(root, result.batch_id)
    assert reject["rule"] == "field_count" and reject["field"] is None
    assert reject["_source_ref"] == "scores.csv:3"
    assert reject["detail"] == "expected 12 fields as in the header, found 14"
    assert json.loads(reject["raw_record"])["_extra_2"] == "extra"
    assert result.entities["scores"].warnings == {}


@pytest.mark.parametrize("final_newline", [False, True])
def test_last_record_short_by_optional_fields_lands_with_them_null(
    tmp_path: Path, scores: FileDeclaration, root: Path, final_newline: bool
) -> None:
    # The exporter dropped the last record's final cells (Level, Grade): both are optional.
    short = "00125,Lee,Fall 2025-2026,09/17/2025,,190,,,,"
    text = scores_csv([*GOOD, short]).rstrip("\n") + ("\n" if final_newline else "")
    result = land(write(tmp_path, "scores.csv", text), [scores], root)
    assert result.rows_landed == {"scores": 3} and result.rejects_by_rule == {}
    last = read(root, "demo_vendor", "scores", result.batch_id)[-1]
    assert last["student_id"] == "00125" and last["score"] == "190"
    assert last["level"] is None and last["grade"] is None and last["vendor"] == "Demo"
    assert last["_source_ref"] == "scores.csv:4"
    assert result.entities["scores"].warnings == {"short_last_record": 1}
    assert entity_warnings(root, result.batch_id) == {"short_last_record": 1}


def test_short_record_before_the_last_is_still_rejected(tmp_path: Path, scores: FileDeclaration, root: Path) -> None:
    short = "00125,Lee,Fall 2025-2026,09/17/2025,,190,,,,"
    result = land(write(tmp_path, "scores.csv", scores_csv([GOOD[0], short, "", GOOD[1]])), [scores], root)
    assert result.rows_landed == {"scores": 2} and result.rejects_by_rule == {"field_count": 1}
    (reject,) = rejects(root, result.batch_id)
    assert reject["_source_ref"] == "scores.csv:3"
    assert [r["_source_ref"] for r in read(root, "demo_vendor", "scores", result.batch_id)] == [
        "scores.csv:2",
        "scores.csv:5",
    ]
    assert result.entities["scores"].warnings == {}


def test_last_record_short_by_a_required_field_is_refused_as_truncated(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    # Stops before Score (required, not_null): a cut download, whatever the rest would have held.
    text = scores_csv() + "00150,Cut,Fall 2025-2026,09/17/2025,"
    with pytest.raises(VendorFileError) as info:
        land(write(tmp_path, "scores.csv", text), [scores], root)
    message = str(info.value)
    assert "scores.csv: truncated file: the last record (line 4) has 5 of 12 fields" in message
    assert "lacks required fields score" in message and "00150" not in message
    assert_nothing_landed(root)


def test_last_record_short_by_a_required_field_with_a_final_newline_is_a_reject(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    text = scores_csv([*GOOD, "00150,Cut,Fall 2025-2026,09/17/2025,"])
    result = land(write(tmp_path, "scores.csv", text), [scores], root)
    assert result.rows_landed == {"scores": 2} and result.rejects_by_rule == {"field_count": 1}
    assert result.entities["scores"].warnings == {}


def test_a_short_last_record_that_fails_a_rule_is_rejected_not_counted(
    tmp_path: Path, scores: FileDeclaration, root: Path
) -> None:
    text = scores_csv([*GOOD, "00125,Lee,Fall 2025-2026,09/17/2025,,high,,,,"]).rstrip("\n")
    result = land(write(tmp_path, "scores.csv", text), [scores], root)
    assert result.rows_landed == {"scores": 2} and result.rejects_by_rule == {"type": 1}
    assert result.entities["scores"].warnings == {}


# A score file whose typed and string fields meet vendor sentinels.
SENTINEL_HEADER = "Student ID,Student Name,Window,Test Date,Score,SEM,Completed,Test Time,Grade,Level"


def sentinel_yaml(extra_top: str = "", sem: str = "", level: str = "") -> str:
    return f"""\
name: demo_sentinels
system: demo_vendor
entity: scores
description: Score export with vendor null sentinels.
file_pattern: "scores*.csv"
mode: append
{extra_top}
fields:
  - {{name: student_id, columns: Student ID, required: true, not_null: true, personal: true}}
  - {{name: student_name, columns: Student Name, personal: true}}
  - {{name: window, columns: Window, required: true, not_null: true}}
  - {{name: test_date, columns: Test Date, type: date, formats: ["%m/%d/%Y"], required: true}}
  - {{name: score, columns: Score, type: integer, required: true, not_null: true}}
  - {{name: std_error, columns: SEM, type: decimal{sem}}}
  - {{name: completed, columns: Completed, type: boolean, true_values: [Y], false_values: [N]}}
  - {{name: test_time, columns: Test Time, type: time}}
  - {{name: grade, columns: Grade}}
  - {{name: level, columns: Level{level}}}
"""


def sentinel_csv(rows: list[str]) -> str:
    return "\n".join([SENTINEL_HEADER, *rows]) + "\n"


def test_sentinels_in_optional_typed_fields_land_as_null_and_are_counted(tmp_path: Path, root: Path) -> None:
    decl = declaration(tmp_path, sentinel_yaml())
    rows = [
        "1,NA,Fall 2025-2026,09/15/2025,201,N/A,Not Provided,--,NA,N/A",
        "2,Ava,Fall 2025-2026,09/15/2025,202,n/a,*,NULL,3,On",
        "3,Bo,Fall 2025-2026,09/15/2025,203,No Score,N/A*,-,4,On",
        "4,Cy,Fall 2025-2026,  NA  ,204,3.1,Y,,5,On",
    ]
    result = land(write(tmp_path, "scores.csv", sentinel_csv(rows)), [decl], root)
    assert result.rows_landed == {"scores": 4} and result.rejects_by_rule == {}
    first, second, third, fourth = read(root, "demo_vendor", "scores", result.batch_id)
    for row in (first, second, third):
        assert row["std_error"] is None and row["completed"] is None and row["test_time"] is None
    assert fourth["test_date"] is None and fourth["std_error"] == "3.1" and fourth["completed"] == "true"
    # String fields keep the text: "NA" may be initials, a grade code or a real level.
    assert first["student_name"] == "NA" and first["grade"] == "NA" and first["level"] == "N/A"
    expected = {
        "null_sentinel:completed": 3,
        "null_sentinel:std_error": 3,
        "null_sentinel:test_date": 1,
        "null_sentinel:test_time": 3,
    }
    assert result.entities["scores"].warnings == expected
    assert entity_warnings(root, result.batch_id) == expected


def test_sentinel_in_a_not_null_field_rejects_the_row_without_quoting_values(tmp_path: Path, root: Path) -> None:
    # student_id is a string: it takes the shared sentinels only because it opts in.
    text = sentinel_yaml().replace(
        "not_null: true, personal: true}", "not_null: true, personal: true, null_sentinels: true}"
    )
    decl = declaration(tmp_path, text)
    rows = [
        "1,Ava,Fall 2025-2026,09/15/2025,201,,Y,,3,On",
        "2,Bo Secret,Fall 2025-2026,09/15/2025,N/A,N/A,Y,,3,On",  # required score is N/A
        "N/A,Cy Secret,Fall 2025-2026,09/15/2025,203,,Y,,3,On",  # required personal id is N/A
    ]
    result = land(write(tmp_path, "scores.csv", sentinel_csv(rows)), [decl], root)
    assert result.rows_landed == {"scores": 1} and result.rejects_by_rule == {"not_null": 2}
    by_line = {r["_source_ref"]: r for r in rejects(root, result.batch_id)}
    score = by_line["scores.csv:3"]
    assert score["rule"] == "not_null" and score["field"] == "score"
    assert score["detail"] == "score: required value is a null sentinel"
    student = by_line["scores.csv:4"]
    assert student["field"] == "student_id" and student["detail"] == "student_id: required value is a null sentinel"
    for reject in by_line.values():
        assert "Secret" not in reject["detail"] and "N/A" not in reject["detail"]
    # The rejected row's optional sentinel (std_error N/A) is not counted: nothing of it landed.
    assert result.entities["scores"].warnings == {}


def test_declaration_level_custom_sentinel(tmp_path: Path, root: Path) -> None:
    rows = ["1,Ava,Fall 2025-2026,09/15/2025,201,Not Tested,not tested,,3,Not Tested"]
    plain = declaration(tmp_path, sentinel_yaml(), name="plain.yaml")
    refused = land(write(tmp_path, "scores.csv", sentinel_csv(rows)), [plain], tmp_path / "a")
    assert refused.rejects_by_rule == {"type": 1}  # without the declaration's list: not a decimal

    custom = declaration(tmp_path, sentinel_yaml('null_values: ["Not Tested"]'), name="custom.yaml")
    result = land(write(tmp_path, "scores.csv", sentinel_csv(rows)), [custom], root)
    assert result.rows_landed == {"scores": 1} and result.rejects_by_rule == {}
    (row,) = read(root, "demo_vendor", "scores", result.batch_id)
    assert row["std_error"] is None and row["completed"] is None
    assert row["level"] == "Not Tested"  # a string field takes the shared list only when it opts in
    assert result.entities["scores"].warnings == {"null_sentinel:completed": 1, "null_sentinel:std_error": 1}


def test_field_level_sentinels_opt_in_opt_out_and_own_values(tmp_path: Path, root: Path) -> None:
    # std_error opts out of the shared list but has its own sentinel, one that parses as a number.
    text = sentinel_yaml(
        sem=", null_sentinels: false, null_values: ['-1']", level=", null_sentinels: true, null_values: [Unknown]"
    )
    text = text.replace("{name: grade, columns: Grade}", "{name: grade, columns: Grade, null_values: [Ungraded]}")
    decl = declaration(tmp_path, text)
    rows = [
        "1,Ava,Fall 2025-2026,09/15/2025,201,-1,Y,,Ungraded,N/A",
        "2,Bo,Fall 2025-2026,09/15/2025,202,-1.5,Y,,NA,unknown",
        "3,Cy,Fall 2025-2026,09/15/2025,203,N/A,Y,,3,On",  # std_error opted out: N/A is a type error
    ]
    result = land(write(tmp_path, "scores.csv", sentinel_csv(rows)), [decl], root)
    assert result.rows_landed == {"scores": 2} and result.rejects_by_rule == {"type": 1}
    first, second = read(root, "demo_vendor", "scores", result.batch_id)
    assert first["std_error"] is None and second["std_error"] == "-1.5"
    assert first["grade"] is None and first["level"] is None
    assert second["grade"] == "NA" and second["level"] is None  # grade has only its own sentinel
    assert result.entities["scores"].warnings == {
        "null_sentinel:grade": 1,
        "null_sentinel:level": 2,
        "null_sentinel:std_error": 1,
    }


def test_values_a_field_declares_are_data_not_sentinels(tmp_path: Path, root: Path) -> None:
    text = sentinel_yaml().replace("true_values: [Y], false_values: [N]", 'true_values: [Y], false_values: [N, "N/A"]')
    text = text.replace(
        "{name: grade, columns: Grade}", '{name: grade, columns: Grade, code_map: {"NA": "0"}, null_sentinels: true}'
    )
    decl = declaration(tmp_path, text)
    rows = ["1,Ava,Fall 2025-2026,09/15/2025,201,,N/A,,NA,On", "2,Bo,Fall 2025-2026,09/15/2025,202,,Y,,N/A,On"]
    result = land(write(tmp_path, "scores.csv", sentinel_csv(rows)), [decl], root)
    first, second = read(root, "demo_vendor", "scores", result.batch_id)
    assert first["completed"] == "false" and first["grade"] == "0"
    assert second["grade"] is None
    assert result.entities["scores"].warnings == {"null_sentinel:grade": 1}


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            '{name: grade, columns: Grade, null_values: [""]}',
            "fields[8].null_values[0] (field grade): a null value cannot be blank",
        ),
        (
            "{name: grade, columns: Grade, null_values: [' NA']}",
            "fields[8].null_values[0] (field grade): a null value cannot start or end with spaces",
        ),
        (
            '{name: grade, columns: Grade, code_map: {NA: "0"}, null_values: [na]}',
            "null_values also in code_map or true/false values: na",
        ),
        ("{name: grade, columns: Grade, null_sentinels: maybe}", "fields[8].null_sentinels (field grade)"),
    ],
)
def test_invalid_sentinel_declarations_are_refused(tmp_path: Path, change: str, expected: str) -> None:
    with pytest.raises(DeclarationError) as info:
        declaration(tmp_path, sentinel_yaml().replace("{name: grade, columns: Grade}", change))
    assert expected in str(info.value)


def test_invalid_declaration_level_sentinel_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DeclarationError, match=r"null_values\[1\]: a null value cannot be blank"):
        declaration(tmp_path, sentinel_yaml("null_values: [Absent, '  ']"))


FASTBRIDGE_YAML = """\
name: fastbridge_areading
system: fastbridge
entity: areading
description: FastBridge aReading screening export (a few of its columns).
file_pattern: "*aReading*.csv"
mode: append
fields:
  - {name: local_id, columns: Local ID, required: true, not_null: true, personal: true}
  - {name: grade, columns: Grade}
  - {name: fall_theta, columns: Fall aReading Test Theta, type: decimal}
  - {name: fall_percentile_school, columns: Fall aReading Percentile at School, type: decimal}
  - {name: fall_percentile_lea, columns: Fall aReading Percentile at LEA, type: decimal}
  - {name: fall_percentile_nation, columns: Fall aReading Percentile at Nation, type: decimal}
  - {name: fall_final_date, columns: Fall aReading Final Date, type: date, formats: ["%m/%d/%Y"]}
"""


@pytest.mark.skipif(not VENDOR_SAMPLES.is_dir(), reason="shared vendor samples not present")
def test_real_fastbridge_export_with_na_star_percentiles_lands(tmp_path: Path) -> None:
    # FastBridge writes "N/A*" where a percentile has too few students behind it (a real,
    # anonymized sample, Apache-2.0, from Education Analytics' earthmover_edfi_bundles).
    sample = VENDOR_SAMPLES / "FastBridgeCAT" / "sample_anonymized_aReading.csv"
    root = tmp_path / "landing"
    result = land(sample, [declaration(tmp_path, FASTBRIDGE_YAML)], root)
    assert result.rows_landed == {"areading": 9} and result.rejects_by_rule == {}
    warnings = result.entities["areading"].warnings
    assert warnings["null_sentinel:fall_percentile_school"] == 1
    assert warnings["null_sentinel:fall_percentile_lea"] == 1
    rows = read(root, "fastbridge", "areading", result.batch_id)
    assert any(r["fall_percentile_nation"] == "17.0" and r["fall_percentile_lea"] is None for r in rows)
