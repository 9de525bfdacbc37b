"""The vectorized landing engine against the row-by-row one (the reference): the same files land
the same rows, values, rejects (rule, field, detail, raw record, source reference), counts,
warnings and batch details, or are refused with the same message.

Inputs: every case of the malformed corpus (test_fuzz_inputs: 32 vendors' real samples and the
hub district's MAP and i-Ready exports, each intact and mutated: cut, bytes flipped, re-encoded,
header repeated or run on, stray quotes, NUL bytes, zips damaged); every real vendor sample with
its built-in declarations and conformance; and hand-made files for each rule a row can break.
Both engines land each input into a folder of their own with the same extraction time, so even
the batch ids agree, and every Parquet file the two folders hold is compared row for row.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors import tabular, vectorized
from interop_pipeline.connectors.conformance import ConformingSinks
from interop_pipeline.connectors.landing import EntityWriter, LandingBatch
from interop_pipeline.connectors.tabular import FileDeclaration, VendorFileError, load_declaration
from tests.connectors.test_fuzz_inputs import (
    LIMIT,
    VENDOR_CASES,
    Case,
    _build_vendor_drop,
    _vendor_declarations,
    vendor_inputs,
)
from tests.connectors.test_tabular import HEADER, SCORES_YAML
from tests.samples import VENDOR_SAMPLES
from tests.vendors.test_vendor_samples import NOT_RESULTS, VENDOR_SYSTEMS

AT = datetime(2025, 10, 1, 6, 0, 0, tzinfo=UTC)


def landed_content(root: Path) -> dict[str, list[dict]]:
    """Every Parquet file under a landing root, by its path there: its rows."""
    return {
        str(path.relative_to(root)): pq.read_table(path).to_pylist()
        for path in sorted(root.rglob("*.parquet"))
        if path.is_file()
    }


def land_with(
    engine: str, path: Path, declarations: tuple[FileDeclaration, ...], root: Path, conform: bool = False
) -> tuple[tuple, str]:
    """What landing `path` with `engine` gives: ("landed", counts, what each file contributed,
    every Parquet file) or ("refused", the message); and how each entity was read."""
    try:
        result = tabular.land_vendor_file(
            path,
            declarations,
            root,
            district_code="d001",
            max_uncompressed_bytes=LIMIT,
            extracted_at=AT,
            row_sinks=ConformingSinks() if conform else None,
            engine=engine,  # type: ignore[arg-type]
        )
    except VendorFileError as exc:
        leftovers = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
        assert leftovers == [], f"{engine}: a refused file left files behind: {leftovers[:5]}"
        return ("refused", str(exc)), ""
    counts = (result.rows_landed, result.rows_rejected, result.rejects_by_rule, result.files_not_ingested)
    outcome = ("landed", counts, result.entities, landed_content(root))
    return outcome, ", ".join(f"{entity}: {how}" for entity, how in sorted(result.engines.items()))


def assert_same_landing(
    path: Path, declarations: tuple[FileDeclaration, ...], tmp_path: Path, conform: bool = False
) -> str:
    """Land `path` with both engines and compare; returns how the vectorized run read it."""
    reference, _ = land_with("python", path, declarations, tmp_path / "python", conform)
    outcome, how = land_with("vectorized", path, declarations, tmp_path / "vectorized", conform)
    assert "disagree" not in how, how
    if outcome != reference:
        _explain_difference(reference, outcome)
    return how


def _explain_difference(reference: tuple, outcome: tuple) -> None:
    assert outcome[0] == reference[0], f"python: {reference[:2]}; vectorized: {outcome[:2]}"
    if reference[0] == "refused":
        assert outcome[1] == reference[1]
    assert outcome[1] == reference[1], "counts differ"
    assert outcome[2] == reference[2], "entity results differ"
    for name, rows in reference[3].items():
        other = outcome[3].get(name)
        assert other is not None, f"{name}: not landed by the vectorized engine"
        assert len(other) == len(rows), f"{name}: {len(rows)} rows by python, {len(other)} vectorized"
        for mine, theirs in zip(other, rows, strict=True):
            assert mine == theirs, f"{name}: first difference"
    assert outcome[3].keys() == reference[3].keys(), "different files landed"


# ------------------------------------------------------------------------------------------
# The malformed corpus
# ------------------------------------------------------------------------------------------


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", VENDOR_CASES, ids=lambda case: case.id)
def test_both_engines_land_the_malformed_corpus_alike(case: Case, tmp_path: Path) -> None:
    drops = tmp_path / "drops"
    drops.mkdir()
    path, _ = _build_vendor_drop(case, vendor_inputs().get(case.source), drops)
    declarations = _vendor_declarations(case)
    how = assert_same_landing(path, declarations, tmp_path)
    if case.mutation in ("intact", "zip") and not case.source.endswith((".txt", ".jsonl")):
        # An intact delimited file of a declaration without column groups reads vectorized.
        supported = {d.entity for d in declarations if vectorized.unsupported(d) is None}
        for entity in supported & {part.split(":")[0] for part in how.split(", ") if part}:
            assert f"{entity}: vectorized" in how, how


def test_the_corpus_exercises_the_vectorized_engine(tmp_path: Path) -> None:
    """Intact samples of many vendors read vectorized (not all falling back)."""
    read = 0
    for case in [c for c in VENDOR_CASES if c.mutation == "intact"]:
        drops = tmp_path / case.id.replace("/", "_") / "drops"
        drops.mkdir(parents=True)
        path, _ = _build_vendor_drop(case, vendor_inputs().get(case.source), drops)
        _, how = land_with("vectorized", path, _vendor_declarations(case), drops.parent / "landing")
        read += "vectorized" in how
    assert read >= 40, read


# ------------------------------------------------------------------------------------------
# Real vendor samples with the built-in declarations and conformance
# ------------------------------------------------------------------------------------------


def _samples() -> list[tuple[str, Path]]:
    return [
        (system, path)
        for folder, system in VENDOR_SYSTEMS.items()
        for path in sorted((VENDOR_SAMPLES / folder).glob("*"))
        if path.suffix in (".csv", ".txt") and f"{folder}/{path.name}" not in NOT_RESULTS
    ]


@pytest.mark.skipif(not VENDOR_SAMPLES.is_dir(), reason="vendor samples not present")
@pytest.mark.parametrize(("system", "sample"), _samples(), ids=lambda v: v.name if isinstance(v, Path) else v)
def test_real_vendor_samples_land_alike_with_their_conformed_results(system: str, sample: Path, tmp_path: Path):
    declarations = tuple(d for d in tabular.builtin_declarations().values() if d.system == system)
    assert_same_landing(sample, declarations, tmp_path, conform=True)


def test_hub_exports_land_alike_with_their_conformed_results(tmp_path: Path) -> None:
    builtins = tabular.builtin_declarations().values()
    hub = [c for c in VENDOR_CASES if c.mutation == "intact" and c.source.startswith("hub/")]
    assert hub
    for case in hub:
        drops = tmp_path / case.id.replace("/", "_")
        drops.mkdir(parents=True)
        path, _ = _build_vendor_drop(case, vendor_inputs()[case.source], drops)
        system = case.source.split("/")[1]
        how = assert_same_landing(path, tuple(d for d in builtins if d.system == system), drops, conform=True)
        assert how.endswith("vectorized"), how


# ------------------------------------------------------------------------------------------
# Every rule a row can break, and the file-level edge cases
# ------------------------------------------------------------------------------------------

GOOD = "00123,Ava Smith,Fall 2025-2026,09/15/2025,09:05:00,201,3.2,Y,585L,1650Q,On,K"
ROWS = {
    "clean": [GOOD, "00124,Tom Jones,Fall 2025-2026,2025-09-16,13:30,188,,N,BR120L,EM50Q,Below,3"],
    "every_rule": [
        GOOD,
        "00200,Bad Date,Fall 2025-2026,13/45/2025,,190,,,,,On,",  # type (date)
        "00201,Blank Score,Fall 2025-2026,09/15/2025,,,,,,,On,",  # not_null
        "00202,Sentinel Score,Fall 2025-2026,09/15/2025,,N/A,,,,,On,",  # sentinel in a not_null field
        "00203,Level,Fall 2025-2026,09/15/2025,,190,,,,,Sideways,",  # unmapped_code
        "00204,Window,Autumn 2025,09/15/2025,,190,,,,,On,",  # derive
        "00205,Many,Fall 2025-2026,2025-02-30,25:00,x1,abc,maybe,12Z,Q,Sideways,",  # several at once
        "00123,Again,Fall 2025-2026,2025-09-15,,190,,,,,On,",  # duplicate_row (same key, other spelling)
        "00206,Short,Fall 2025-2026",  # field_count (short, not last)
        GOOD.replace("00123", "00207") + ",extra",  # field_count (a value beyond the header)
        GOOD.replace("00123", "00208") + ",,  ,",  # trailing empty fields (tolerated)
        '00209,"Quoted, Name",Fall 2025-2026,09/15/2025,,190,,,,,On,',  # a quoted delimiter
        '00210,Stray "quote,Fall 2025-2026,09/15/2025,,190,,,,,On,',  # a quote inside a value
        '00211,"Bad"quote,Fall 2025-2026,09/15/2025,,190,,,,,On,',  # quoting
        '"00212","Quoted ""Nick"" Name","Fall 2025-2026","09/15/2025","","190","","","","","On",""',
        "00213,Sentinels,Fall 2025-2026,09/15/2025,NA,190,-,*,No Score,N/A,On,",  # null sentinels
        " 00214 ,\u3000Padded\xa0,\tFall 2025-2026 ,09/15/2025\x1c,,+0190,  3.50 ,y,br120L,1650q,on,k",
        "00215,Digits,Fall 2025-2026,09/15/2025,,\u0661\u0669\u0660,1.5%,,,,On,",  # other digits
        "",
        " , ,,",  # blank records
        "00216,Sign,Fall 2025-2026,09/15/2025,,-0,-.5,,-585L,BR-5L,On,",
        "00217,Empty Key,Fall 2025-2026,,,190,,,,,On,",  # null key part
        "00218,Empty Key,Fall 2025-2026,,,191,,,,,On,",  # the same key, null date
        "00219,Last,Fall 2025-2026,09/15/2025,,190,,,,",  # last record short by optional fields
    ],
    "short_last_lacking": [GOOD, "00300,Short,Fall 2025-2026"],
    "all_blank": ["", ",,,", "  "],
    "only_rejects": ["00400,Bad,Fall 2025-2026,x,,1,,,,,On,"],
    "quoting_last": [GOOD, '00500,"x"y,Fall 2025-2026,09/15/2025,,190,,,,,On,'],
    "long_field": [GOOD, "00600," + "n" * 140_000 + ",Fall 2025-2026,09/15/2025,,190,,,,,On,"],
    "duplicates": [GOOD, GOOD, GOOD.replace("On", "Above"), GOOD.replace("201", "x"), GOOD],
    # Key values holding the key separator (or reading as its null): keys compared as joined text.
    "key_separator": [GOOD, GOOD.replace("00123", "00\x1f123"), GOOD.replace("00123", "00\x1f123"), GOOD],
}


def _scores(tmp_path: Path, mode: str = "append") -> tuple[FileDeclaration, ...]:
    path = tmp_path / "decl" / "scores.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SCORES_YAML.replace("mode: append", f"mode: {mode}"), encoding="utf-8")
    return (load_declaration(path),)


@pytest.mark.parametrize("rows", sorted(ROWS))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("final", [True, False], ids=["final_newline", "no_final_newline"])
def test_row_rules_and_tolerated_defects_land_alike(rows: str, newline: str, final: bool, tmp_path: Path) -> None:
    text = newline.join([HEADER, *ROWS[rows]]) + (newline if final else "")
    path = tmp_path / "drop" / "scores_2025.csv"
    path.parent.mkdir()
    path.write_bytes(text.encode("utf-8"))
    for mode in ("append", "snapshot"):
        assert_same_landing(path, _scores(tmp_path, mode), tmp_path / mode)


FILES: dict[str, bytes] = {
    "bom": ("\ufeff" + HEADER + "\n" + GOOD + "\n").encode("utf-8"),
    "bom_mid": (HEADER + "\n" + GOOD + "\n\ufeff" + GOOD.replace("00123", "00124") + "\n").encode("utf-8"),
    "cp1252": (HEADER + "\n" + GOOD.replace("Ava", "Zoë") + "\n").encode("cp1252"),
    "cp1252_late": (HEADER + "\n" + (GOOD + "\n") * 3000 + GOOD.replace("Ava", "Zoë") + "\n").encode("cp1252"),
    "utf16": (HEADER + "\n" + GOOD + "\n").encode("utf-16"),
    "nul": (HEADER + "\n" + GOOD + "\n" + GOOD.replace("Ava", "A\x00va") + "\n").encode("utf-8"),
    "quoted_newline": (HEADER + "\n" + GOOD.replace("Ava Smith", '"Ava\nSmith"') + "\n").encode("utf-8"),
    "open_quote_at_end": (HEADER + "\n" + GOOD + '\n00124,"Tom' + "\n").encode("utf-8"),
    "runaway_quote": (HEADER + "\n" + GOOD.replace("Ava", '"Ava') + "\n" + GOOD + "\n" * 3).encode("utf-8"),
    "header_only": (HEADER + "\n").encode("utf-8"),
    "title_lines": ("Score export\n\n" + HEADER + "\n" + GOOD + "\n").encode("utf-8"),
    "header_run_on": (HEADER + "," + GOOD + "\n" + GOOD[:30] + "\n").encode("utf-8"),
    "control_char": (HEADER + "\n" + GOOD.replace("Ava", "A\x01va") + "\n").encode("utf-8"),
    "blank_lines_then_rows": (HEADER + "\n\n\n" + GOOD + "\n\n").encode("utf-8"),
    "missing_column": (HEADER.replace(",Score", "") + "\n" + GOOD + "\n").encode("utf-8"),
}


@pytest.mark.parametrize("name", sorted(FILES))
def test_file_level_edge_cases_land_or_are_refused_alike(name: str, tmp_path: Path) -> None:
    path = tmp_path / "drop" / "scores_2025.csv"
    path.parent.mkdir()
    path.write_bytes(FILES[name])
    header_row = 3 if name == "title_lines" else 1
    declarations = _scores(tmp_path)
    if header_row != 1:
        declarations = (declarations[0].model_copy(update={"header_row": header_row}),)
    assert_same_landing(path, declarations, tmp_path)


def test_a_zip_member_lands_alike(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "drop" / "scores.zip"
    path.parent.mkdir()
    text = "\r\n".join([HEADER, *ROWS["every_rule"]]) + "\r\n"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("scores_2025.csv", text)
        archive.writestr("readme.txt", "not a declared file")
    how = assert_same_landing(path, _scores(tmp_path), tmp_path)
    assert how == "scores: vectorized"


def test_a_large_generated_file_with_defects_lands_alike(tmp_path: Path) -> None:
    rng = random.Random(7)
    rows = []
    for i in range(20_000):
        row = GOOD.replace("00123", f"{i:06d}").split(",")
        if rng.random() < 0.02:
            field = rng.randrange(len(row))
            row[field] = rng.choice(["", "N/A", "x", '"q"', "13/13/2013", "Sideways", " ", '"a,b"'])
        rows.append(",".join(row))
    path = tmp_path / "drop" / "scores_big.csv"
    path.parent.mkdir()
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    how = assert_same_landing(path, _scores(tmp_path), tmp_path)
    assert how == "scores: vectorized"


# ------------------------------------------------------------------------------------------
# Engine choice
# ------------------------------------------------------------------------------------------


def test_auto_reads_big_files_vectorized_and_small_ones_row_by_row(tmp_path: Path) -> None:
    declarations = _scores(tmp_path)
    small = tmp_path / "drop" / "scores_small.csv"
    small.parent.mkdir()
    small.write_text(HEADER + "\n" + GOOD + "\n", encoding="utf-8")
    big = tmp_path / "drop" / "scores_big.csv"
    lines = [GOOD.replace("00123", f"{i:07d}") for i in range(vectorized.MIN_BYTES // len(GOOD) + 10)]
    big.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    for path, expected in ((small, "python"), (big, "vectorized")):
        result = tabular.land_vendor_file(
            path, declarations, tmp_path / "landing", district_code="d001", max_uncompressed_bytes=LIMIT
        )
        assert result.engines == {"scores": expected}


def test_declarations_the_vectorized_engine_leaves_to_the_reference() -> None:
    builtins = tabular.builtin_declarations()
    assert vectorized.unsupported(builtins["sis_attendance"]) is None
    assert vectorized.unsupported(builtins["nwea_map_assessment_results"]) is None
    assert vectorized.unsupported(builtins["iready_diagnostic_math"]) is None
    assert vectorized.unsupported(builtins["preact_fixed"]) == "fixed-width layout"
    grouped = next(d for d in builtins.values() if d.groups)
    assert vectorized.unsupported(grouped) == "column groups are assembled per record"


def test_whitespace_is_what_python_strips() -> None:
    assert vectorized.WHITESPACE == "".join(c for c in map(chr, range(0x110000)) if c.isspace())


def test_a_table_written_at_once_lands_as_rows_appended_one_by_one(tmp_path: Path) -> None:
    rows = [["a", ""], [None, "b"], ["", None]]
    refs = ["f:2", "f:3", "f:4"]
    landed = {}
    for how in ("rows", "table"):
        with LandingBatch(tmp_path / how, "sys", "d1", "f" * 64, "f", AT, flush_rows=2) as batch:
            writer: EntityWriter = batch.entity_writer("things", ["x", "y"])
            if how == "rows":
                writer.append(["z", "z"], "f:1")
                for row, ref in zip(rows, refs, strict=True):
                    writer.append(row, ref)
            else:
                writer.append(["z", "z"], "f:1")
                table = pa.table({"x": [r[0] for r in rows], "y": [r[1] for r in rows]})
                writer.extend_table(table, pa.array(refs))
            batch.commit()
        landed[how] = landed_content(tmp_path / how)
    assert landed["rows"] == landed["table"]
