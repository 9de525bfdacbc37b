"""The benchmark commands the README quotes, run as the README shows them at a small size, so a
change that breaks one fails here rather than when someone next measures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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


def test_operations_bench_times_the_definitions_the_demo_and_two_daily_runs(tmp_path):
    """The quiet run skips the build; the one-row correction updates the attendance fact
    incrementally (as the runs' build records say)."""
    out = _run("bench/bench_operations.py", "--students", "100", "--repeat", "1", "--workdir", str(tmp_path / "ops"))
    names = ("definitions load", "demo run", "daily run, nothing new", "daily run, one row corrected")
    figures = dict(re.findall(rf"^  ({'|'.join(names)})\s+([\d.]+) s", out, re.M))
    assert set(figures) == set(names), out
    assert all(float(seconds) > 0 for seconds in figures.values())
    assert out.count("target <=") == 4
    assert "demo run: The warehouse is built in full" in out
    assert "daily run, nothing new: not rebuilt: nothing it reads had changed" in out
    assert "daily run, one row corrected: The attendance fact is updated incrementally: " in out
