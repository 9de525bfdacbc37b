"""Vendor file drops rendered from the district truth, each in the vendor's own layout, IDs and
quirks, with realistic data-entry noise:

- NWEA MAP Growth: one Comprehensive Data File zip per term (AssessmentResults, StudentsBySchool,
  ClassAssignments); every field double-quoted; the Winter file arrives late, after Spring's.
- Curriculum Associates i-Ready: a year-to-date Diagnostic Results export per subject, UTF-8
  with a byte-order mark, M/D/YYYY dates.
- SIS attendance: monthly negative exports (absences and tardies only), PowerSchool-like.
- State summative assessment: a tab-delimited Windows-1252 file with a title line above the
  header, ingested through a district-written declaration.

Names, IDs and birth dates are each vendor's own record of the student (`system_students`,
simulators/identities.py): typos, nicknames, StudentIDs that lost their leading zero, stale IDs,
students missing from the vendor's roster and so no results in its files.

Byte-for-byte deterministic for a truth; file modification times follow delivery order.
"""

from __future__ import annotations

import csv
import io
import os
import zipfile
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from interop_pipeline.config import DistrictConfig
from interop_pipeline.simulators.attendance import ATTENDANCE_CODES
from interop_pipeline.simulators.district import DistrictTruth

MAP_SUBJECTS = {"Mathematics": ("Mathematics", "Math K-12"), "Reading": ("Language Arts", "Reading")}
MAP_TEST_IDS = {
    (subject, season): str(20000 + 10 * i + j)
    for i, subject in enumerate(MAP_SUBJECTS)
    for j, season in enumerate(("Fall", "Winter", "Spring"))
}
IREADY_WINDOWS = {
    "Fall": "Fall (August 1 - November 15)",
    "Winter": "Winter (November 16 - March 1)",
    "Spring": "Spring (March 2 - July 31)",
}
ACCENTED = {"Jose": "José", "Zoe": "Zoë", "Andre": "André", "Lucia": "Lucía", "Ximena": "Xiména"}


def _us_date(values: Iterable) -> list[str]:
    return [f"{d.month:02d}/{d.day:02d}/{d.year}" for d in values]


def _short_us_date(values: Iterable) -> list[str]:
    return [f"{d.month}/{d.day}/{d.year}" for d in values]


def _grade_label(grade_level: str) -> str:
    return "K" if grade_level == "KG" else str(int(grade_level))


def _csv_text(header: list[str], rows: Iterable[Iterable], *, delimiter: str = ",", quote_all: bool = False) -> str:
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=delimiter, lineterminator="\r\n", quoting=csv.QUOTE_ALL if quote_all else csv.QUOTE_MINIMAL
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _deliver(path: Path, payload: bytes, delivered: date) -> Path:
    """Write atomically (a watcher never sees half a file) and stamp the delivery time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(payload)
    stamp = datetime(delivered.year, delivered.month, delivered.day, 6, tzinfo=UTC).timestamp()
    os.utime(partial, (stamp, stamp))
    partial.replace(path)
    return path


class _People:
    """Lookups from truth person keys to what vendors see."""

    def __init__(self, truth: DistrictTruth, config: DistrictConfig, seed: int):
        students = truth.students.to_pylist()
        self.student = {s["person_id"]: s for s in students}
        staff = truth.staff.to_pylist()
        self.staff = {s["person_id"]: s for s in staff}
        self.school = {s["sourced_id"]: s for s in truth.schools.to_pylist()}
        # Each vendor's own record of a student; a student it has no record of is missing from
        # its roster, so none of their results reach its files.
        self.held: dict[str, dict[str, dict]] = {}
        for row in truth.system_students.to_pylist():
            self.held.setdefault(row["system"], {})[row["person_id"]] = row
        # The student's first class at each school, for NWEA's ClassAssignments.
        sections = {s["sourced_id"]: s for s in truth.sections.to_pylist()}
        self.first_class: dict[tuple[str, str], dict] = {}
        for row in truth.section_enrollments.to_pylist():
            self.first_class.setdefault(
                (row["person_id"], row["school_sourced_id"]), sections[row["section_sourced_id"]]
            )


def write_nwea_map(truth: DistrictTruth, config: DistrictConfig, people: _People, folder: Path) -> list[Path]:
    results = truth.map_results.to_pylist()
    year = truth.calendar.sessions["school_year"][0].as_py()
    district = config.district
    fall = {(r["person_id"], r["subject"]): r["rit"] for r in results if r["season"] == "Fall"}
    # Winter's file is delivered late, after Spring's.
    deliveries = {"Fall": date(year - 1, 10, 1), "Winter": date(year, 6, 12), "Spring": date(year, 6, 10)}
    paths = []
    for season, delivered in deliveries.items():
        term = f"{season} {year - 1}-{year}"
        held = people.held["nwea_map"]
        rows = [r for r in results if r["season"] == season and r["person_id"] in held]
        assessment_rows = []
        for r in rows:
            school = people.school[r["school_sourced_id"]]
            subject, course = MAP_SUBJECTS[r["subject"]]
            measure = r["lexile_or_quantile"]
            reading = r["subject"] == "Reading"
            shown = (
                (f"BR{-measure}L" if measure < 0 else f"{measure}L")
                if reading
                else (f"EM{-measure}Q" if measure < 0 else f"{measure}Q")
            )
            growth = (
                r["rit"] - fall[(r["person_id"], r["subject"])]
                if season == "Spring" and (r["person_id"], r["subject"]) in fall
                else None
            )
            assessment_rows.append(
                [
                    term,
                    district.name,
                    district.lea_id,
                    school["name"],
                    school["state_school_id"],
                    held[r["person_id"]]["system_person_id"],
                    held[r["person_id"]]["state_id"] or "",
                    subject,
                    course,
                    "TRUE",
                    "Survey With Goals",
                    f"Growth: {course} {config.district.state}",
                    MAP_TEST_IDS[(r["subject"], season)],
                    _us_date([r["test_date"]])[0],
                    "09:15:00",
                    r["duration_minutes"],
                    r["rit"],
                    r["standard_error"],
                    r["percentile"],
                    ("Low", "LoAvg", "Avg", "HiAvg", "High")[min(r["percentile"] // 20, 4)],
                    "" if growth is None else 8,
                    "" if growth is None else growth,
                    "" if growth is None else ("Yes" if growth >= 8 else "No"),
                    shown if reading else "",
                    "" if not reading else f"{measure - 100}L" if measure >= 100 else "",
                    "" if not reading else f"{measure + 50}L",
                    shown if not reading else "",
                ]
            )
        tested = {r["person_id"]: r for r in rows}
        roster_rows = []
        class_rows = []
        for person_id, r in tested.items():
            s, school = people.student[person_id], people.school[r["school_sourced_id"]]
            mine = held[person_id]
            roster_rows.append(
                [
                    term,
                    district.name,
                    school["name"],
                    mine["last_name"],
                    mine["first_name"],
                    (mine["middle_name"] or "")[:1],
                    mine["system_person_id"],
                    _us_date([mine["birth_date"]])[0],
                    s["race_ethnicity"],
                    {"female": "F", "male": "M"}.get(s["sex"], ""),
                    _grade_label(s["grade_level"]),
                ]
            )
            section = people.first_class.get((person_id, r["school_sourced_id"]))
            if section:
                teacher = people.staff[section["teacher_person_id"]]
                class_rows.append(
                    [
                        term,
                        mine["system_person_id"],
                        school["name"],
                        section["title"],
                        f"{teacher['last_name']}, {teacher['first_name']}",
                    ]
                )
        members = {
            "AssessmentResults.csv": _csv_text(MAP_ASSESSMENT_HEADER, assessment_rows, quote_all=True),
            "StudentsBySchool.csv": _csv_text(MAP_STUDENTS_HEADER, roster_rows, quote_all=True),
            "ClassAssignments.csv": _csv_text(
                ["TermName", "StudentID", "SchoolName", "ClassName", "TeacherName"], class_rows, quote_all=True
            ),
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in members.items():
                info = zipfile.ZipInfo(name, date_time=(delivered.year, delivered.month, delivered.day, 6, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, text.encode("utf-8"))
        paths.append(_deliver(folder / f"nwea_map_cdf_{season}_{year - 1}-{year}.zip", buffer.getvalue(), delivered))
    return paths


MAP_ASSESSMENT_HEADER = [
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
    "FallToSpringProjectedGrowth",
    "FallToSpringObservedGrowth",
    "FallToSpringMetProjectedGrowth",
    "LexileScore",
    "LexileMin",
    "LexileMax",
    "QuantileScore",
]
MAP_STUDENTS_HEADER = [
    "TermName",
    "DistrictName",
    "SchoolName",
    "StudentLastName",
    "StudentFirstName",
    "StudentMI",
    "StudentID",
    "StudentDateOfBirth",
    "StudentEthnicGroup",
    "StudentGender",
    "Grade",
]
IREADY_HEADER = [
    "Last Name",
    "First Name",
    "Student ID",
    "Student Grade",
    "Academic Year",
    "School",
    "Student State ID",
    "Sex",
    "Hispanic or Latino",
    "Race",
    "English Language Learner",
    "Special Education",
    "Economically Disadvantaged",
    "Start Date",
    "Completion Date",
    "Norming Window",
    "Baseline Diagnostic (Y/N)",
    "Most Recent Diagnostic YTD (Y/N)",
    "Duration (min)",
    "Overall Scale Score",
    "Overall Placement",
    "Overall Relative Placement",
    "Percentile",
]


def write_iready(truth: DistrictTruth, people: _People, folder: Path) -> list[Path]:
    year = truth.calendar.sessions["school_year"][0].as_py()
    results = sorted(truth.iready_results.to_pylist(), key=lambda r: (r["subject"], r["person_id"], r["test_date"]))
    yes_no = lambda flag: "Yes" if flag else "No"  # noqa: E731
    paths = []
    for subject, measure_column in (("ELA", "Lexile Measure"), ("Math", "Quantile Measure")):
        held = people.held["iready"]
        mine = [r for r in results if r["subject"] == subject and r["person_id"] in held]
        first = {}
        last = {}
        for r in mine:
            first.setdefault(r["person_id"], r["test_date"])
            last[r["person_id"]] = r["test_date"]
        rows = []
        for r in mine:
            s, school = people.student[r["person_id"]], people.school[r["school_sourced_id"]]
            record = held[r["person_id"]]
            started = r["test_date"] - timedelta(days=r["percentile"] % 2)  # some finish the next day
            suffix = "L" if subject == "ELA" else "Q"
            rows.append(
                [
                    record["last_name"],
                    record["first_name"],
                    record["sis_id"],
                    _grade_label(s["grade_level"]),
                    f"{year - 1}-{year}",
                    school["name"],
                    record["state_id"] or "",
                    s["sex"].title() if s["sex"] != "unspecified" else "",
                    yes_no(s["hispanic_or_latino"]),
                    s["race_ethnicity"],
                    yes_no(s["english_learner"]),
                    yes_no(s["idea"]),
                    yes_no(s["economically_disadvantaged"]),
                    _short_us_date([started])[0],
                    _short_us_date([r["test_date"]])[0],
                    IREADY_WINDOWS[r["season"]],
                    "Y" if first[r["person_id"]] == r["test_date"] else "N",
                    "Y" if last[r["person_id"]] == r["test_date"] else "N",
                    30 + r["percentile"] % 40,
                    r["scale_score"],
                    r["placement"],
                    r["relative_placement"],
                    r["percentile"],
                    f"{max(r['scale_score'] * 2 - 600, 0)}{suffix}",
                ]
            )
        text = _csv_text([*IREADY_HEADER, measure_column], rows)
        name = f"diagnostic_results_{subject.lower()}_{year - 1}-{year}.csv"
        paths.append(_deliver(folder / name, "\ufeff".encode() + text.encode("utf-8"), date(year, 6, 15)))
    return paths


ATTENDANCE_HEADER = [
    "Student_Number",
    "School_ID",
    "Att_Date",
    "Att_Code",
    "Description",
    "Presence_Status_CD",
    "Total_Minutes",
]


def _lookup(keys: pa.ChunkedArray, table: pa.Table, key_column: str, value_column: str) -> pa.ChunkedArray:
    """For each key, `value_column` of the table row whose `key_column` equals it."""
    return table[value_column].take(pc.index_in(keys, value_set=table[key_column]))


def write_sis_attendance(truth: DistrictTruth, people: _People, folder: Path) -> list[Path]:
    """Monthly exports, built column-wise with Arrow (attendance is the largest drop)."""
    events = truth.attendance_events.sort_by([("attendance_date", "ascending"), ("person_id", "ascending")])
    codes = pa.array(list(ATTENDANCE_CODES))
    code_index = pc.index_in(events["code"], value_set=codes)
    day = pc.cast(events["attendance_date"], pa.timestamp("s"))
    export = pa.table(
        {
            "Student_Number": _lookup(events["person_id"], truth.students, "person_id", "local_id"),
            "School_ID": _lookup(events["school_sourced_id"], truth.schools, "sourced_id", "state_school_id"),
            "Att_Date": pc.strftime(day, "%m/%d/%Y"),
            "Att_Code": events["code"],
            "Description": pa.array([v[0] for v in ATTENDANCE_CODES.values()]).take(code_index),
            "Presence_Status_CD": pa.array([v[1] for v in ATTENDANCE_CODES.values()]).take(code_index),
            "Total_Minutes": pa.array([v[2] for v in ATTENDANCE_CODES.values()]).take(code_index),
        }
    )
    assert export.column_names == ATTENDANCE_HEADER
    months = pc.strftime(day, "%Y-%m")
    paths = []
    for month in pc.unique(months).to_pylist():
        sink = io.BytesIO()
        pacsv.write_csv(export.filter(pc.equal(months, month)), sink)
        year, month_number = map(int, month.split("-"))
        delivered = date(year + (month_number == 12), month_number % 12 + 1, 1)
        paths.append(_deliver(folder / f"attendance_{month}.csv", sink.getvalue(), delivered))
    return paths


def write_sis_calendar(truth: DistrictTruth, folder: Path) -> Path:
    """The SIS calendar export: every school's days of the year, in session or not."""
    days = truth.calendar.days
    schools = truth.schools["state_school_id"].to_pylist()
    n_days = days.num_rows
    stamp = pc.strftime(pc.cast(days["calendar_date"], pa.timestamp("s")), "%m/%d/%Y")
    export = pa.table(
        {
            "School_ID": pa.array(np.repeat(schools, n_days)),
            "Date_Value": pa.concat_arrays([stamp.combine_chunks()] * len(schools)),
            "InSession": pa.array(np.tile(np.where(days["is_instructional"].to_numpy(), "1", "0"), len(schools))),
            "Type": pa.concat_arrays([days["day_type"].combine_chunks()] * len(schools)),
            "Note": pa.concat_arrays([days["holiday_name"].combine_chunks()] * len(schools)),
        }
    )
    sink = io.BytesIO()
    pacsv.write_csv(export, sink)
    year = truth.calendar.sessions["school_year"][0].as_py()
    return _deliver(folder / f"calendar_{year - 1}-{year}.csv", sink.getvalue(), date(year - 1, 8, 1))


STATE_HEADER = [
    "SSID",
    "Local ID",
    "Last Name",
    "First Name",
    "Test Year",
    "Subject",
    "Grade Assessed",
    "Scale Score",
    "Achievement Level",
    "Test Completion Date",
]


def write_state_assessment(truth: DistrictTruth, config: DistrictConfig, people: _People, folder: Path) -> list[Path]:
    year = truth.calendar.sessions["school_year"][0].as_py()
    rows = []
    held = people.held["state_assessment"]
    for r in truth.state_results.to_pylist():
        s, record = people.student[r["person_id"]], held[r["person_id"]]
        rows.append(
            [
                record["system_person_id"],
                record["sis_id"] or "",
                record["last_name"],
                ACCENTED.get(record["first_name"], record["first_name"]),
                year,
                r["subject"],
                _grade_label(s["grade_level"]),
                r["scale_score"],
                r["achievement_level"],
                _us_date([r["test_date"]])[0],
            ]
        )
    title = f"{config.district.state} Summative Assessment - {config.district.name} - {year - 1}-{year}\r\n"
    text = title + _csv_text(STATE_HEADER, rows, delimiter="\t")
    return [_deliver(folder / f"state_summative_{year}.txt", text.encode("cp1252"), date(year, 7, 20))]


VENDOR_WRITERS = {
    "nwea_map": lambda truth, config, people, folder: write_nwea_map(truth, config, people, folder),
    "iready": lambda truth, config, people, folder: write_iready(truth, people, folder),
    "sis_attendance": lambda truth, config, people, folder: [
        write_sis_calendar(truth, folder),
        *write_sis_attendance(truth, people, folder),
    ],
    "state_assessment": write_state_assessment,
}


def write_vendor_drops(
    truth: DistrictTruth, config: DistrictConfig, seed: int, folders: dict[str, Path]
) -> dict[str, list[Path]]:
    """Write each vendor's drop into its folder; `folders` maps a vendor system to its folder."""
    people = _People(truth, config, seed)
    return {system: VENDOR_WRITERS[system](truth, config, people, folder) for system, folder in folders.items()}
