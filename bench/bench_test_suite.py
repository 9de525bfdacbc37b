"""`make test` timed as CI runs it, against its target of 10 minutes: a fresh clone of the
repository's committed HEAD, then `bash .ci/run` in it (install from the lock, Chromium and
playwright-core for the browser tests, ruff, the whole suite on three workers).

    python bench/bench_test_suite.py [--workdir DIR] [--pytest-args ARGS] [--timeout SECONDS]

It prints the wall time, the machine's busy CPU seconds over it (the suite is CPU-bound: on two
cores the wall time is about half the CPU time) and pytest's own summary line. Run it with
nothing else running. --pytest-args narrows the suite (pytest's PYTEST_ADDOPTS, e.g.
"tests/test_config.py"): the command's own test runs it that way, at a small size. The clone is
removed afterwards unless --workdir names where to keep it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_SECONDS = 600
# What a caller's environment must not hand the suite: a virtualenv or interpreter of its own
# (the Makefile reads PYTHON), an outer make's settings, a pytest or xdist worker's, a district
# or Dagster instance of its own.
LEFT_OUT = (
    "VIRTUAL_ENV",
    "PYTHON",  # PYTHON, PYTHONPATH, PYTHONHOME (PYTHONDONTWRITEBYTECODE and the like are kept)
    "UV_PROJECT_ENVIRONMENT",
    "UV_PYTHON",
    "UV_RUN_RECURSION_DEPTH",
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "PYTEST_",
    "INTEROP_",
    "DAGSTER_HOME",
)
KEPT_PYTHON_SETTINGS = ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONIOENCODING", "PYTHONHASHSEED")


def busy_cpu_seconds() -> float:
    """The machine's busy CPU time so far (Linux /proc/stat: all but idle and iowait)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:04.1f} s"


def suite_environment(pytest_args: str | None) -> dict[str, str]:
    """This environment without what would make the clone's suite use the caller's Python: the
    names in LEFT_OUT, and the caller's virtualenv on PATH (`uv run` puts it first; the clone's
    `make` must find the machine's python3, with uv)."""
    env = {k: v for k, v in os.environ.items() if k in KEPT_PYTHON_SETTINGS or not k.startswith(LEFT_OUT)}
    venvs = {Path(p).resolve() for p in (sys.prefix, os.environ.get("VIRTUAL_ENV")) if p and p != sys.base_prefix}
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p).resolve().parent not in venvs
    )
    if pytest_args:
        env["PYTEST_ADDOPTS"] = pytest_args
    return env


def run_suite(clone: Path, pytest_args: str | None, timeout: float | None) -> tuple[int, float, float, str]:
    """Clone, then `bash .ci/run` in the clone: its exit code, wall and busy CPU seconds, output.
    Past `timeout` the whole run (make, pytest and its workers) is killed."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    started, cpu = time.monotonic(), busy_cpu_seconds()
    suite = subprocess.Popen(
        ["bash", ".ci/run"],
        cwd=clone,
        env=suite_environment(pytest_args),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = suite.communicate(timeout=timeout)
    except BaseException:  # the timeout, or Ctrl-C: nothing of the suite is left running
        os.killpg(suite.pid, signal.SIGKILL)
        suite.wait()
        raise
    return suite.returncode, time.monotonic() - started, busy_cpu_seconds() - cpu, output


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, help="where to clone (kept); a removed temporary folder otherwise")
    parser.add_argument("--pytest-args", help="narrow the suite (PYTEST_ADDOPTS)")
    parser.add_argument("--timeout", type=float, help="seconds after which the run is killed")
    args = parser.parse_args()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout
    with tempfile.TemporaryDirectory(prefix="suite-") as scratch:
        clone = args.workdir or Path(scratch) / "clone"
        code, wall, cpu, output = run_suite(clone, args.pytest_args, args.timeout)
    summary = re.findall(r"^=+ (.*(?:passed|failed|error).*) =+$", output, re.M)
    narrowed = f" (pytest {args.pytest_args})" if args.pytest_args else ""
    print(f"make test in a fresh clone of {commit.strip()}{narrowed}")
    print(f"  pytest: {summary[-1] if summary else 'no summary line'}")
    print(f"  busy CPU: {cpu:,.0f} s over the run (the machine's, from /proc/stat)")
    verdict = "met" if code == 0 and wall <= TARGET_SECONDS else "not met"
    print(f"  make test                  {minutes(wall):>14}   target <= {TARGET_SECONDS // 60} min: {verdict}")
    if code != 0:
        print(f"  it failed (exit code {code}); the end of its output:\n{output[-3000:]}")
        sys.exit(1)


if __name__ == "__main__":
    main()
