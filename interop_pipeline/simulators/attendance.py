"""Daily attendance truth: absences and tardies only, as SIS exports record them.

Absence is skewed, as in real districts: most students miss a few days, a minority misses many
(a two-component mixture of per-student rates), with rates varying by subgroup as in the
district profile, and more absences on Mondays, Fridays and days next to breaks. Every
instructional day a student is enrolled without an event is a day present.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from interop_pipeline.config import GeneratorRates
from interop_pipeline.simulators.calendar import SchoolCalendar

# SIS attendance codes (PowerSchool-like): code → (description, presence status, minutes missed).
ATTENDANCE_CODES = {
    "A": ("Unexcused Absence", "Absent", 390),
    "E": ("Excused Absence", "Absent", 390),
    "H": ("Half Day Absence", "Absent", 195),
    "T": ("Tardy", "Present", 15),
}
# Relative absence by federal race/ethnicity category (chronic absence by group, 2022-23).
GROUP_ABSENCE_FACTOR = {
    "AmericanIndianOrAlaskaNative": 1.6,
    "NativeHawaiianOrOtherPacificIslander": 1.6,
    "BlackOrAfricanAmerican": 1.3,
    "HispanicOrLatino": 1.2,
    "TwoOrMoreRaces": 1.05,
    "White": 0.8,
    "Asian": 0.55,
}
_STUDENTS_PER_CHUNK = 20_000  # bounds memory: a chunk is students x instructional days


def _day_factors(calendar: SchoolCalendar) -> np.ndarray:
    """Per instructional day: more absences on Mondays, Fridays and days next to a break."""
    days = calendar.instructional_days
    weekday = (days.view("int64") - 4) % 7
    factor = np.where((weekday == 0) | (weekday == 4), 1.3, 1.0)
    gap_before = np.diff(days.view("int64"), prepend=days.view("int64")[0] - 1) > 3
    gap_after = np.diff(days.view("int64"), append=days.view("int64")[-1] + 1) > 3
    return factor * np.where(gap_before | gap_after, 1.4, 1.0)


def student_absence_rates(
    rng: np.random.Generator, race_ethnicity: np.ndarray, ability: np.ndarray, rates: GeneratorRates
) -> np.ndarray:
    """Each student's daily absence probability (mixture of low- and high-rate students)."""
    n = len(race_ethnicity)
    high = rng.random(n) < rates.high_absence_share
    rate = np.where(high, rng.beta(3, 17, n), rng.beta(1.2, 38, n))  # means ~15% and ~3%
    group = np.array([GROUP_ABSENCE_FACTOR.get(r, 1.0) for r in race_ethnicity])
    # Students who miss school also tend to score lower; ability is standard normal.
    return np.clip(rate * group * np.exp(-0.15 * ability), 0, 0.8)


def generate_attendance(
    rng: np.random.Generator,
    calendar: SchoolCalendar,
    spells: dict[str, np.ndarray],
    absence_rate: np.ndarray,
    rates: GeneratorRates,
) -> dict[str, np.ndarray]:
    """Attendance events for every school spell: (spell index, date, code)."""
    days = calendar.instructional_days
    day_factor = _day_factors(calendar)
    out_spell, out_day, out_code = [], [], []
    n_spells = len(spells["student"])
    for start in range(0, n_spells, _STUDENTS_PER_CHUNK):
        chunk = np.arange(start, min(start + _STUDENTS_PER_CHUNK, n_spells))
        entry = spells["entry"][chunk]
        exit_ = np.where(np.isnat(spells["exit"][chunk]), days[-1], spells["exit"][chunk])
        enrolled = (days[None, :] >= entry[:, None]) & (days[None, :] <= exit_[:, None])
        p_absent = np.clip(absence_rate[spells["student"][chunk]][:, None] * day_factor[None, :], 0, 0.95)
        draw = rng.random(enrolled.shape)
        absent = enrolled & (draw < p_absent)
        tardy = enrolled & ~absent & (draw > 1 - rates.tardy_rate)
        rows, cols = np.nonzero(absent | tardy)
        kind = rng.random(len(rows))
        code = np.where(
            tardy[rows, cols],
            "T",
            np.where(kind < rates.excused_share, "E", np.where(kind < rates.excused_share + 0.08, "H", "A")),
        )
        out_spell.append(chunk[rows])
        out_day.append(days[cols])
        out_code.append(code)
    return {
        "spell": np.concatenate(out_spell),
        "date": np.concatenate(out_day),
        "code": np.concatenate(out_code),
    }


def attendance_table(
    events: dict[str, np.ndarray],
    spells: dict[str, np.ndarray],
    person_ids: pa.ChunkedArray,
    school_ids: np.ndarray,
    district_code: str,
) -> pa.Table:
    student = spells["student"][events["spell"]]
    codes = events["code"]
    return pa.table(
        {
            "district_code": pa.array([district_code] * len(codes)),
            "person_id": person_ids.take(pa.array(student)),
            "school_sourced_id": pa.array(school_ids[spells["school"][events["spell"]]]),
            "attendance_date": pa.array(events["date"]),
            "code": pa.array(codes),
            "presence_status": pa.array(
                np.array([ATTENDANCE_CODES[c][1] for c in ATTENDANCE_CODES])[
                    np.searchsorted(list(ATTENDANCE_CODES), codes)
                ]
            ),
        }
    )
