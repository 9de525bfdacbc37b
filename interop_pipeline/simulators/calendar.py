"""School-year calendar: instructional days, holidays and the academic sessions built on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pyarrow as pa


@dataclass
class SchoolCalendar:
    days: pa.Table  # one row per calendar date of the year: date, is_instructional, day_type
    sessions: pa.Table  # school year, semesters, grading periods
    instructional_days: np.ndarray  # datetime64[D], sorted


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """n-th given weekday (Mon=0) of a month; n=-1 for the last."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = (date(year, month + 1, 1) if month < 12 else date(year + 1, 1, 1)) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def us_school_holidays(start_year: int) -> dict[date, str]:
    """The usual US public-school closures for the school year starting in `start_year`."""
    y, n = start_year, start_year + 1
    holidays: dict[date, str] = {
        _nth_weekday(y, 9, 0, 1): "Labor Day",
        date(y, 11, 11): "Veterans Day",
        _nth_weekday(n, 1, 0, 3): "Martin Luther King Jr. Day",
        _nth_weekday(n, 2, 0, 3): "Presidents Day",
        _nth_weekday(n, 5, 0, -1): "Memorial Day",
    }
    thanksgiving = _nth_weekday(y, 11, 3, 4)
    for offset in (-1, 0, 1):
        holidays[thanksgiving + timedelta(days=offset)] = "Thanksgiving Break"
    day = date(y, 12, 22)
    while day <= date(n, 1, 2):
        holidays[day] = "Winter Break"
        day += timedelta(days=1)
    spring_monday = _nth_weekday(n, 3, 0, -1)
    for offset in range(5):
        holidays[spring_monday + timedelta(days=offset)] = "Spring Break"
    return holidays


def build_calendar(start: date, end: date, instructional_days: int, district_code: str) -> SchoolCalendar:
    """Weekdays from start to end less holidays; surplus days beyond `instructional_days` become
    professional-development days spread evenly through the year, as districts schedule them."""
    dates = np.arange(np.datetime64(start), np.datetime64(end) + 1)
    weekday = (dates.astype("datetime64[D]").view("int64") - 4) % 7  # 1970-01-01 was a Thursday
    holidays = us_school_holidays(start.year)
    holiday_names = np.array([holidays.get(d.item(), "") for d in dates])
    open_day = (weekday < 5) & (holiday_names == "")
    candidates = np.flatnonzero(open_day)
    surplus = len(candidates) - instructional_days
    day_type = np.where(weekday >= 5, "weekend", np.where(holiday_names != "", "holiday", "instructional"))
    if surplus > 0:
        # Never the first or last day of school.
        pd_days = candidates[np.linspace(1, len(candidates) - 2, surplus + 2).round().astype(int)[1:-1]]
        open_day[pd_days] = False
        day_type[pd_days] = "professional_development"
    instructional = dates[open_day]

    year = end.year
    first_half = instructional[: len(instructional) // 2]
    second_half = instructional[len(instructional) // 2 :]
    quarters = np.array_split(instructional, 4)
    sessions = [
        (f"sy-{year}", f"{year - 1}-{year} School Year", "schoolYear", instructional[0], instructional[-1], None),
        (f"sem1-{year}", f"Semester 1 {year - 1}-{year}", "semester", first_half[0], first_half[-1], f"sy-{year}"),
        (f"sem2-{year}", f"Semester 2 {year - 1}-{year}", "semester", second_half[0], second_half[-1], f"sy-{year}"),
    ] + [
        (
            f"q{i + 1}-{year}",
            f"Quarter {i + 1} {year - 1}-{year}",
            "gradingPeriod",
            q[0],
            q[-1],
            f"sem{i // 2 + 1}-{year}",
        )
        for i, q in enumerate(quarters)
    ]
    return SchoolCalendar(
        days=pa.table(
            {
                "district_code": pa.array([district_code] * len(dates)),
                "calendar_date": pa.array(dates),
                "is_instructional": pa.array(open_day),
                "day_type": pa.array(day_type),
                "holiday_name": pa.array(holiday_names, mask=holiday_names == ""),
            }
        ),
        sessions=pa.table(
            {
                "district_code": pa.array([district_code] * len(sessions)),
                "sourced_id": [s[0] for s in sessions],
                "title": [s[1] for s in sessions],
                "type": [s[2] for s in sessions],
                "start_date": pa.array(np.array([s[3] for s in sessions], dtype="datetime64[D]")),
                "end_date": pa.array(np.array([s[4] for s in sessions], dtype="datetime64[D]")),
                "parent_sourced_id": [s[5] for s in sessions],
                "school_year": [year] * len(sessions),
            }
        ),
        instructional_days=instructional,
    )
