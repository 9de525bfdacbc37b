"""The benchmark commands the README quotes, run as the README shows them at a small size, so a
change that breaks one fails here rather than when someone next measures."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from interop_pipeline.config import load_config
from interop_pipeline.transform.dbt import dbt_project, dbt_target_dir
from interop_pipeline.transform.partial import nodes_to_rebuild, step_nodes
from interop_pipeline.transform.unchanged import read_build_record
from tests.district_build import run_dbt
from tests.warehouse_fingerprint import fingerprint

ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    done = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_draft_roles_reports_every_vendor_landing_whole():
    out = _run("bench/draft_roles.py")
    assert "its draft lands every sample file of 32 of 32 vendors with 0 rejects" in out
    assert re.search(r"the student id for 32 of 32 vendors", out), out[-1000:]


def test_identity_bench_scores_students_and_staff_against_truth():
    out = _run("bench/bench_identity.py", "--students", "300")
    assert "300 students" in out and "staff" in out
    # Every system row: records, linked, queued, precision, recall, twins.
    rows = re.findall(r"^(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s+(\d+)$", out, re.M)
    assert {row[0] for row in rows} >= {"sis", "edfi", "canvas", "google_classroom"}
    assert all(float(row[4]) >= 0.99 for row in rows), rows  # precision


def test_febrl_bench_prints_precision_recall_and_the_queue():
    out = _run("bench/bench_identity_febrl.py", "--limit", "200", "--dedup", "none")
    precision, recall = map(float, re.search(r"precision ([\d.]+)\s+recall ([\d.]+)", out).groups())
    assert precision >= 0.999 and recall >= 0.95, out
    assert "review queue" in out


def test_api_bench_walks_every_system_next_to_the_floor():
    out = _run("bench/bench_api.py", "--students", "200", "--entities", "users", "courses")
    assert "failed" not in out, out[-3000:]  # the bench reports one entity's failure and goes on
    rows = re.findall(r"^(\w+)\s+(users|courses)\s+([\d,]+)\s+([\d,]+)\s+[\d,]+\s+[\d,]+\s+[\d.]+\s+[\d.]+$", out, re.M)
    assert {row[0] for row in rows} == {"oneroster_api", "edfi_api", "canvas", "google_classroom"}, out
    assert all(int(row[2].replace(",", "")) > 0 and int(row[3].replace(",", "")) > 0 for row in rows), rows


@pytest.fixture(scope="module")
def operations_bench(tmp_path_factory) -> tuple[str, Path]:
    """The operations bench at 100 students: its report, and the folder of the district it ran."""
    workdir = tmp_path_factory.mktemp("bench") / "ops"
    return _run("bench/bench_operations.py", "--students", "100", "--repeat", "1", "--workdir", str(workdir)), workdir


def test_operations_bench_times_the_definitions_the_demo_and_two_daily_runs(operations_bench):
    """The quiet run skips the build; the one-row correction rebuilds only what reads the SIS
    attendance and updates the attendance fact incrementally (as the runs' build records say)."""
    out, _ = operations_bench
    names = ("definitions load", "demo run", "daily run, nothing new", "daily run, one row corrected")
    figures = dict(re.findall(rf"^  ({'|'.join(names)})\s+([\d.]+) s", out, re.M))
    assert set(figures) == set(names), out
    assert all(float(seconds) > 0 for seconds in figures.values())
    assert out.count("target <=") == 4
    assert "demo run: The warehouse is built in full" in out
    assert "daily run, nothing new: not rebuilt: nothing it reads had changed" in out
    # The REST walks brought the same records again (new batches of the same content): what reads
    # those batches is rebuilt too, not the file sources that sent nothing.
    assert re.search(r"daily run, one row corrected: Only what reads the landed data of [\w, ]*sis_attendance", out)
    assert "The attendance fact is updated incrementally: " in out


def test_a_one_row_correction_rebuilt_only_what_reads_it_as_a_full_build_would(operations_bench):
    """After the bench's last run (a corrected attendance file): dbt ran exactly the models and
    tests downstream of the SIS attendance's landed data and of the REST walks' new batches (the
    same records again), not of the SIS roster nor the assessment files, which sent nothing new;
    identity was not resolved again (no person record changed); and a full build of the same
    landed data gives the same warehouse, table by table."""
    _, workdir = operations_bench
    config = load_config(workdir / "district.yaml")
    record = read_build_record(config)
    systems = record["build"]["systems"]
    assert "sis_attendance" in systems and not {"oneroster_csv", "nwea_map", "iready"} & set(systems), systems
    assert record["identity"]["resolved"] is False

    manifest = json.loads(dbt_project.manifest_path.read_text())
    first = step_nodes(manifest, after_identity=False)
    steps = sorted(dbt_target_dir(config).glob("*/run_results.json"), key=lambda p: p.stat().st_mtime)
    ran = [
        {r["unique_id"] for r in json.loads(p.read_text())["results"] if not r["unique_id"].startswith("operation.")}
        for p in steps[-2:]
    ]
    ran_first = next(nodes for nodes in ran if nodes <= first)
    rebuilt = nodes_to_rebuild(manifest, systems, config.landing_dir)
    assert ran_first == first & rebuilt
    assert "model.interop_warehouse.fct_student_daily_attendance" in ran_first
    assert len(ran_first) < len(first) / 2

    partial = fingerprint(config.build_warehouse_path)
    done = run_dbt(config, workdir / "full_build", "build", "--full-refresh")
    assert done.returncode == 0, done.stdout[-3000:]
    assert fingerprint(config.build_warehouse_path) == partial


def test_the_files_only_bench_runs_with_no_system_reached_over_http(tmp_path, monkeypatch):
    """`bench_operations.py --files-only` (the 100,000-student measurement): the demo district
    without its REST sources and Ed-Fi API recipient, every file drop and file extract kept; run
    as the README shows it, at 100 students."""
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    from bench_operations import files_only_secrets, leave_out_http_systems
    from bench_pipeline import write_bench_config

    from interop_pipeline.config import ApiSource

    config_path = write_bench_config(tmp_path)
    everything = load_config(config_path)
    leave_out_http_systems(config_path)
    files_only = load_config(config_path)
    over_http = {name for name, source in everything.sources.items() if isinstance(source, ApiSource)}
    assert over_http and set(files_only.sources) == set(everything.sources) - over_http
    assert set(files_only.recipients) == set(everything.recipients) - {"state_ods"}
    assert {r.format for r in files_only.recipients.values()} == {"oneroster_1.2", "oneroster_1.1", "research"}
    # What the simulators would hand the runs: the research extract's HMAC key among them (set
    # in a copy of the environment).
    monkeypatch.setattr(os, "environ", dict(os.environ))
    with files_only_secrets(config_path) as vendors:
        assert files_only.recipients["university_study"].hmac_secret_env in vendors["env"]

    # The command as the README shows it, at a small size: every run goes through (the research
    # extract among them, with the key it was handed), and the correction rebuilds only what reads
    # the SIS attendance (no REST walk brings new batches here).
    workdir = tmp_path / "files_only"
    small = ("--students", "100", "--repeat", "1", "--workdir", str(workdir))
    out = _run("bench/bench_operations.py", *small, "--files-only")
    assert "Operations at 100 students, file drops and file extracts only" in out, out
    assert out.count("target <=") == 4
    assert "daily run, one row corrected: Only what reads the landed data of sis_attendance is rebuilt" in out
    ran = load_config(workdir / "district.yaml")
    assert set(ran.sources) == set(files_only.sources) and set(ran.recipients) == set(files_only.recipients)
    assert list((workdir / "exports" / "university_study").iterdir())


def test_the_suite_bench_runs_make_test_in_a_fresh_clone(tmp_path):
    """`bench_test_suite.py` as the README shows it, the suite narrowed to one small file: the
    clone installs from its own lock, lints, runs those tests and reports against the target."""
    clone = tmp_path / "clone"
    small = ("--pytest-args", "tests/test_config.py", "--timeout", "500")
    out = _run("bench/bench_test_suite.py", "--workdir", str(clone), *small)
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "tests/test_config.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    ).stdout
    tests = int(re.search(r"^(\d+) tests? collected", collected, re.M).group(1))
    assert re.search(rf"^  pytest: {tests} passed\b", out, re.M), out
    assert re.search(r"^  make test\s+\d+ min [\d.]+ s   target <= 10 min: met$", out, re.M), out
    assert (clone / ".venv" / "bin" / "python").exists()  # installed in the clone, from its lock
