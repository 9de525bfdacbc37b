"""A district larger than one part (simulators/generate.py, PART_STUDENTS) is drawn and written
part after part, memory staying that of one part: its ids are unique district-wide, its first
part is the smaller district of that size exactly, the SIS sends one bundle with one district
org, every vendor sends each part's files, and everything lands with no row rejected."""

from __future__ import annotations

import collections
import csv
import io
import zipfile

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from interop_pipeline.config import load_config
from interop_pipeline.connectors.landing import BATCHES_DIR, REJECTS_DIR
from interop_pipeline.simulators.apis import load_truth
from interop_pipeline.simulators.district import Numbering, school_number
from interop_pipeline.simulators.generate import part_sizes, write_district
from interop_pipeline.simulators.oneroster_api import district_truth
from interop_pipeline.simulators.sis_oneroster import sis_roster_tables
from tests.conftest import write_config
from tests.district_build import land_everything

STUDENTS, PART = 600, 200
# Every id a system sends, or the truth keys people by: (truth table, its key columns).
KEYS = [
    ("students", ("person_id",)),
    ("students", ("sourced_id",)),
    ("students", ("local_id",)),
    ("students", ("state_id",)),
    ("staff", ("person_id",)),
    ("staff", ("staff_id",)),
    ("schools", ("sourced_id",)),
    ("schools", ("state_school_id",)),
    ("courses", ("sourced_id",)),
    ("sections", ("sourced_id",)),
    ("system_students", ("system", "system_person_id")),
    ("system_staff", ("system", "system_person_id")),
    ("lms_courses", ("lms_course_id",)),
    ("lms_enrollments", ("lms_enrollment_id",)),
    ("lms_assignments", ("lms_assignment_id",)),
    ("lms_submissions", ("lms_submission_id",)),
    ("calendar", ("calendar_date",)),
    ("sessions", ("sourced_id",)),
]


@pytest.fixture(scope="module")
def districts(tmp_path_factory):
    """The same config and seed drawn whole at PART students, and in parts at STUDENTS."""
    folder = tmp_path_factory.mktemp("parts")
    config = load_config(write_config(folder, students=STUDENTS))
    whole = write_district(config, students=PART, seed=3, out_dir=folder / "whole")
    parted = write_district(config, students=STUDENTS, seed=3, part_students=PART)
    return config, whole, parted


def bundle_rows(path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(path) as archive:
        return {
            name.removesuffix(".csv"): list(csv.DictReader(io.TextIOWrapper(archive.open(name), encoding="utf-8")))
            for name in archive.namelist()
            if name != "manifest.csv"
        }


def by_id(row: dict) -> str:
    return row["sourcedId"]


def test_part_sizes_are_even_and_never_above_a_part():
    assert part_sizes(200, 200) == [200]
    assert part_sizes(600, 200) == [200, 200, 200]
    assert part_sizes(1_000_001, 100_000) == [90_910] * 2 + [90_909] * 9
    assert all(sum(part_sizes(n, 7)) == n and max(part_sizes(n, 7)) <= 7 for n in range(1, 60))


def test_school_numbers_never_repeat_nor_do_their_last_three_digits_up_to_897_schools():
    def numbers(per_level: tuple[int, ...]) -> list[int]:
        numbering = Numbering()
        return [school_number(level, i, numbering) for level, n in enumerate(per_level, start=1) for i in range(n)]

    assert numbers((3, 1, 1)) == [101, 102, 103, 201, 301]  # the demo's ids stay as they were
    every = numbers((400, 300, 197))  # 897 schools: Ed-Fi schoolIds end with the last three digits
    assert len({n % 1000 for n in every}) == len(every)
    million = numbers((1_030, 390, 275))  # about a million students' schools
    assert len(set(million)) == len(million)


def test_every_id_is_unique_across_the_parts(districts):
    _, _, parted = districts
    assert parted.truth is None and parted.truth_rows["students"] == STUDENTS
    for table, columns in KEYS:
        rows = pq.read_table(parted.truth_dir / f"{table}.parquet", columns=list(columns)).to_pylist()
        repeated = [key for key, n in collections.Counter(tuple(r.values()) for r in rows).items() if n > 1]
        assert not repeated, f"{table} {columns}: {repeated[:3]}"
    for name, rows in bundle_rows(parted.drops["oneroster_csv"]).items():
        ids = collections.Counter(row["sourcedId"] for row in rows)
        assert max(ids.values()) == 1, name
    orgs = bundle_rows(parted.drops["oneroster_csv"])["orgs"]
    assert [org["type"] for org in orgs].count("district") == 1
    # No student's earlier (stale) id, as a vendor still holds it, is another student's current id.
    students = pq.read_table(parted.truth_dir / "students.parquet", columns=["local_id", "person_id"])
    current = dict(zip(students["local_id"].to_pylist(), students["person_id"].to_pylist(), strict=True))
    held = pq.read_table(parted.truth_dir / "system_students.parquet", columns=["person_id", "sis_id"]).to_pylist()
    assert all(current.get(row["sis_id"], row["person_id"]) == row["person_id"] for row in held)


def test_the_bundle_is_what_the_sis_api_serves_of_the_whole_district(districts):
    """Its REST API (simulators/oneroster_api.py) reads the whole truth: the same records under the
    same sourcedIds, roles and enrollments included."""
    config, _, parted = districts
    whole = district_truth(load_truth(parted.truth_dir))  # as build_simulator reads it
    served = sis_roster_tables(whole, district_name=config.district.name, lea_id=config.district.lea_id)
    for name, rows in bundle_rows(parted.drops["oneroster_csv"]).items():
        expected = [{k: v or "" for k, v in row.items()} for row in served[name].to_pylist()]
        assert sorted(rows, key=by_id) == sorted(expected, key=by_id), name


def test_the_first_part_is_the_district_of_that_size(districts):
    _, whole, parted = districts
    for table in ("students", "staff", "schools", "system_students", "lms_submissions", "calendar"):
        first = ds.dataset(whole.truth_dir / f"{table}.parquet").to_table()
        assert pq.read_table(parted.truth_dir / f"{table}.parquet").slice(0, first.num_rows).equals(first), table
    whole_bundle, parted_bundle = bundle_rows(whole.drops["oneroster_csv"]), bundle_rows(parted.drops["oneroster_csv"])
    for name, rows in whole_bundle.items():
        if name in ("roles", "enrollments"):  # numbered again: every student's first, then the staff's
            rows = [row for row in rows if row["role"] == "student"]
        assert parted_bundle[name][: len(rows)] == rows, name
    for vendor, paths in whole.vendor_drops.items():
        files = {p.name: p for p in parted.vendor_drops[vendor]}
        assert len(files) == 3 * len(paths), vendor  # each part's files, the first under their own names
        for path in paths:
            assert files[path.name].read_bytes() == path.read_bytes(), path.name
            assert files[path.name].stat().st_mtime == path.stat().st_mtime
            later = [f"{path.stem}_part{n}{path.suffix}" for n in (2, 3)]
            assert all(files[name].stat().st_mtime == path.stat().st_mtime for name in later), later


def test_every_part_lands_with_no_row_rejected(districts):
    config, _, parted = districts
    land_everything(config)
    users = ds.dataset(config.landing_dir / "oneroster_csv" / "users", format="parquet").to_table(["sourcedId"])
    assert len(set(users["sourcedId"].to_pylist())) == STUDENTS + parted.truth_rows["staff"]
    batches = list((config.landing_dir / "nwea_map" / BATCHES_DIR).glob("2*.parquet"))
    assert len(batches) == len(parted.vendor_drops["nwea_map"])
    for rejects in config.landing_dir.glob(f"*/{REJECTS_DIR}/*.parquet"):
        assert pq.read_metadata(rejects).num_rows == 0, rejects
