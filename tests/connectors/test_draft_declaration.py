"""draft-declaration: a draft from each real vendor sample loads and lands the whole file.

The samples are Education Analytics' anonymized vendor exports (earthmover_edfi_bundles,
Apache License 2.0; see tests/fixtures/vendor_samples/README.md and its licence file).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interop_pipeline.cli import main as cli_main
from interop_pipeline.connectors.conformance import ConformingSinks
from interop_pipeline.connectors.draft import (
    detect_groups,
    draft_declaration,
    fixed_width_spans,
    is_personal,
)
from interop_pipeline.connectors.tabular import land_vendor_file, load_declaration
from tests.samples import VENDOR_SAMPLES

SAMPLES = VENDOR_SAMPLES
SAMPLE_FILES = sorted(
    p for p in SAMPLES.glob("*/*") if p.suffix.casefold() in (".csv", ".txt") and p.name != "LICENSE-Apache-2.0.txt"
)
UNPIVOT_EMPTY_ROW = "unpivot_empty_row"


def _land(path: Path, yaml_text: str, tmp_path: Path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    declaration_path = tmp_path / "draft.yaml"
    declaration_path.write_text(yaml_text, encoding="utf-8")
    declaration = load_declaration(declaration_path)
    result = land_vendor_file(
        path,
        [declaration],
        tmp_path / "landing",
        district_code="test",
        max_uncompressed_bytes=1 << 30,
        row_sinks=ConformingSinks(),
    )
    return declaration, result


@pytest.mark.skipif(not SAMPLE_FILES, reason="vendor samples not available")
@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_draft_lands_the_whole_sample_without_edits(path: Path, tmp_path: Path) -> None:
    draft = draft_declaration([path])
    declaration, result = _land(path, draft.to_yaml(), tmp_path)
    rows = draft.files[0].data_rows
    assert rows > 0
    assert sum(result.rows_rejected.values()) == 0, result.rejects_by_rule
    landed = result.entities[declaration.entity]
    assert landed.rows_rejected == 0
    assert UNPIVOT_EMPTY_ROW not in landed.warnings  # every data row landed something
    if declaration.unpivot is None:
        assert landed.rows_landed == rows
    else:
        assert landed.rows_landed >= rows


def test_a_vendors_files_together_draft_one_declaration_that_lands_each(tmp_path: Path) -> None:
    files = sorted((SAMPLES / "Beacon").glob("*.csv"))
    if len(files) < 2:
        pytest.skip("vendor samples not available")
    draft = draft_declaration(files)
    text = draft.to_yaml()
    for i, path in enumerate(files):
        declaration, result = _land(path, text, tmp_path / str(i))
        assert sum(result.rows_rejected.values()) == 0, (path.name, result.rejects_by_rule)
        assert UNPIVOT_EMPTY_ROW not in result.entities[declaration.entity].warnings


# --------------------------------------------------------------------------------------------
# Inference, on small files written here
# --------------------------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _field(draft, name):
    return next(f for f in draft.fields if f.name == name)


def test_types_are_inferred_from_all_values_and_stay_string_on_any_misfit(tmp_path: Path) -> None:
    rows = ["Student ID,Score,Ratio,Flag,Grade,Code"]
    rows += [f"{100 + i},{200 + i},{i}.5,{'Y' if i % 2 else 'N'},{i % 12 + 1},0{i}" for i in range(300)]
    rows += ["999,oops,1.5,N,K,01"]  # the last row breaks Score and Grade
    path = _write(tmp_path, "scores.csv", "\n".join(rows) + "\n")
    draft = draft_declaration([path])
    assert _field(draft, "score").type.type == "string"
    assert _field(draft, "grade").type.type == "string"
    assert _field(draft, "ratio").type.type == "decimal"
    assert _field(draft, "flag").type.type == "boolean"
    assert _field(draft, "code").type.type == "string"  # zero-padded numbers are codes
    assert _field(draft, "student_id").type.type == "string"  # ids are never numbers
    declaration, result = _land(path, draft.to_yaml(), tmp_path)
    assert result.rows_landed[declaration.entity] == 301


def test_ambiguous_day_month_dates_are_flagged(tmp_path: Path) -> None:
    text = "Student ID,Test Date,Birth Date\n1,01/02/2024,3/4/2015\n2,05/06/2024,13/4/2015\n"
    path = _write(tmp_path, "dates.csv", text)
    draft = draft_declaration([path])
    test_date = _field(draft, "test_date")
    assert test_date.type.type == "date" and test_date.type.formats == ["%m/%d/%Y"]
    assert any("ambiguous dates" in note for note in test_date.type.notes)
    birth = _field(draft, "birth_date")  # 13/4 settles it: day first
    assert birth.type.formats == ["%d/%m/%Y"] and not birth.type.notes
    text = draft.to_yaml()
    assert "# ambiguous dates: both %m/%d/%Y and %d/%m/%Y fit every value" in text


def test_compact_dates_with_dropped_leading_zeros_are_padded_left(tmp_path: Path) -> None:
    path = _write(tmp_path, "compact.csv", "Student ID,DOB\n1,01062015\n2,1062015\n3,12252014\n")
    draft = draft_declaration([path])
    dob = _field(draft, "dob")
    assert dob.type.type == "date" and dob.type.compact_pad
    assert any(note.startswith("compact_dates") for note in dob.type.notes)
    assert 'compact_dates: "pad_left"' in draft.to_yaml()
    _, result = _land(path, draft.to_yaml(), tmp_path)
    assert sum(result.rows_rejected.values()) == 0


def test_null_sentinels_seen_go_into_null_values(tmp_path: Path) -> None:
    text = "Student ID,Score,Date\n1,200,1/2/2024\n2,--,.\n3,No Score,1/3/2024\n4,.,N/A\n"
    path = _write(tmp_path, "sentinels.csv", text)
    draft = draft_declaration([path])
    score = _field(draft, "score")
    assert score.type.type == "integer"
    assert set(score.type.sentinels) == {"--", "No Score", "."}
    assert "." in draft.null_values  # not a built-in sentinel
    assert "--" not in draft.null_values  # built in already
    _, result = _land(path, draft.to_yaml(), tmp_path)
    assert sum(result.rows_rejected.values()) == 0


def test_title_lines_above_the_header_are_skipped(tmp_path: Path) -> None:
    text = ",,Reading Results,,\n,,,,\nStudent ID,Last Name,First Name,Score,Level\n1,A,B,10,2\n2,C,D,11,3\n"
    path = _write(tmp_path, "titled.csv", text)
    draft = draft_declaration([path])
    assert draft.header_row == 3
    assert [f.column for f in draft.fields][:2] == ["Student ID", "Last Name"]
    _, result = _land(path, draft.to_yaml(), tmp_path)
    assert sum(result.rows_landed.values()) >= 2 and sum(result.rows_rejected.values()) == 0


@pytest.mark.parametrize(
    ("encoding", "delimiter", "label"),
    [("cp1252", ";", "Windows-1252"), ("utf-16", "\t", "utf-16 with BOM"), ("utf-8-sig", "|", "utf-8 with BOM")],
)
def test_encoding_and_delimiter(tmp_path: Path, encoding: str, delimiter: str, label: str) -> None:
    text = delimiter.join(["Student ID", "Nom de famille", "Score"]) + "\n"
    text += delimiter.join(["1", "Fran\u00e7ois", "12"]) + "\n" + delimiter.join(["2", "Zo\u00eb", "13"]) + "\n"
    path = _write(tmp_path, "enc.csv", text, encoding)
    draft = draft_declaration([path])
    assert draft.files[0].encoding_label == label
    assert draft.files[0].delimiter == delimiter
    _, result = _land(path, draft.to_yaml(), tmp_path)
    assert sum(result.rows_landed.values()) >= 2 and sum(result.rows_rejected.values()) == 0


def test_wide_groups_are_proposed_with_unpivot() -> None:
    header = ["StudentID", "MathLev", "MathSS", "MathStatus", "ReadLev", "ReadSS", "ReadStatus", "DataSS", "DataLev"]
    (group,) = detect_groups(header)
    assert group.key_name == "subject"
    assert sorted(group.keys) == ["Data", "Math", "Read"]
    assert sorted(group.measures) == ["Lev", "SS", "Status"]
    dibels = [f"Assessment Measure-{m}-{k}" for m in ("FSF", "LNF", "PSF") for k in ("Levels", "Score")]
    (measures,) = detect_groups(["Student ID", *dibels])
    assert measures.prefix == "Assessment Measure-" and sorted(measures.keys) == ["FSF", "LNF", "PSF"]
    assert sorted(measures.measures) == ["Levels", "Score"]


def test_groups_and_repeated_names_in_the_yaml(tmp_path: Path) -> None:
    header = "Student ID,Test Date,MathLev,MathSS,ReadLev,ReadSS,Note,Note\n"
    path = _write(tmp_path, "wide.csv", header + "1,1/2/2024,2,200,3,210,a,b\n2,1/2/2024,1,190,,,c,d\n")
    draft = draft_declaration([path])
    text = draft.to_yaml()
    assert "groups:" in text and "unpivot: subject_results" in text
    assert '"Note[2]"' in text
    assert "key: [student_id, test_date, subject]" in text
    declaration, result = _land(path, text, tmp_path)
    assert declaration.unpivot == "subject_results"
    assert result.rows_landed[declaration.entity] == 3  # 2 members + 1 (the other is empty)


def test_personal_fields_are_marked() -> None:
    personal = ["Student First Name", "LName", "DOB", "Email", "StateID", "Local_Student ID", "Home Address"]
    personal += ["STD_PID", "Gender", "Student_DOB", "PermID"]
    not_personal = ["School Name", "District Name", "SchoolID", "Test Name", "Scale Score", "Assessment", "Grade"]
    assert [h for h in personal if not is_personal(h)] == []
    assert [h for h in not_personal if is_personal(h)] == []


def test_conformance_roles_are_guessed_and_marked(tmp_path: Path) -> None:
    text = "Student ID,State ID,First Name,Last Name,DOB,Test Date,Subject,Scale Score,Performance Level\n"
    text += "1,S1,A,B,1/2/2015,3/4/2024,Math,200,Proficient\n2,S2,C,D,1/3/2015,3/4/2024,Reading,190,Basic\n"
    path = _write(tmp_path, "results.csv", text)
    draft = draft_declaration([path])
    assert all(draft.roles().values()), draft.roles()
    conformance = draft.conformance
    assert conformance["student"]["id"] == "student_id"
    assert conformance["student"]["state_id"] == "state_id"
    assert conformance["assessment"]["subject"]["map"] == {"Math": "Mathematics", "Reading": "Reading"}
    assert conformance["scores"][0] == {"field": "scale_score", "method": "Scale score", "datatype": "Integer"}
    assert "id: student_id  # guessed" in draft.to_yaml()
    _, result = _land(path, draft.to_yaml(), tmp_path)
    assert result.rows_landed.get("_assessment_results") == 2


def test_fixed_width_boundaries_from_aligned_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "fixed.txt", "A0001 Smith     20240102\nB0002 Jones     20240103\n")
    spans = fixed_width_spans(path, "utf-8")
    assert spans == [(1, 1), (2, 5), (7, 11), (17, 24)]


def test_cli_writes_the_draft(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "cli.csv", "Student ID,Score\n1,2\n")
    out = tmp_path / "out.yaml"
    assert cli_main(["draft-declaration", str(path), "--name", "My Vendor", "--out", str(out)]) == 0
    assert "name: my_vendor" in out.read_text()
    assert cli_main(["draft-declaration", str(path)]) == 0
    assert "fields:" in capsys.readouterr().out
