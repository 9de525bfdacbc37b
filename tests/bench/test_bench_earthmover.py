"""bench/bench_earthmover.py at a tiny size, so it cannot rot unnoticed: our side on 200 rows of
the generated CDF, and (when its own venv can be made) earthmover's bundle on the same file."""

from __future__ import annotations

import csv
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_earthmover.py"
ROWS = 200


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_earthmover", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


def test_our_side_writes_one_student_assessment_per_row(tmp_path: Path) -> None:
    bench = _bench_module()
    cdf = bench.write_cdf(tmp_path / "input" / "AssessmentResults.csv", ROWS, seed=3)
    assert bench.ours(cdf, tmp_path / "ours") == ROWS
    lines = (tmp_path / "ours" / "output" / "studentAssessments.jsonl").read_text().splitlines()
    documents = [json.loads(line) for line in lines]
    assert len(documents) == ROWS
    assert len({d["studentAssessmentIdentifier"] for d in documents}) == ROWS
    # Row 0: student 0 (state id 1000000000), mathematics.
    first = next(
        d
        for d in documents
        if d["studentReference"]["studentUniqueId"] == "1000000000"
        and d["assessmentReference"]["assessmentIdentifier"] == "NWEA-MAP-Growth-Mathematics"
    )
    assert first["assessmentReference"]["namespace"] == "uri://nwea.org/Assessment"
    assert first["administrationDate"].endswith("T00:00:00Z")
    assert first["schoolYearTypeReference"] == {"schoolYear": 2025}
    methods = {s["assessmentReportingMethodDescriptor"].rsplit("#", 1)[1]: s["result"] for s in first["scoreResults"]}
    # The declaration's conformance: every score of the row and its achievement quintile (a
    # vendor level, so a Level score).
    assert set(methods) == {
        "RIT scale score",
        "Standard error measurement",
        "Percentile",
        "Quantile Measure",
        "Growth/value-added/indexing",
        "Achievement/proficiency level",
    }
    with cdf.open(newline="") as f:
        row0 = next(iter(csv.DictReader(f)))
    assert methods["RIT scale score"] == row0["TestRITScore"]
    assert methods["Percentile"] == row0["TestPercentile"]
    assert methods["Achievement/proficiency level"] == row0["AchievementQuintile"]
    # The conformed rows landed in the same batch as the file's.
    landed = tmp_path / "ours" / "landing" / "nwea_map"
    assert {p.name for p in landed.iterdir()} >= {"assessment_results", "_assessment_results", "_assessment_scores"}


def test_the_benchmark_runs_both_tools_on_the_same_file(tmp_path: Path) -> None:
    bench = _bench_module()
    if not (bench.DEFAULT_BUNDLE / "earthmover.yaml").is_file():
        pytest.skip(f"no earthmover bundle at {bench.DEFAULT_BUNDLE}")
    try:
        bench.ensure_earthmover()
    except RuntimeError as error:
        pytest.skip(str(error))
    run = subprocess.run(
        [sys.executable, str(BENCH), "--rows", str(ROWS), "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert f"earthmover: {ROWS:,} rows in" in run.stdout
    assert f"ours: {ROWS:,} rows in" in run.stdout
    assert f"ours, documents schema-checked: {ROWS:,} rows in" in run.stdout
    assert "ratio (ours): " in run.stdout
    assert "ratio (ours, documents schema-checked): " in run.stdout
    assert "memory: ours peak at" in run.stdout
