"""Time the two landing engines on big generated append files: rows/s, CPU and peak memory.

    python bench/bench_landing.py [--rows 1000000] [--repeat 3] [--workdir data/bench/landing]
        [--kinds attendance assessment] [--without-conformance]

Two files are generated once per size and seed (kept in the work folder): a SIS attendance
export (``attendance_<rows>.csv``, the sis_attendance format, string cells quoted as the SIS
writes them) and an NWEA MAP AssessmentResults file (``AssessmentResults_<rows>.csv``, every
cell quoted, every column of the declaration). About one row in a thousand carries a defect a
real export has: a bad date, an unmapped code, a repeated key, a short or long record, a null
sentinel, a quoted delimiter, a stray quote, trailing empty cells; so the rejects and the
warnings are exercised too.

Each file lands with each engine (``python``: row by row, the reference; ``vectorized``:
column-wise, connectors/vectorized.py) as the drop-folder asset lands it, with the conformance
sinks (the assessment file's conformed results and scores land in the same batch; the
conformance layer works row by row in Python whichever engine reads the file, and
``--without-conformance`` leaves it out to time the reading alone), after a
warm-up landing of its first lines in the same process (imports and caches, as a run landing
several files has them). Every run is a fresh process, so its peak resident memory is its own;
the figures are medians over ``--repeat`` runs. The landed batches of the two engines are then
compared (every Parquet file: landed rows, conformed rows, rejects, the batch record with its
details; both engines land with the same extraction time, so even the batch ids agree) and the
bench fails if they differ. Timings on a shared machine vary: compare the engines' ratio, and
the rows per CPU second (both threads of the vectorized engine counted), which waiting for a
busy machine does not change as much as the wall time.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from interop_pipeline.simulators.vendor_files import ATTENDANCE_HEADER  # noqa: E402  (the SIS export's header)

ENGINES = ("python", "vectorized")
KINDS = ("attendance", "assessment")
EXTRACTED_AT = datetime(2026, 6, 1, 6, 0, 0, tzinfo=UTC)
WIDTHS = (10, 9, 8, 7, 10, 11, 8)  # the table's number columns
DEFECT_EVERY = 997  # about one row in a thousand carries a defect

ATTENDANCE_CODES = [
    ("A", "Unexcused Absence", "Absent", "390"),
    ("E", "Excused Absence", "Absent", "390"),
    ("T", "Tardy", "Present", "15"),
    ("H", "Half Day Absence", "Absent", "195"),
]
MAP_HEADER = [
    "TermName", "DistrictName", "District_StateID", "SchoolName", "School_StateID", "StudentID", "Student_StateID",
    "Subject", "Course", "GrowthMeasureYN", "NormsReferenceData", "TestType", "TestName", "TestID", "TestStartDate",
    "TestStartTime", "TestDurationMinutes", "TestRITScore", "TestStandardError", "TestPercentile",
    "AchievementQuintile", "PercentCorrect", "RapidGuessingPercentage", "FallToWinterProjectedGrowth",
    "FallToWinterObservedGrowth", "FallToWinterObservedGrowthSE", "FallToWinterMetProjectedGrowth",
    "FallToWinterConditionalGrowthIndex", "FallToWinterConditionalGrowthPercentile", "FallToWinterGrowthQuintile",
    "FallToSpringProjectedGrowth", "FallToSpringObservedGrowth", "FallToSpringObservedGrowthSE",
    "FallToSpringMetProjectedGrowth", "FallToSpringConditionalGrowthIndex",
    "FallToSpringConditionalGrowthPercentile", "FallToSpringGrowthQuintile", "WinterToSpringProjectedGrowth",
    "WinterToSpringObservedGrowth", "WinterToSpringObservedGrowthSE", "WinterToSpringMetProjectedGrowth",
    "WinterToSpringConditionalGrowthIndex", "WinterToSpringConditionalGrowthPercentile",
    "WinterToSpringGrowthQuintile", "LexileScore", "LexileMin", "LexileMax", "QuantileScore", "QuantileMin",
    "QuantileMax",
]  # fmt: skip
SCHOOLS = [(f"0600001{n:04d}", f"School {n}") for n in range(1, 41)]
QUINTILES = ["Low", "LoAvg", "Avg", "HiAvg", "High"]


# --------------------------------------------------------------------------------------------
# Generated files
# --------------------------------------------------------------------------------------------


def _quoted(values: list[str]) -> str:
    return ",".join('"' + value.replace('"', '""') + '"' for value in values)


def write_attendance(path: Path, rows: int, seed: int) -> None:
    """A negative attendance export: one row per absence or tardy, keys unique but for defects."""
    rng = random.Random(seed)
    first = date(2025, 8, 18)
    days = [
        (first + timedelta(days=d)).strftime("%m/%d/%Y")
        for d in range(0, 300)
        if (first + timedelta(days=d)).weekday() < 5
    ]
    students = max(rows // 20, 50)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(_quoted(ATTENDANCE_HEADER) + "\n")
        previous = ""
        for i in range(rows):
            student, day = i % students, days[(i // students) % len(days)]
            code, description, status, minutes = ATTENDANCE_CODES[rng.randrange(4)]
            school = SCHOOLS[student % len(SCHOOLS)][0]
            cells = [f"{1000000 + student:07d}", school, day, code, description, status]
            line = _quoted(cells) + "," + minutes
            if i % DEFECT_EVERY == DEFECT_EVERY - 1:
                line = _attendance_defect(i // DEFECT_EVERY, cells, minutes, previous)
            previous = line
            out.write(line + "\n")


def _attendance_defect(k: int, cells: list[str], minutes: str, previous: str) -> str:
    kind = k % 9
    if kind == 0:
        cells[2] = "13/45/2025"  # not a date
    elif kind == 1:
        cells[5] = "Unknown"  # not in the code map (unmapped: reject)
    elif kind == 2:
        return previous  # the same key again
    elif kind == 3:
        return _quoted(cells[:4])  # short record
    elif kind == 4:
        return _quoted(cells) + "," + minutes + ',"",""'  # trailing empty cells (tolerated)
    elif kind == 5:
        return _quoted(cells) + "," + minutes + ',"extra"'  # a cell beyond the header
    elif kind == 6:
        cells[4] = "Absent, excused by office"  # a quoted delimiter
    elif kind == 7:
        return _quoted(cells) + ",N/A"  # a null sentinel in a typed field
    else:
        return _quoted(cells[:3]) + ',"T"ardy,' + minutes  # a stray quote: not valid CSV
    return _quoted(cells) + "," + minutes


def write_assessment(path: Path, rows: int, seed: int) -> None:
    """An NWEA MAP AssessmentResults file: one test event per row, every cell quoted."""
    rng = random.Random(seed)
    terms = [
        ("Fall 2025-2026", date(2025, 9, 8)),
        ("Winter 2025-2026", date(2026, 1, 12)),
        ("Spring 2025-2026", date(2026, 5, 4)),
    ]
    subjects = [("Mathematics", "Math K-12", "20000"), ("Language Arts", "Reading", "20010")]
    students = max(rows // 6, 50)
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write(_quoted(MAP_HEADER) + "\n")
        for i in range(rows):
            student = i % students
            term, start = terms[(i // students) % 3]
            subject, course, test_id = subjects[(i // (students * 3)) % 2]
            school_id, school = SCHOOLS[student % len(SCHOOLS)]
            rit = 150 + rng.randrange(120)
            day = start + timedelta(days=rng.randrange(20))
            growth = [f"{rng.uniform(-5, 15):.1f}", f"{rng.uniform(-5, 15):.1f}", f"{rng.uniform(1, 4):.1f}",
                      rng.choice(["Yes", "No", "Yes*", "No*"]), f"{rng.uniform(-2, 2):.2f}", str(rng.randrange(1, 100)),
                      rng.choice(QUINTILES)]  # fmt: skip
            lexile = rng.randrange(-200, 1400)
            lexile_text = f"BR{-lexile}L" if lexile < 0 else f"{lexile}L"
            cells = [
                term, "Demo Unified School District", "0600001", school, school_id,
                f"{2000000 + student + (i // (students * 6)) * students:07d}", f"{1000000000 + student}",
                subject, course, "TRUE", "2020", "Survey With Goals", f"Growth: {course} CA", test_id,
                day.strftime("%m/%d/%Y"), f"{8 + rng.randrange(6):02d}:{rng.randrange(60):02d}:00",
                str(20 + rng.randrange(60)), str(rit), f"{rng.uniform(2.5, 3.5):.1f}", str(rng.randrange(1, 100)),
                rng.choice(QUINTILES), f"{rng.uniform(30, 90):.1f}", f"{rng.uniform(0, 20):.1f}",
                *growth, *growth, *growth,
                lexile_text if subject != "Mathematics" else "", "", "",
                f"{rit * 3}Q" if subject == "Mathematics" else "", "", "",
            ]  # fmt: skip
            if i % DEFECT_EVERY == DEFECT_EVERY - 1:
                kind = (i // DEFECT_EVERY) % 5
                if kind == 0:
                    cells[17] = "2O5"  # a RIT score that is not an integer
                elif kind == 1:
                    cells[14] = "2026-02-30"  # not a date
                elif kind == 2:
                    cells[19] = "N/A"  # a null sentinel (lands null, counted)
                elif kind == 3:
                    cells[44] = "BR-120L"  # not a Lexile measure
                else:
                    cells[0] = "Autumn 2025"  # the term does not derive a season and school year
            out.write(_quoted(cells) + "\n")


def generated_files(workdir: Path, rows: int, seed: int) -> dict[str, Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    files = {
        "attendance": (workdir / f"attendance_{rows}_{seed}.csv", write_attendance),
        "assessment": (workdir / f"AssessmentResults_{rows}_{seed}.csv", write_assessment),
    }
    for path, write in files.values():
        if not path.exists():
            partial = path.with_suffix(".partial")
            write(partial, rows, seed)
            partial.replace(path)
    return {kind: path for kind, (path, _) in files.items()}


# --------------------------------------------------------------------------------------------
# One landing, in its own process
# --------------------------------------------------------------------------------------------


def land_once(kind: str, engine: str, path: Path, landing: Path, conform: bool = True) -> dict:
    """Land `path` with `engine` into `landing` (emptied first); wall and CPU seconds, rows, peak MB."""
    from interop_pipeline.connectors.conformance import ConformingSinks
    from interop_pipeline.connectors.tabular import builtin_declarations, land_vendor_file

    declaration = builtin_declarations()["sis_attendance" if kind == "attendance" else "nwea_map_assessment_results"]

    def land(source: Path, into: Path):
        shutil.rmtree(into, ignore_errors=True)
        return land_vendor_file(
            source,
            [declaration],
            into,
            district_code="bench",
            max_uncompressed_bytes=2**40,
            extracted_at=EXTRACTED_AT,
            row_sinks=ConformingSinks() if conform else None,
            engine=engine,
        )

    # Warm up on the file's first lines (imports, caches), as a run landing several files is.
    warm = landing.parent / f"warm_up_{engine}" / path.name
    warm.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "rb") as whole:
        warm.write_bytes(b"".join(line for _, line in zip(range(200), whole, strict=False)))
    land(warm, warm.parent / "landing")
    started, cpu = time.perf_counter(), time.process_time()
    result = land(path, landing)
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    entity = declaration.entity
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "rows": result.rows_landed[entity] + result.rows_rejected[entity],
        "landed": result.rows_landed[entity],
        "rejected": result.rows_rejected[entity],
        "engine_used": result.engines[entity],
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _in_child(kind: str, engine: str, path: Path, landing: Path, conform: bool) -> dict:
    command = [sys.executable, __file__, "--land", kind, engine, str(path), str(landing), "yes" if conform else "no"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"landing {kind} with {engine} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_landing(one: Path, other: Path) -> bool:
    """Whether two landing folders hold the same Parquet files with the same content (compared
    as Arrow tables, whatever their row groups)."""
    import pyarrow.parquet as pq

    def files(root: Path) -> list[Path]:
        return sorted(p.relative_to(root) for p in root.rglob("*.parquet") if not p.name.startswith("."))

    if files(one) != files(other):
        return False
    return all(pq.read_table(one / name).equals(pq.read_table(other / name)) for name in files(one))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each generated file")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each engine per file (median)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", type=Path, default=Path("data/bench/landing"))
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument(
        "--without-conformance", action="store_true", help="land the rows only (no conformed results and scores)"
    )
    parser.add_argument("--land", nargs=5, help=argparse.SUPPRESS)  # internal: one landing
    args = parser.parse_args()
    if args.land:
        kind, engine, path, landing, conform = args.land
        print(json.dumps(land_once(kind, engine, Path(path), Path(landing), conform == "yes")))
        return

    workdir = args.workdir.resolve()
    started = time.perf_counter()
    files = generated_files(workdir, args.rows, args.seed)
    print(f"files: {args.rows:,} rows each ({time.perf_counter() - started:.1f} s to generate or reuse)")
    failed = False
    conform = not args.without_conformance
    print("with the conformance sinks" if conform else "rows only, no conformance sinks")
    columns = ("rows", "rejected", "wall s", "cpu s", "rows/s", "rows/cpu s", "peak MB")
    print(f"{'file':<12} {'engine':<11} " + " ".join(f"{c:>{w}}" for c, w in zip(columns, WIDTHS, strict=True)))
    for kind in args.kinds:
        figures: dict[str, dict] = {}
        for engine in ENGINES:
            landing = workdir / f"landing_{engine}"
            runs = [_in_child(kind, engine, files[kind], landing, conform) for _ in range(args.repeat)]
            wall = statistics.median(run["wall_s"] for run in runs)
            cpu = statistics.median(run["cpu_s"] for run in runs)
            peak = statistics.median(run["peak_mb"] for run in runs)
            run = runs[0]
            figures[engine] = {"wall": wall, "rows_per_s": run["rows"] / wall, "engine_used": run["engine_used"]}
            print(
                f"{kind:<12} {engine:<11} {run['rows']:>10,} {run['rejected']:>9,} {wall:>8.2f} {cpu:>7.2f} "
                f"{run['rows'] / wall:>10,.0f} {run['rows'] / cpu:>11,.0f} {peak:>8.0f}",
                flush=True,
            )
        if figures["vectorized"]["engine_used"] != "vectorized":
            print(f"  the vectorized engine fell back: {figures['vectorized']['engine_used']}")
            failed = True
        same = same_landing(workdir / "landing_python", workdir / "landing_vectorized")
        ratio = figures["python"]["wall"] / figures["vectorized"]["wall"]
        verdict = "yes" if same else "NO"
        print(f"  {kind}: vectorized {ratio:.1f}x the row-by-row engine; landed content identical: {verdict}")
        failed |= not same
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
