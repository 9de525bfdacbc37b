"""Publishing throughput: Ed-Fi JSON documents for assessment results, and a OneRoster bundle.

    python bench/bench_publish.py [--results 1000000] [--students 100000] [--warehouse PATH]

Ed-Fi: studentAssessments documents (with their assessments) read from a warehouse's
fct_assessment_result in record batches and written as JSON lines into a zip, in records/s; the
rows are synthesized into a DuckDB file first (not timed).
OneRoster: a 1.2 bundle (build, write, validate) for --students students: from a built
warehouse's roster with --warehouse (e.g. data/bench/warehouse/build.duckdb after
`make bench`), otherwise from a synthesized roster of that size (6 sections per student).
Each part runs in its own process, so each peak memory figure is its own.
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interop_pipeline.config import RecipientSettings  # noqa: E402
from interop_pipeline.publish import oneroster  # noqa: E402
from interop_pipeline.publish.edfi import assessment_documents  # noqa: E402
from interop_pipeline.publish.edfi_publish import DocumentsCheck, write_json_bundle  # noqa: E402
from interop_pipeline.publish.roster import Roster, load_roster, open_warehouse  # noqa: E402
from interop_pipeline.publish.validator import validate_bundle  # noqa: E402

GRADE = "uri://ed-fi.org/GradeLevelDescriptor#Fifth grade"


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _synthetic_results(path: Path, results: int) -> dict[str, str]:
    """A warehouse holding `results` rows of main.fct_assessment_result (six per student, three
    vendors, two subjects) and the grade crosswalk; returns the students' ids (key → unique id)."""
    with duckdb.connect(str(path)) as con:
        con.execute("create schema reference")
        con.execute(
            "create table reference.xwalk_grade_level as select 'oneroster' as source_system, '05' as source_code, "
            f"'05' as ceds_code, '{GRADE}' as edfi_descriptor, 5 as grade_order"
        )
        con.execute(
            f"""
            create table main.fct_assessment_result as
            select md5('result' || i) as assessment_result_key,
                ['nwea_map', 'iready', 'state_assessment'][i % 3 + 1] as vendor,
                ['Mathematics', 'ELA'][i % 2 + 1] as subject,
                lpad(cast(i // 6 as varchar), 32, '0') as student_key,
                date '2025-09-01' + cast(i % 60 as integer) as test_date,
                '05' as grade_level_assessed,
                180.0 + i % 60 as scale_score,
                case when i % 3 < 2 then i % 99 + 1 end as percentile
            from range({results}) as t(i)
            """
        )
    return {f"{k:032d}": f"{k:07d}" for k in range((results + 5) // 6)}


def bench_edfi(results: int, folder: Path) -> None:
    """Ed-Fi JSON for assessment results, read from a warehouse in record batches and written as
    the documents come (edfi.assessment_documents → edfi_publish.write_json_bundle)."""
    student_ids = _synthetic_results(folder / "results.duckdb", results)
    started = time.perf_counter()
    with open_warehouse(str(folder / "results.duckdb")) as con:
        check = DocumentsCheck()
        counts = write_json_bundle(folder / "edfi.zip", check.watch(assessment_documents(con, student_ids)))
    seconds = time.perf_counter() - started
    size = (folder / "edfi.zip").stat().st_size / 2**20
    written = counts["studentAssessments.jsonl"]
    print(
        f"edfi_json   {results:>10,} studentAssessments  {seconds:7.1f} s  {written / seconds:>10,.0f} records/s  "
        f"{size:6.0f} MB zip  peak {_peak_mb():,.0f} MB  ({written:,} written, complete={check.outcome().passed})"
    )


def synthetic_roster(students: int) -> Roster:
    schools = [
        {
            "school_key": f"{s:032x}",
            "sis_school_id": f"org-{s}",
            "state_school_id": f"0600001{s:04d}",
            "school_name": f"School {s}",
        }
        for s in range(max(1, students // 500))
    ]
    year = {
        "session_key": "a" * 32,
        "sis_session_id": "sy",
        "session_title": "2025-2026",
        "session_type": "schoolYear",
        "start_date": date(2025, 8, 18),
        "end_date": date(2026, 6, 5),
        "school_year": 2026,
        "parent_session_key": None,
        "is_grading_period": False,
    }
    sections, courses, staff, assignments = [], [], [], []
    for n in range(students // 25 * 6 // 6):  # one section per 25 students per period, six periods
        school = schools[n % len(schools)]["school_key"]
        courses.append(
            {
                "course_key": f"c{n:031x}",
                "course_code": f"C{n}",
                "course_title": f"Course {n}",
                "grade_levels": "05",
                "subjects": "Math",
                "subject_codes": "02052",
                "school_key": school,
                "school_year": 2026,
            }
        )
        for period in range(6):
            key = f"s{n * 6 + period:031x}"
            sections.append(
                {
                    "section_key": key,
                    "section_code": f"C{n}-{period}",
                    "section_title": f"Course {n}",
                    "section_type": "scheduled",
                    "grade_levels": "05",
                    "subjects": "Math",
                    "subject_codes": "02052",
                    "term_sourced_ids": "sy",
                    "location": "Room",
                    "periods": str(period),
                    "course_key": f"c{n:031x}",
                    "school_key": school,
                }
            )
        staff.append(
            {
                "staff_key": f"t{n:031x}",
                "staff_role": "teacher",
                "primary_school_key": school,
                "is_enabled": True,
                "first_name": "T",
                "last_name": f"Teacher{n}",
            }
        )
        assignments += [
            {
                "staff_section_assignment_key": f"a{n * 6 + p:031x}",
                "staff_key": f"t{n:031x}",
                "section_key": f"s{n * 6 + p:031x}",
                "school_key": school,
                "classroom_role": "teacher",
                "is_primary": True,
                "begin_date": None,
                "end_date": None,
            }
            for p in range(6)
        ]
    people, spells, enrolments = [], [], []
    for i in range(students):
        school = schools[i % len(schools)]["school_key"]
        key = f"{i:032x}"
        people.append(
            {
                "student_key": key,
                "grade_level": "05",
                "grade_level_descriptor": GRADE,
                "current_school_key": school,
                "is_enabled": True,
                "first_name": "A",
                "middle_name": None,
                "last_name": f"Student{i}",
                "local_student_id": f"{i:07d}",
                "email": f"s{i}@example.org",
            }
        )
        spells.append(
            {
                "school_enrollment_key": key,
                "student_key": key,
                "school_key": school,
                "entry_date": date(2025, 8, 18),
                "exit_date": None,
                "is_current": True,
            }
        )
        group = i // 25
        enrolments += [
            {
                "section_enrollment_key": f"{i:026x}{p:06x}",
                "student_key": key,
                "section_key": f"s{(group % (len(sections) // 6)) * 6 + p:031x}",
                "school_key": school,
                "begin_date": date(2025, 8, 18),
                "end_date": None,
            }
            for p in range(6)
        ]
    return Roster(
        {"district_key": "d" * 32, "district_name": "Bench USD", "lea_id": "0600001"},
        2026,
        schools,
        [year],
        courses,
        sections,
        people,
        staff,
        spells,
        enrolments,
        assignments,
        frozenset({"names", "identifiers", "emails"}),
    )


def bench_oneroster(students: int, warehouse: Path | None, folder: Path) -> None:
    started = time.perf_counter()
    if warehouse is not None:
        settings = RecipientSettings(
            format="oneroster_1.2", fields=["names", "identifiers", "emails"], delivery_folder=Path("x")
        )
        with open_warehouse(str(warehouse)) as con:
            roster = load_roster(con, settings)
    else:
        roster = synthetic_roster(students)
    loaded = time.perf_counter()
    files = oneroster.bundle_files(roster, "1.2")
    counts = oneroster.write_bundle(folder / "bundle.zip", "1.2", files, dict.fromkeys(files, "bulk"))
    built = time.perf_counter()
    report = validate_bundle(folder / "bundle.zip")
    done = time.perf_counter()
    rows = sum(counts.values())
    print(
        f"oneroster   {len(roster.students):>10,} students  read {loaded - started:5.1f} s  build+write "
        f"{built - loaded:5.1f} s  validate {done - built:5.1f} s  ({rows:,} rows, valid={report.ok})  "
        f"peak {_peak_mb():,.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=int, default=1_000_000)
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--warehouse", type=Path)
    args = parser.parse_args()
    parts = [(bench_oneroster, (args.students, args.warehouse)), (bench_edfi, (args.results,))]
    for function, arguments in parts:
        with tempfile.TemporaryDirectory() as tmp:
            process = multiprocessing.get_context("fork").Process(target=function, args=(*arguments, Path(tmp)))
            process.start()
            process.join()
            if process.exitcode != 0:
                raise SystemExit(f"{function.__name__} failed")


if __name__ == "__main__":
    main()
