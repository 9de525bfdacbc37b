"""The README's whole-pipeline benchmark (`make bench`), run as the README shows it at a small
size, so a stage the pipeline gains or renames cannot leave it broken until someone next measures;
and its growth exponents and targets, checked on that run's own figures scaled to a known answer
(a second real size would double the test's time and measure mostly start-up noise)."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import re

import pytest

from tests.bench.test_bench_commands import ROOT, _run

pytestmark = pytest.mark.e2e

# The demo config's REST sources and recipients.
APIS = ("oneroster_api", "edfi", "canvas", "google_classroom")
RECIPIENTS = ("learning_app", "reading_vendor", "state_ods", "university_study")
EXPECTED = [
    "generate",
    "land_files",
    *(f"land_api:{name}" for name in APIS),
    *("dbt_build", "identity", "dbt_after_identity", "release"),
    *(f"publish:{name}" for name in RECIPIENTS),
]
ROW = re.compile(r"^(\S+)\s+([\d.]+)\s+([\d,]+)\s+([\d,]+)\s+(\d+)$", re.M)


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    workdir = tmp_path_factory.mktemp("bench")
    figures = workdir / "figures.json"
    out = _run("bench/bench_pipeline.py", "--students", "200", "--workdir", str(workdir), "--json", str(figures))
    return out, json.loads(figures.read_text())


def _bench_module():
    spec = importlib.util.spec_from_file_location("bench_pipeline", ROOT / "bench" / "bench_pipeline.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_stage_reports_its_rows(bench_run):
    out, figures = bench_run
    table = out.split("200 students, seed 1")[1].split("total (stages in series)")[0]
    rows = {stage: int(count.replace(",", "")) for stage, _, count, _, _ in ROW.findall(table)}
    assert list(rows) == EXPECTED, table
    assert all(count > 0 for count in rows.values()), table
    assert re.search(r"^total \(stages in series\)\s+[\d.]+\s+\d+$", out, re.M), out
    for served in [*(f"land_api:{name}" for name in APIS), "recipients"]:
        assert re.search(rf"simulators for {served}: their own process, started in [\d.]+ s, peak \d+ MB", out)
    # One size: no growth to print, and targets that need a projection say so.
    assert "growth no faster than N^1.1: target not known (needs two sizes)" in out
    assert [stage["stage"] for stage in figures["runs"][0]["stages"]] == EXPECTED


def test_growth_exponents_and_targets_from_two_sizes(bench_run, capsys):
    bench = _bench_module()
    small = bench_run[1]["runs"][0]
    # The same run at ten times the size, every stage ten times as long (exponent 1), but
    # identity a hundred times (exponent 2), and memory flat (exponent 0).
    large = copy.deepcopy(small)
    large["students"] *= 10
    for stage in large["stages"]:
        stage["seconds"] *= 100 if stage["stage"] == "identity" else 10
    large["total_seconds"] = sum(stage["seconds"] for stage in large["stages"])

    pairs = bench.growth([small, large])
    assert [round(e, 6) for s, e in pairs[0]["stages"].items() if s != "identity"] == [1.0] * (len(EXPECTED) - 1)
    assert pairs[0]["stages"]["identity"] == pytest.approx(2.0)
    expected_total = math.log(large["total_seconds"] / small["total_seconds"]) / math.log(10)
    assert pairs[0]["total"] == pytest.approx(expected_total)
    assert pairs[0]["peak_mb"] == pytest.approx(0.0)

    bench.print_growth(pairs)
    bench.print_targets(bench.targets([small, large], pairs))
    out = capsys.readouterr().out
    assert "growth 200 -> 2,000 students: exponent of wall time" in out
    for stage in EXPECTED:
        assert re.search(rf"^  {re.escape(stage)}\s+\d\.\d\d$", out, re.M), out
    assert re.search(r"^  total\s+\d\.\d\d$", out, re.M) and re.search(r"^  peak memory\s+-?0\.00$", out, re.M)
    projected = large["total_seconds"] * 500 ** pairs[0]["total"] / 60
    verdict = "target met" if projected <= 30 else "target not met"
    assert f"on 2 cores: {verdict} ({projected:.1f} min, projected from 2,000 students" in out
    assert "1,000,000 not measured" in out
    assert "peak RSS <= 6 GB: target met (" in out  # flat at a few hundred MB
    assert "growth no faster than N^1.1: target not met (total" in out and "stages above it: identity 2.00" in out

    # Measured at a million, the end-to-end figure also leaves out generating the district:
    # 300 s to generate and 60 s each for the other stages, 18 min in all.
    million = copy.deepcopy(large) | {"students": 1_000_000}
    for stage in million["stages"]:
        stage["seconds"] = 300.0 if stage["stage"] == "generate" else 60.0
    million["total_seconds"] = 300.0 + 60.0 * (len(EXPECTED) - 1)
    [end_to_end, *_] = bench.targets([million], [])
    assert end_to_end["detail"].startswith("18.0 min, measured")
    assert end_to_end["detail"].endswith("; 13.0 min without generating the district")


def test_skipped_stages_are_listed_and_left_out_of_the_targets(tmp_path):
    """`--skip`, as the README's 100,000- and 1,000,000-student commands use it: here every stage
    but `generate`, so the run is quick and only that stage is timed."""
    skipped = EXPECTED[1:]
    figures = tmp_path / "figures.json"
    arguments = ("--students", "50", "--workdir", str(tmp_path), "--json", str(figures), "--skip", *skipped)
    out = _run("bench/bench_pipeline.py", *arguments)
    for stage in skipped:
        assert re.search(rf"^{re.escape(stage)}\s+skipped$", out, re.M), out
    [run] = json.loads(figures.read_text())["runs"]
    assert [stage["stage"] for stage in run["stages"]] == ["generate"] and run["skipped"] == sorted(skipped)
