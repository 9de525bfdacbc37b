"""What a data engineer waits for, against the operations targets: loading the definitions (the
UI, the daemon and every run do it), the demo's whole run, a daily run with nothing new, and a
daily run after a one-row correction of an attendance file.

    python bench/bench_operations.py [--students 2000] [--repeat 3] [--workdir data/bench_ops] [--files-only]

Each figure is the wall time of the real command in a fresh process (median of --repeat for the
definitions). The district is generated first (`interop-pipeline generate`, timed apart), then the
vendors' APIs come up and stay up, as a district's vendors are (the simulators in a process of
their own, started untimed; the same simulated ODS/API receives every run's Ed-Fi load). The
demo's run is `interop-pipeline run` on the fresh district, as `demo` runs it after generating;
the daily runs follow it. After each run it prints how the warehouse was built (from the build
record, transform/unchanged.py). Figures vary between machines and runs: compare ratios.

--files-only leaves out the systems reached over HTTP (the REST sources and the Ed-Fi ODS/API
recipient), for sizes where their simulators cannot follow: at 100,000 students the simulated
vendors need over 12 GB, and their first walks and the first Ed-Fi load take over half an hour
on two cores. What remains is every file drop, the warehouse and the file extracts.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import yaml
from bench_pipeline import write_bench_config

from interop_pipeline.config import load_config
from interop_pipeline.simulators.apis import recipient_secrets, simulators_in_own_process
from interop_pipeline.transform.unchanged import BuildMode, read_build_record

CORRECTED_RUN = "daily run, one row corrected"
# Wall-time targets in seconds, and the size each is set at.
TARGETS = {
    "definitions load": (2.0, None),
    "demo run": (60.0, 2000),
    "daily run, nothing new": (20.0, None),
    CORRECTED_RUN: (60.0, 100_000),
}
CLI = [sys.executable, "-m", "interop_pipeline.cli"]


def _timed(command: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:4])} failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    return time.perf_counter() - started


def _build_record(config_path: Path) -> dict:
    return read_build_record(load_config(config_path)) or {}


def how_it_built(before: dict, after: dict) -> str:
    """How a run built the warehouse, from the build record before and after it."""
    if after.get("run_id") == before.get("run_id"):
        return "not rebuilt: nothing it reads had changed"
    return BuildMode.from_record(after.get("build") or {}).sentence()


def correct_one_attendance_row(config_path: Path) -> Path:
    """A new file in the SIS attendance drop: the newest export's first row with its code
    corrected (unexcused to excused, or back), as a school office sends a correction."""
    config = load_config(config_path)
    folder = config.drop_folder(config.sources["sis_attendance"])
    newest = sorted(folder.glob("attendance_*.csv"))[-1]
    with newest.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        row = next(reader)
        header = reader.fieldnames
    excused = row["Att_Code"] != "E"
    row.update(Att_Code="E" if excused else "A", Description="Excused Absence" if excused else "Unexcused Absence")
    corrected = newest.with_name(f"{newest.stem}_correction.csv")
    with corrected.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, header, quoting=csv.QUOTE_ALL)
        writer.writeheader()
        writer.writerow(row)
    return corrected


def definitions_load(config: Path) -> float:
    """Seconds to import interop_pipeline.definitions, measured inside a fresh interpreter."""
    code = "import time; t = time.perf_counter(); import interop_pipeline.definitions; print(time.perf_counter() - t)"
    env = {**os.environ, "INTEROP_DISTRICT_CONFIG": str(config)}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    return float(result.stdout.strip().splitlines()[-1])


def leave_out_http_systems(config_path: Path) -> None:
    """The config without the sources and recipients reached over HTTP (those with a base_url)."""
    raw = yaml.safe_load(config_path.read_text())
    for section in ("sources", "recipients"):
        raw[section] = {name: entry for name, entry in raw[section].items() if "base_url" not in entry}
    config_path.write_text(yaml.safe_dump(raw, sort_keys=False))


def files_only_secrets(config_path: Path) -> nullcontext:
    """What the simulators would hand the runs without them: the recipients' secrets (the
    research extract's HMAC key)."""
    recipients = load_config(config_path).recipients.values()
    return nullcontext({"env": {name: value for r in recipients for name, value in recipient_secrets(r).items()}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench_ops"))
    parser.add_argument("--files-only", action="store_true", help="leave out the REST sources and the Ed-Fi API")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    args.workdir.mkdir(parents=True)
    config = write_bench_config(args.workdir.resolve())
    if args.files_only:
        leave_out_http_systems(config)

    figures = {"definitions load": statistics.median(definitions_load(config) for _ in range(args.repeat))}
    generated = _timed([*CLI, "generate", "--config", str(config), "--students", str(args.students)])
    builds = {}
    with files_only_secrets(config) if args.files_only else simulators_in_own_process(config) as vendors:
        env = {**os.environ, **vendors["env"]}
        run = [*CLI, "run", "--config", str(config)]
        for name in ("demo run", "daily run, nothing new", CORRECTED_RUN):
            if name == CORRECTED_RUN:
                correct_one_attendance_row(config)
            before = _build_record(config)
            figures[name] = _timed(run, env)
            builds[name] = how_it_built(before, _build_record(config))

    systems = "file drops and file extracts only" if args.files_only else "every system"
    print(f"Operations at {args.students:,} students, {systems} (wall seconds; definitions: median of {args.repeat})")
    for name, seconds in figures.items():
        target, at_students = TARGETS[name]
        verdict = "met" if seconds <= target else "not met"
        if at_students and args.students != at_students:
            verdict += f" (the target is set at {at_students:,} students)"
        print(f"  {name:<28} {seconds:>8.1f} s   target <= {target:g} s: {verdict}")
    print(f"  (generating the district took {generated:.1f} s; the vendors' simulators started untimed)")
    for name, sentence in builds.items():
        print(f"  {name}: {sentence}")


if __name__ == "__main__":
    main()
