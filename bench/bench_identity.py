"""Time identity resolution on a generated district: every system's student records linked to
the SIS, with precision and recall against the generator's truth; then the staff the same way.

    python bench/bench_identity.py --students 100000 [--seed 1] [--systems all|today] [--no-ids]

`today` links the sources the pipeline ingests now (NWEA MAP, i-Ready, the state file); `all`
adds the Canvas, Google Classroom and Ed-Fi records. `--no-ids` blanks every vendor ID, email and
login so that the probabilistic pass does all the work. Peak memory is this process's.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from interop_pipeline.identity.resolve import resolve  # noqa: E402
from interop_pipeline.identity.truth import (  # noqa: E402
    records_from_truth,
    score_against_truth,
    staff_records_from_truth,
)
from interop_pipeline.simulators.district import generate_district  # noqa: E402

TODAY = ["nwea_map", "iready", "state_assessment"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--systems", choices=("all", "today"), default="all")
    parser.add_argument("--no-ids", action="store_true")
    args = parser.parse_args()

    district = generate_district(
        args.students,
        args.seed,
        district_code="bench",
        lea_id="0600001",
        year_start=date(2025, 8, 18),
        year_end=date(2026, 6, 5),
    )
    systems = None if args.systems == "all" else TODAY
    students = records_from_truth(district.students, district.system_students, systems)
    staff = staff_records_from_truth(district.staff, district.system_staff, systems)
    if args.no_ids:
        students, staff = without_ids(students), without_ids(staff)
    report(f"{args.students:,} students", students, district.students, district.system_students, args.seed)
    print()
    report(f"{district.staff.num_rows:,} staff", staff, district.staff, district.system_staff, args.seed)


def without_ids(records: pa.Table) -> pa.Table:
    vendor = pc.not_equal(records["source_system"], "sis")
    for column in ("sis_id", "state_id", "email", "login_id"):
        blank = pc.if_else(vendor, pa.scalar(None, pa.string()), records[column])
        records = records.set_column(records.schema.get_field_index(column), column, blank)
    return records


def report(people: str, records: pa.Table, truth: pa.Table, system_truth: pa.Table, seed: int) -> None:
    started = time.perf_counter()
    resolution = resolve(records)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{people}, {records.num_rows:,} person records, seed {seed}")
    print(
        f"linking {seconds:.1f} s (deterministic {resolution.timings['deterministic_s']:.1f} s,"
        f" probabilistic {resolution.timings['probabilistic_s']:.1f} s), peak {peak_mb:.0f} MB"
    )
    quality = {r["source_system"]: r for r in resolution.quality.to_pylist()}
    print(f"{'system':<18} {'records':>9} {'linked':>9} {'queued':>7} {'precision':>10} {'recall':>8} {'twins':>6}")
    for score in score_against_truth(resolution.crosswalk, truth, system_truth).to_pylist():
        system = score["source_system"]
        print(
            f"{system:<18} {score['records']:>9,} {score['linked']:>9,} {quality[system]['queued']:>7,}"
            f" {score['precision']:>10.5f} {score['recall']:>8.5f} {score['twin_merges']:>6}"
        )


if __name__ == "__main__":
    main()
