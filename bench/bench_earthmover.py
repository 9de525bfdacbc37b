"""The project against the field's tool: NWEA MAP Growth CDF → Ed-Fi studentAssessments, in rows/s.

    python bench/bench_earthmover.py [--rows 100000] [--seed 1] [--repeat 1] [--workdir data/bench/earthmover]
                                     [--bundle /work/shared/peers/earthmover_map_growth] [--skip-earthmover]

One generated CDF AssessmentResults.csv (every cell double-quoted, MM/DD/YYYY dates, numeric
Student_StateID, unique TestID, the Goal1-8 and ProjectedProficiencyStudy1-9 columns the
bundle's earthmover.yaml keeps) is read by both sides:

- earthmover: Education Analytics' MAP_Growth bundle (`earthmover run`, STUDENT_ID_NAME =
  Student_StateID) from its own virtual environment, bench/.earthmover-venv (git-ignored),
  created on first use with `uv pip install earthmover==0.4.10` (pip where uv is missing);
  never in the project's lock.
- ours: `ours(path, workdir)`, the path a district's vendor file takes: land it with
  tabular.land_vendor_file, the built-in nwea_map_assessment_results declaration and the
  conformance layer's row sinks (parse, type, validate, parquet, plus the conformed
  _assessment_results / _assessment_scores / _student_records rows in the same batch), then
  one Ed-Fi studentAssessments JSON document per conformed result, built by
  edfi.student_assessment_documents (the code the warehouse path's assessment_documents uses)
  from the conformed parquet, which DuckDB joins a part at a time and streams in record
  batches. Run again with every document checked against its Ed-Fi JSON schema and default
  descriptors (edfi.student_assessments, as the ODS publish does; earthmover checks nothing, its
  lightbeam validate is a separate step), and at rows/4 and rows*2 to show peak memory.

What the documents hold differs: earthmover's bundle sends every score, performance level and
objective assessment (the goals) of the row (~11 KB each here); the declaration's conformance
sends the six scores and the achievement quintile, no goals (~1.6 KB).

Each side runs in its own process and is timed from the outside (start-up and imports count for
both); peak memory is the peak RSS of that process tree (psutil polling, summed over the tree,
and the kernel's ru_maxrss of the reaped child, whichever is larger). With --repeat N each run
is repeated and the median (by time) reported. Every run must write exactly one
studentAssessments document per input row.

Memory: landing writes a row group every landing.FLUSH_ROWS (10,000) rows and the documents are
built a part (PART_ROWS results) at a time; what still grows with rows is the per-row keys the
landing holds to refuse repeated rows and number repeated results (~0.3 KB a row).
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EARTHMOVER_VERSION = "0.4.10"
EARTHMOVER_VENV = ROOT / "bench" / ".earthmover-venv"
DEFAULT_BUNDLE = Path(os.environ.get("EARTHMOVER_MAP_BUNDLE", "/work/shared/peers/earthmover_map_growth"))
TARGET_RATIO = 20.0
DECLARATION = "nwea_map_assessment_results"

# --------------------------------------------------------------------------------------------
# The input: one CDF AssessmentResults file that both tools accept
# --------------------------------------------------------------------------------------------

GROWTH_WINDOWS = ("FallToFall", "FallToWinter", "FallToSpring", "WinterToWinter", "WinterToSpring", "SpringToSpring")
GROWTH_PARTS = (
    "ProjectedGrowth",
    "ObservedGrowth",
    "ObservedGrowthSE",
    "MetProjectedGrowth",
    "ConditionalGrowthIndex",
    "ConditionalGrowthPercentile",
    "GrowthQuintile",
)
GOAL_PARTS = ("Name", "RitScore", "StdErr", "Range", "Adjective")
CDF_HEADER = [
    "TermName",
    "DistrictName",
    "District_StateID",
    "SchoolName",
    "School_StateID",
    "StudentID",
    "Student_StateID",
    "Subject",
    "Course",
    "GrowthMeasureYN",
    "NormsReferenceData",
    "TestType",
    "TestName",
    "TestID",
    "TestStartDate",
    "TestStartTime",
    "TestDurationMinutes",
    "TestRITScore",
    "TestStandardError",
    "TestPercentile",
    "AchievementQuintile",
    "PercentCorrect",
    "RapidGuessingPercentage",
    *(f"{window}{part}" for window in GROWTH_WINDOWS for part in GROWTH_PARTS),
    "LexileScore",
    "LexileMin",
    "LexileMax",
    "QuantileScore",
    "QuantileMin",
    "QuantileMax",
    *(f"Goal{i}{part}" for i in range(1, 9) for part in GOAL_PARTS),
    *(f"ProjectedProficiency{kind}{i}" for i in range(1, 10) for kind in ("Study", "Level")),
]
SUBJECTS = (
    ("Mathematics", "Math K-12", "Growth: Math 2-5 CCSS 2010 V2", "Q"),
    ("Language Arts", "Reading", "Growth: Reading 2-5 CCSS 2010 V3", "L"),
)
GOALS = {
    "Mathematics": (
        "Operations and Algebraic Thinking",
        "Number and Operations",
        "Measurement and Data",
        "Geometry",
    ),
    "Language Arts": (
        "Literary Text: Key Ideas and Details",
        "Literary Text: Language, Craft, and Structure",
        "Informational Text: Key Ideas and Details",
        "Vocabulary: Acquisition and Use",
    ),
}
QUINTILES = ("Low", "LoAvg", "Avg", "HiAvg", "High")
TERM = "Spring 2024-2025"


def _measure(value: int, unit: str) -> str:
    below = "BR" if unit == "L" else "EM"
    return f"{below}{-value}{unit}" if value < 0 else f"{value}{unit}"


def write_cdf(path: Path, rows: int, seed: int = 1) -> Path:
    """A Spring CDF AssessmentResults.csv of `rows` test events: two subjects per student, a
    unique TestID per event, numeric Student_StateIDs, four of eight goals filled. Deterministic
    for (rows, seed)."""
    rng = np.random.default_rng(seed)
    rit = rng.integers(150, 250, rows)
    percentile = rng.integers(1, 100, rows)
    duration = rng.integers(20, 80, rows)
    sem = rng.integers(28, 36, rows) / 10
    growth = rng.integers(-6, 20, rows)
    projected = rng.integers(5, 12, rows)
    goal_rit = rit[:, None] + rng.integers(-12, 13, (rows, 4))
    days = rng.integers(0, 45, rows)
    seconds = rng.integers(8 * 3600, 14 * 3600, rows)
    measure = rng.integers(-150, 1300, rows)
    first_day = date(2025, 4, 14)
    path.parent.mkdir(parents=True, exist_ok=True)
    empty_growth = [""] * len(GROWTH_PARTS)
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\r\n")
        writer.writerow(CDF_HEADER)
        for i in range(rows):
            student, which = divmod(i, 2)
            subject, course, test_name, unit = SUBJECTS[which]
            school = student % 23
            tested = first_day + timedelta(days=int(days[i]))
            clock = int(seconds[i])
            score, pct, g = int(rit[i]), int(percentile[i]), int(growth[i])
            spring_growth = [
                int(projected[i]),
                g,
                f"{sem[i] * 1.4:.1f}",
                "Yes" if g >= projected[i] else "No",
                f"{(g - projected[i]) / 7:.2f}",
                min(max(50 + 5 * (g - int(projected[i])), 1), 99),
                QUINTILES[min(max(g + 6, 0) * 5 // 26, 4)],
            ]
            shown = _measure(int(measure[i]), unit)
            lexile = [shown, _measure(int(measure[i]) - 100, unit), _measure(int(measure[i]) + 50, unit)]
            goals = []
            for k, name in enumerate(GOALS[subject]):
                goal = int(goal_rit[i, k])
                goals += [name, goal, f"{sem[i] * 2.1:.1f}", f"{goal - 6}-{goal + 6}", QUINTILES[min(pct // 20, 4)]]
            writer.writerow(
                [
                    TERM,
                    "Bench Unified School District",
                    "BU01",
                    f"Bench Elementary {school:02d}",
                    f"{1000 + school}",
                    f"{student:07d}",
                    str(1_000_000_000 + student),
                    subject,
                    course,
                    "TRUE",
                    "2020",
                    "Survey With Goals",
                    test_name,
                    str(10_000_000 + i),
                    f"{tested.month:02d}/{tested.day:02d}/{tested.year}",
                    f"{clock // 3600:02d}:{clock // 60 % 60:02d}:{clock % 60:02d}",
                    int(duration[i]),
                    score,
                    f"{sem[i]:.1f}",
                    pct,
                    QUINTILES[min(pct // 20, 4)],
                    30 + pct // 2,
                    f"{pct % 7:.1f}",
                    *empty_growth,  # FallToFall
                    *empty_growth,  # FallToWinter
                    *spring_growth,  # FallToSpring
                    *empty_growth,  # WinterToWinter
                    *spring_growth,  # WinterToSpring
                    *empty_growth,  # SpringToSpring
                    *(lexile if unit == "L" else ["", "", ""]),
                    *(lexile if unit == "Q" else ["", "", ""]),
                    *goals,
                    *[""] * (len(GOAL_PARTS) * 4),  # Goal5-8: not in these tests
                    "Smarter Balanced",
                    f"Level {1 + pct * 4 // 100}",
                    "ACT College Readiness",
                    "On Track 22" if pct >= 50 else "Not on Track",
                    *[""] * 14,  # ProjectedProficiencyStudy3-9, Level3-9
                ]
            )
    return path


# --------------------------------------------------------------------------------------------
# Our side
# --------------------------------------------------------------------------------------------


def ours(path: Path, workdir: Path, *, check: bool = False) -> int:
    """The measured path: land the CDF with conformance (parse, type, validate, parquet, and the
    conformed _assessment_results / _assessment_scores / _student_records rows in the same
    batch), then Ed-Fi studentAssessments JSON lines built from the conformed rows by the
    project's own document code (edfi.student_assessment_documents: scoreResults and
    performanceLevels). With `check`, each document is also checked against its Ed-Fi JSON
    schema and default descriptors (edfi.student_assessments, as the ODS publish does). Returns
    documents written."""
    from interop_pipeline.connectors.conformance import ConformingSinks
    from interop_pipeline.connectors.tabular import builtin_declarations, land_vendor_file

    landing = workdir / "landing"
    result = land_vendor_file(
        path,
        [builtin_declarations()[DECLARATION]],
        landing,
        district_code="bench",
        max_uncompressed_bytes=2**40,
        row_sinks=ConformingSinks(),
    )
    if result.already_landed or sum(result.rows_rejected.values()):
        raise RuntimeError(
            f"landing did not take every row: {result.rows_landed} landed, {result.rejects_by_rule} rejected"
        )
    return _our_student_assessments(landing, workdir / "output" / "studentAssessments.jsonl", check=check)


# The conformed rows as edfi.student_assessment_documents reads them (the warehouse path reads
# the same columns from fct_assessment_result and fct_assessment_score, which dbt builds from
# these files): result key, assessment, namespace, studentUniqueId (Student_StateID, as the
# earthmover run uses), date, grade descriptor, school year, and the result's scores. One part of
# the results at a time (by a hash of result_id), so DuckDB's join never holds more than a part.
_CONFORMED_SQL = """
    with results as (
        select * from read_parquet('{results}') where hash(result_id) % {parts} = {part}
    ),
    scores as (
        select result_id,
            list({{'objective': objective, 'kind': kind, 'reporting_method': reporting_method,
                'result_datatype': result_datatype, 'result': result}}
                order by objective nulls first, kind, reporting_method) as scores
        from read_parquet('{scores}')
        where hash(result_id) % {parts} = {part}
        group by result_id
    ),
    students as (
        select student_id, max(state_id) as state_id
        from read_parquet('{students}')
        where student_id in (select student_id from results)
        group by student_id
    )
    select r.result_id, r.assessment_identifier, r.namespace, coalesce(s.state_id, r.student_id),
        cast(r.administration_date as date), null::varchar, cast(r.school_year as integer), scores.scores
    from results as r
    left join scores on scores.result_id = r.result_id
    left join students as s on s.student_id = r.student_id
"""
PART_ROWS = 25_000  # results per part joined at once
DOCUMENT_BATCH_ROWS = 4096  # result rows per record batch turned into documents


def _our_student_assessments(landing_dir: Path, out_path: Path, *, check: bool = False) -> int:
    """One Ed-Fi studentAssessments document per conformed result, as JSON lines: DuckDB joins
    the landed parquet, a part at a time, and streams record batches; edfi.student_assessment_documents
    builds each document (edfi.student_assessments also checks it, with `check`). Raises if any
    is refused."""
    import duckdb

    from interop_pipeline.connectors.conformance import RESULTS_ENTITY, SCORES_ENTITY, STUDENTS_ENTITY
    from interop_pipeline.publish.edfi import (
        Refusals,
        streamed_rows,
        student_assessment_documents,
        student_assessments,
    )

    out_path.parent.mkdir(parents=True, exist_ok=True)
    system = landing_dir / "nwea_map"
    files = {
        "results": system / RESULTS_ENTITY / "*.parquet",
        "scores": system / SCORES_ENTITY / "*.parquet",
        "students": system / STUDENTS_ENTITY / "*.parquet",
    }
    refusals = Refusals()
    written = 0
    with duckdb.connect() as con, out_path.open("w", encoding="utf-8") as out:
        # One thread: DuckDB's second thread buffers more as the file grows, and the documents
        # are built in Python anyway.
        con.execute("set threads = 1")
        [(results,)] = con.execute(f"select count(*) from read_parquet('{files['results']}')").fetchall()
        parts = max(1, -(-results // PART_ROWS))
        rows = itertools.chain.from_iterable(
            streamed_rows(con, _CONFORMED_SQL.format(parts=parts, part=part, **files), DOCUMENT_BATCH_ROWS)
            for part in range(parts)
        )
        build = student_assessments if check else student_assessment_documents
        dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
        for _, document in build(rows, refusals):
            out.write(dumps(document))
            out.write("\n")
            written += 1
    if len(refusals):
        first = next(iter(refusals))
        raise RuntimeError(f"{len(refusals):,} studentAssessments refused, e.g. {first.reason}")
    return written


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


# --------------------------------------------------------------------------------------------
# Earthmover's side
# --------------------------------------------------------------------------------------------


def ensure_earthmover(venv: Path = EARTHMOVER_VENV) -> Path:
    """The earthmover executable of its own venv, creating the venv on first use. Raises
    RuntimeError saying why when it cannot be created (no PyPI, no ensurepip...)."""
    executable = venv / "bin" / "earthmover"
    if executable.exists():
        return executable
    base, requirement = _base_python(), f"earthmover=={EARTHMOVER_VERSION}"
    # uv (which `make install` brings) installs in a fraction of pip's time: about 1 CPU second
    # against 16 here.
    with_uv = subprocess.run([base, "-m", "uv", "--version"], capture_output=True).returncode == 0
    if with_uv:
        steps = [
            [base, "-m", "uv", "venv", "--quiet", "--clear", "--python", base, str(venv)],
            [base, "-m", "uv", "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"), requirement],
        ]
    else:
        steps = [
            [base, "-m", "venv", "--clear", str(venv)],
            [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", requirement],
        ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.SubprocessError) as error:
        shutil.rmtree(venv, ignore_errors=True)
        detail = getattr(error, "stderr", None) or str(error)
        lines = [line for line in detail.strip().splitlines() if not line.startswith("WARNING")]
        raise RuntimeError(f"cannot create earthmover's venv at {venv}: {' '.join(lines[-3:]) or error}") from error
    return executable


def _base_python() -> str:
    """The interpreter the project's venv was made from (a venv made from a venv's python is
    fine too, but this keeps earthmover's venv independent of ours)."""
    return getattr(sys, "_base_executable", None) or sys.executable


def earthmover_command(executable: Path, bundle: Path, cdf: Path, workdir: Path) -> list[str]:
    params = {
        "STATE_FILE": str(workdir / "runs.csv"),
        "INPUT_FILE": str(cdf),
        "OUTPUT_DIR": str(workdir / "output") + "/",
        "STUDENT_ID_NAME": "Student_StateID",
    }
    return [str(executable), "run", "-c", str(bundle / "earthmover.yaml"), "-p", json.dumps(params)]


# --------------------------------------------------------------------------------------------
# Measuring a process tree
# --------------------------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    rows: int
    documents: int
    seconds: float
    peak_bytes: int

    @property
    def rate(self) -> float:
        return self.rows / self.seconds

    def line(self) -> str:
        return (
            f"{self.label}: {self.rows:,} rows in {self.seconds:.1f} s = {self.rate:,.0f} rows/s, "
            f"peak {_size(self.peak_bytes)}"
        )


def _size(n: int) -> str:
    return f"{n / 2**30:.2f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def measure(command: list[str], cwd: Path, log: Path) -> tuple[float, int]:
    """Run `command`, returning its wall seconds and the peak RSS of its process tree."""
    peak = 0
    done = threading.Event()
    with log.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT)

        def poll() -> None:
            nonlocal peak
            try:
                root = psutil.Process(process.pid)
            except psutil.NoSuchProcess:
                return
            while not done.is_set():
                total = 0
                try:
                    for member in [root, *root.children(recursive=True)]:
                        try:
                            total += member.memory_info().rss
                        except psutil.NoSuchProcess:
                            pass
                except psutil.NoSuchProcess:
                    return
                peak = max(peak, total)
                done.wait(0.02)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        poller.join()
    if process.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{command[0]} exited with {process.returncode}; its log ({log}) ends:\n{tail}")
    return seconds, max(peak, usage.ru_maxrss * 1024)


def run_ours(label: str, cdf: Path, workdir: Path, rows: int, *, check: bool = False) -> Run:
    _fresh(workdir)
    command = [sys.executable, str(Path(__file__).resolve()), "--ours", str(cdf), "--workdir", str(workdir)]
    command += ["--check"] if check else []
    seconds, peak = measure(command, workdir, workdir / "ours.log")
    documents = json.loads((workdir / "ours.json").read_text())["documents"]
    return Run(label, rows, documents, seconds, peak)


def run_earthmover(executable: Path, bundle: Path, cdf: Path, workdir: Path, rows: int) -> Run:
    _fresh(workdir)
    seconds, peak = measure(earthmover_command(executable, bundle, cdf, workdir), workdir, workdir / "earthmover.log")
    documents = _count_lines(workdir / "output" / "studentAssessments.jsonl")
    return Run("earthmover", rows, documents, seconds, peak)


def _fresh(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


# --------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="runs of each side; the median is reported")
    parser.add_argument("--workdir", type=Path, default=ROOT / "data" / "bench" / "earthmover")
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--skip-earthmover", action="store_true", help="run our side only")
    parser.add_argument("--ours", type=Path, help=argparse.SUPPRESS)  # internal: our side on one file
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)  # internal: with --ours
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    if args.ours:
        documents = ours(args.ours, workdir, check=args.check)
        (workdir / "ours.json").write_text(json.dumps({"documents": documents}))
        return

    executable = None
    if not args.skip_earthmover:
        if not (args.bundle / "earthmover.yaml").is_file():
            parser.error(f"no earthmover bundle at {args.bundle} (--bundle, or --skip-earthmover)")
        executable = ensure_earthmover()
    _fresh(workdir)
    sizes = {"": args.rows, " at rows/4": max(args.rows // 4, 1), " at rows*2": args.rows * 2}
    folders = {"": "input", " at rows/4": "input_quarter", " at rows*2": "input_double"}
    cdfs = {
        label: write_cdf(workdir / folders[label] / "AssessmentResults.csv", n, args.seed) for label, n in sizes.items()
    }
    cdf = cdfs[""]
    print(f"{args.rows:,} rows, seed {args.seed}: {cdf} ({_size(cdf.stat().st_size)}, {len(CDF_HEADER)} columns)")

    def median(runs: list[Run]) -> Run:
        return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]

    def repeated(make) -> Run:
        return median([make() for _ in range(max(args.repeat, 1))])

    runs = []
    if executable is not None:
        runs.append(repeated(lambda: run_earthmover(executable, args.bundle, cdf, workdir / "earthmover", args.rows)))
    ours_full = repeated(lambda: run_ours("ours", cdf, workdir / "ours", args.rows))
    ours_checked = repeated(
        lambda: run_ours("ours, documents schema-checked", cdf, workdir / "ours_checked", args.rows, check=True)
    )
    scaled = [
        repeated(
            lambda label=label, n=n: run_ours(
                f"ours{label}", cdfs[label], workdir / folders[label].replace("input", "ours"), n
            )
        )
        for label, n in sizes.items()
        if label
    ]
    runs += [ours_full, ours_checked, *scaled]
    for run in runs:
        print(run.line())
    wrong = [f"{r.label} wrote {r.documents:,} documents for {r.rows:,} rows" for r in runs if r.documents != r.rows]

    smallest, largest = scaled
    growth = largest.peak_bytes / smallest.peak_bytes
    print(
        f"memory: ours peak at {largest.rows:,} rows is {growth:.2f}x its peak at {smallest.rows:,} rows "
        f"({'flat' if growth < 1.25 else 'GROWS with rows'})"
    )
    if executable is not None:
        for run in (ours_full, ours_checked):
            ratio = run.rate / runs[0].rate
            verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
            print(f"ratio ({run.label}): {ratio:.1f}x (target >= {TARGET_RATIO:.0f}x: {verdict})")
    if wrong:
        sys.exit("; ".join(wrong))


if __name__ == "__main__":
    main()
