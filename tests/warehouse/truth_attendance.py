"""Chronic absence recomputed in plain Python from the generator's truth, independently of dbt:
the figures the warehouse marts must reproduce."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq

from interop_pipeline.config import ChronicAbsenceDefinition

ABSENT_FRACTION = {"A": 1.0, "E": 1.0, "H": 0.5, "T": 0.0}  # the demo district's rules
EXCUSED = {"E"}


@dataclass
class StudentDays:
    enrolled: int
    absent: float
    excused: float


def _table(truth_dir: Path, name: str) -> list[dict]:
    return pq.read_table(truth_dir / f"{name}.parquet").to_pylist()


def through_date(truth_dir: Path) -> date:
    return max(e["attendance_date"] for e in _table(truth_dir, "attendance_events"))


def student_days(truth_dir: Path, by_school: bool) -> dict[tuple[str, str | None], StudentDays]:
    """(person_id, school or None) → days enrolled and absent through the latest attendance date."""
    through = through_date(truth_dir)
    days = sorted(
        d["calendar_date"]
        for d in _table(truth_dir, "calendar")
        if d["is_instructional"] and d["calendar_date"] <= through
    )
    enrolled: dict[tuple[str, str | None], set[date]] = defaultdict(set)
    for spell in _table(truth_dir, "school_enrollments"):
        key = (spell["person_id"], spell["school_sourced_id"] if by_school else None)
        last = spell["exit_date"] or days[-1]
        enrolled[key].update(d for d in days if spell["entry_date"] <= d <= last)
    absent: dict[tuple[str, str | None], float] = defaultdict(float)
    excused: dict[tuple[str, str | None], float] = defaultdict(float)
    for event in _table(truth_dir, "attendance_events"):
        key = (event["person_id"], event["school_sourced_id"] if by_school else None)
        if event["attendance_date"] in enrolled[key]:
            absent[key] += ABSENT_FRACTION[event["code"]]
            if event["code"] in EXCUSED:
                excused[key] += ABSENT_FRACTION[event["code"]]
    return {key: StudentDays(len(d), absent[key], excused[key]) for key, d in enrolled.items() if d}


def is_measured(days: StudentDays, definition: ChronicAbsenceDefinition) -> bool:
    return days.enrolled >= definition.min_days_enrolled


def is_chronic(days: StudentDays, definition: ChronicAbsenceDefinition) -> bool:
    counted = days.absent if definition.count_excused else days.absent - days.excused
    if not is_measured(days, definition):
        return False
    if definition.min_absence_rate is not None:
        return counted / days.enrolled >= definition.min_absence_rate
    return counted >= definition.min_days_absent


def chronic_counts(
    truth_dir: Path, definition: ChronicAbsenceDefinition, by_school: bool
) -> dict[tuple[str | None, str], tuple[int, int]]:
    """(school or None, grade or 'all') → (students measured, chronically absent)."""
    grade = {s["person_id"]: s["grade_level"] for s in _table(truth_dir, "students")}
    counts: dict[tuple[str | None, str], list[int]] = defaultdict(lambda: [0, 0])
    for (person, school), days in student_days(truth_dir, by_school).items():
        if not is_measured(days, definition):
            continue
        for cell in ((school, grade[person]), (school, "all")):
            counts[cell][0] += 1
            counts[cell][1] += int(is_chronic(days, definition))
    return {cell: (n, chronic) for cell, (n, chronic) in counts.items()}
