"""The landing benchmark's README command at a small size: both engines land the generated
attendance and assessment files, the vectorized one without falling back, and their landed
content is identical."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_landing_bench_times_both_engines_and_finds_them_identical(tmp_path: Path) -> None:
    command = ["bench/bench_landing.py", "--rows", "3000", "--repeat", "1", "--workdir", str(tmp_path)]
    done = subprocess.run([sys.executable, *command], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    rows = re.findall(r"^(attendance|assessment)\s+(python|vectorized)\s+([\d,]+)\s+([\d,]+)\s+[\d.]+", out, re.M)
    assert {(kind, engine) for kind, engine, _, _ in rows} == {
        (kind, engine) for kind in ("attendance", "assessment") for engine in ("python", "vectorized")
    }, out
    assert all(int(count.replace(",", "")) == 3000 for _, _, count, _ in rows), out
    assert all(int(rejected.replace(",", "")) > 0 for _, _, _, rejected in rows), out  # the defects
    assert out.count("landed content identical: yes") == 2, out
    assert "fell back" not in out, out
