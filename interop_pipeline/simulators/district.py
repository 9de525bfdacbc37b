"""Synthetic district: the ground truth of who is who, enrolled where, taught by whom.

Everything is drawn with numpy from one seeded generator, a column at a time (no per-student
Python loops), so 100k students take seconds. The result is a `DistrictTruth` of Arrow tables;
each source system's view (simulators/sis_oneroster.py, and later LMS and assessment vendors) is
rendered from it separately, with that system's own IDs and codes. Tests and quality measures
compare the warehouse against this truth; the pipeline never reads it.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field, fields
from datetime import date

import numpy as np
import pyarrow as pa

from interop_pipeline.config import GeneratorRates
from interop_pipeline.simulators.assessments import (
    generate_results,
    iready_scores,
    map_scores,
    results_table,
    state_scores,
)
from interop_pipeline.simulators.attendance import attendance_table, generate_attendance, student_absence_rates
from interop_pipeline.simulators.calendar import SchoolCalendar, build_calendar
from interop_pipeline.simulators.identities import derive_identities
from interop_pipeline.simulators.names import FEMALE_GIVEN_NAMES, MALE_GIVEN_NAMES, SURNAMES

GRADES = np.array(["KG", "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12"])
LEVELS = {  # level → (first grade index, last grade index, typical school size)
    "elementary": (0, 5, 450),
    "middle": (6, 8, 600),
    "high": (9, 12, 850),
}
LOCAL_IDS = (10_000, 9_999_999)  # the SIS's student numbers: seven digits
RACE_FLAG_COLUMNS = (
    "AmericanIndianOrAlaskaNative",
    "Asian",
    "BlackOrAfricanAmerican",
    "NativeHawaiianOrOtherPacificIslander",
    "White",
)


@dataclass(frozen=True)
class CatalogCourse:
    code: str
    title: str
    subject: str
    level: str
    grades: tuple[int, ...]  # grade indexes that take it
    elective: bool = False
    homeroom: bool = False
    sced_code: str | None = None  # NCES SCED course code, where the SIS has one (high school core)


def _per_grade(level: str, code: str, title: str, subject: str, grades: range, **kw) -> list[CatalogCourse]:
    return [CatalogCourse(f"{code}{GRADES[g]}", f"{title} {GRADES[g]}", subject, level, (g,), **kw) for g in grades]


# What each level's students take: every grade-specific core course of their grade, plus a number
# of electives (ELECTIVES_PER_STUDENT) drawn from the level's elective list.
COURSE_CATALOG: tuple[CatalogCourse, ...] = tuple(
    _per_grade("elementary", "HR", "Homeroom Grade", "homeroom", range(0, 6), homeroom=True)
    + _per_grade("elementary", "ART", "Art Grade", "Art", range(0, 6))
    + _per_grade("elementary", "MUS", "Music Grade", "Music", range(0, 6))
    + _per_grade("elementary", "PE", "Physical Education Grade", "Physical Education", range(0, 6))
    + _per_grade("middle", "ELA", "English Language Arts", "English Language Arts", range(6, 9))
    + _per_grade("middle", "MATH", "Mathematics", "Mathematics", range(6, 9))
    + _per_grade("middle", "SCI", "Science", "Science", range(6, 9))
    + _per_grade("middle", "SS", "Social Studies", "Social Studies", range(6, 9))
    + _per_grade("middle", "PE", "Physical Education", "Physical Education", range(6, 9))
    + [
        CatalogCourse("MS-ART", "Art", "Art", "middle", (6, 7, 8), elective=True),
        CatalogCourse("MS-BAND", "Band", "Music", "middle", (6, 7, 8), elective=True),
        CatalogCourse("MS-SPAN", "Spanish Exploratory", "World Languages", "middle", (6, 7, 8), elective=True),
        CatalogCourse("MS-TECH", "Technology", "Computer Science", "middle", (6, 7, 8), elective=True),
    ]
    + [
        CatalogCourse(code, title, subject, "high", (g,), sced_code=sced)
        for g, courses in {
            9: [
                ("ENG9", "English 9", "01001"),
                ("ALG1", "Algebra I", "02052"),
                ("BIO", "Biology", "03051"),
                ("WHIST", "World History", "04051"),
            ],
            10: [
                ("ENG10", "English 10", "01002"),
                ("GEOM", "Geometry", "02072"),
                ("CHEM", "Chemistry", "03101"),
                ("GEOG", "World Geography", "04001"),
            ],
            11: [
                ("ENG11", "English 11", "01003"),
                ("ALG2", "Algebra II", "02056"),
                ("PHYS", "Physics", "03151"),
                ("USHIST", "US History", "04101"),
            ],
            # Courses a SIS often carries without a SCED code: published with no subjects at all.
            12: [
                ("ENG12", "English 12", "01004"),
                ("PRECALC", "Precalculus", None),
                ("ENVSCI", "Environmental Science", None),
                ("GOV", "Government and Economics", None),
            ],
        }.items()
        for (code, title, sced), subject in zip(
            courses, ("English Language Arts", "Mathematics", "Science", "Social Studies"), strict=True
        )
    ]
    + [
        CatalogCourse("PE-HEALTH", "Physical Education and Health", "Physical Education", "high", (9, 10, 11, 12)),
        CatalogCourse("SPAN1", "Spanish I", "World Languages", "high", (9, 10, 11, 12), elective=True),
        CatalogCourse("ART1", "Art I", "Art", "high", (9, 10, 11, 12), elective=True),
        CatalogCourse("BAND", "Concert Band", "Music", "high", (9, 10, 11, 12), elective=True),
        CatalogCourse("CS1", "Computer Science Principles", "Computer Science", "high", (9, 10, 11, 12), elective=True),
        CatalogCourse("JOURN", "Journalism", "English Language Arts", "high", (9, 10, 11, 12), elective=True),
    ]
)
ELECTIVES_PER_STUDENT = {"elementary": 0, "middle": 1, "high": 2}


@dataclass
class DistrictTruth:
    """Ground truth of one generated district; every table carries `district_code`."""

    calendar: SchoolCalendar
    schools: pa.Table
    students: pa.Table
    staff: pa.Table
    school_enrollments: pa.Table
    courses: pa.Table
    sections: pa.Table
    section_enrollments: pa.Table
    staff_assignments: pa.Table
    attendance_events: pa.Table
    map_results: pa.Table
    iready_results: pa.Table
    state_results: pa.Table
    system_students: pa.Table  # each system's own record of each student (simulators/identities.py)
    system_staff: pa.Table

    def tables(self) -> dict[str, pa.Table]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "calendar"}
        out["calendar"] = self.calendar.days
        out["sessions"] = self.calendar.sessions
        return out


@dataclass
class Numbering:
    """The district's numberings, for a district generated in parts (simulators/generate.py):
    where each numbered kind (students, staff, a level's schools, each system's own ids) starts
    in the part being drawn, and the salt each id scheme drew in the first part. Every part draws
    its ids from the same bijection at its own offset, so ids stay unique district-wide. A fresh
    Numbering starts every kind at 0: a district of one part is numbered as it always was
    (but for a level's schools past its 99th: school_number)."""

    students: int = 0  # the whole district's students; 0: those drawn so far
    taken: dict[str, int] = field(default_factory=dict)
    salts: dict[str, int] = field(default_factory=dict)

    def take(self, kind: str, n: int) -> int:
        """The first number of the next n of this kind."""
        first = self.taken.get(kind, 0)
        self.taken[kind] = first + n
        return first

    def salt(self, scheme: str, drawn: int) -> int:
        """The salt of an id scheme: the one drawn in the first part."""
        return self.salts.setdefault(scheme, drawn)


def opaque_ids(rng: np.random.Generator, n: int, prefix: str = "") -> np.ndarray:
    """n random 128-bit hex identifiers: stable for a seed, carrying no personal data."""
    hex_ids = np.frombuffer(binascii.hexlify(rng.bytes(16 * n)), dtype="S32").astype(str)
    return np.char.add(prefix, hex_ids) if prefix else hex_ids


def unique_numbers(n: int, low: int, high: int, salt: int, first: int = 0) -> np.ndarray:
    """n distinct numbers in [low, high) that look random: an affine bijection of first..first+n-1
    (so numbers drawn at different offsets with one salt never meet)."""
    span, multiplier = high - low, _multiplier(high - low, salt)
    if first + n > span:
        raise ValueError(f"{first + n:,} numbers asked of a range of {span:,}: they would repeat")
    return low + ((np.arange(n, dtype=np.int64) + first) * multiplier + salt) % span


def unique_number_positions(values: np.ndarray, low: int, high: int, salt: int) -> np.ndarray:
    """Where each value sits in unique_numbers' bijection for (low, high, salt): a value is among
    the first n numbers drawn exactly when its position is below n. For spans below 3e9 (the
    product stays within 64 bits)."""
    span = high - low
    assert span < 3_000_000_000, span
    inverse = pow(_multiplier(span, salt), -1, span)
    return ((values.astype(np.int64) - low - salt) % span * inverse) % span


def _multiplier(span: int, salt: int) -> int:
    multiplier = 7_919 * (salt % 1_000 + 1) + 1
    while np.gcd(multiplier, span) != 1:
        multiplier += 1
    return multiplier


def _serial(prefix: str, first: int, n: int, width: int) -> np.ndarray:
    """prefix + the numbers first+1 … first+n, zero-padded to width."""
    return np.char.add(prefix, np.char.zfill(np.arange(first + 1, first + n + 1).astype(str), width))


def _pick(rng: np.random.Generator, pool: tuple[str, ...] | list[str], n: int) -> np.ndarray:
    return np.asarray(pool)[rng.integers(0, len(pool), n)]


def _random_days(rng: np.random.Generator, days: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """For each row, a random instructional day d with low <= d < high (indexes into `days`)."""
    lo = np.searchsorted(days, low)
    hi = np.maximum(np.searchsorted(days, high), lo + 1)
    return days[np.minimum(lo + (rng.random(len(lo)) * (hi - lo)).astype(np.int64), len(days) - 1)]


def school_number(level_no: int, i: int, numbering: Numbering) -> int:
    """The i-th school of a level: 101, 102, … for elementary (201 for middle, 301 for high) up to
    99 a level; the district's further schools, of any level, take 400, 401, … in turn, then
    1000 onwards. Numbers never repeat, nor do their last three digits (an Ed-Fi schoolId ends
    with them, simulators/edfi_api.py and publish/edfi.py) in a district of up to 897 schools."""
    if i < 99:
        return level_no * 100 + i + 1
    further = numbering.take("schools:further", 1)
    return 400 + further if further < 600 else 1_000 + further


def _schools(district_code: str, lea_id: str, students_per_level: dict[str, int], numbering: Numbering) -> pa.Table:
    rows = []
    for level_no, (level, (first, last, size)) in enumerate(LEVELS.items(), start=1):
        # At least two elementary schools so that within-district transfers occur in any district.
        count = max(2 if level == "elementary" else 1, round(students_per_level[level] / size))
        start = numbering.take(f"schools:{level}", count)
        for i in range(start, start + count):
            number = school_number(level_no, i, numbering)
            rows.append(
                {
                    "district_code": district_code,
                    "school_number": number,
                    "sourced_id": f"org-{number}",
                    "state_school_id": f"{lea_id}{number:04d}",
                    "name": f"{SURNAMES[(number * 7) % len(SURNAMES)]} {level.title()} School",
                    "level": level,
                    "low_grade": str(GRADES[first]),
                    "high_grade": str(GRADES[last]),
                }
            )
    return pa.Table.from_pylist(rows)


def generate_district(
    students: int,
    seed: int,
    *,
    district_code: str,
    lea_id: str,
    year_start: date,
    year_end: date,
    rates: GeneratorRates | None = None,
    numbering: Numbering | None = None,
) -> DistrictTruth:
    """Draw a coherent district of `students` students; the same seed gives the same district.
    `numbering` carries on the ids of the parts drawn before (a district generated in parts)."""
    rates = rates or GeneratorRates()
    numbering = numbering if numbering is not None else Numbering()
    rng = np.random.default_rng(seed)
    calendar = build_calendar(year_start, year_end, rates.instructional_days, district_code)
    days = calendar.instructional_days  # datetime64[D], sorted

    grade = rng.integers(0, len(GRADES), students)
    level_of_grade = np.empty(len(GRADES), dtype=object)
    for level, (first, last, _) in LEVELS.items():
        level_of_grade[first : last + 1] = level
    level = level_of_grade[grade]
    schools = _schools(district_code, lea_id, {lv: int((level == lv).sum()) for lv in LEVELS}, numbering)

    student_table = _students(rng, students, grade, district_code, year_start, rates, numbering)
    enrollments = _school_spells(rng, schools, level, days, rates)
    # Hard negatives draw from their own stream so they never change the rest of the district.
    student_table = _hard_negatives(
        np.random.default_rng([seed, 20]), student_table, grade, enrollments["school"][:students], rates, district_code
    )
    staff, school_staff = _staff(rng, schools, enrollments, district_code, rates, numbering)
    courses, sections, section_enrollments, staff_assignments = _schedule(
        rng, schools, enrollments, grade, school_staff, calendar, district_code, rates
    )
    spells = pa.table(
        {
            "district_code": pa.array([district_code] * len(enrollments["student"])),
            "person_id": student_table["person_id"].take(pa.array(enrollments["student"])),
            "school_sourced_id": schools["sourced_id"].take(pa.array(enrollments["school"])),
            "entry_date": pa.array(enrollments["entry"]),
            "exit_date": pa.array(enrollments["exit"], mask=np.isnat(enrollments["exit"])),
            "entry_type": pa.array(enrollments["entry_type"]),
            "exit_type": pa.array(enrollments["exit_type"], mask=enrollments["exit_type"] == ""),
        }
    )
    activity = _activity(
        seed, calendar, enrollments, grade, student_table, schools, year_start.year, district_code, rates
    )
    # The student's current school is the school of their latest spell.
    latest = np.full(students, -1)
    latest[enrollments["student"]] = enrollments["school"]  # later spells overwrite earlier ones
    student_table = student_table.append_column("school_sourced_id", schools["sourced_id"].take(pa.array(latest)))
    identities = derive_identities(np.random.default_rng([seed, 30]), student_table, staff, rates, numbering)
    return DistrictTruth(
        calendar=calendar,
        schools=schools,
        students=student_table,
        staff=staff,
        school_enrollments=spells,
        courses=courses,
        sections=_index_to_person(sections, "teacher_index", staff),
        section_enrollments=_index_to_person(section_enrollments, "student_index", student_table),
        staff_assignments=_index_to_person(staff_assignments, "staff_index", staff),
        **activity,
        system_students=identities.students,
        system_staff=identities.staff,
    )


def _activity(
    seed: int,
    calendar: SchoolCalendar,
    spells: dict[str, np.ndarray],
    grade: np.ndarray,
    students: pa.Table,
    schools: pa.Table,
    start_year: int,
    district_code: str,
    rates: GeneratorRates,
) -> dict[str, pa.Table]:
    """Attendance and assessment truth. Each part draws from its own stream (seed, part), so
    adding a part never changes the roster or the other parts for a seed."""
    ability = np.random.default_rng([seed, 1]).standard_normal(len(grade))
    school_ids = np.asarray(schools["sourced_id"].to_pylist())
    person_ids = students["person_id"]
    rng = np.random.default_rng([seed, 2])
    absence = student_absence_rates(rng, students["race_ethnicity"].to_numpy(zero_copy_only=False), ability, rates)
    events = generate_attendance(rng, calendar, spells, absence, rates)
    out = {"attendance_events": attendance_table(events, spells, person_ids, school_ids, district_code)}
    tests = {
        # vendor: (scorer, subjects, grade numbers, seasons)
        "map_results": (
            "nwea_map",
            map_scores,
            ("Mathematics", "Reading"),
            set(range(0, 11)),
            ("Fall", "Winter", "Spring"),
        ),
        "iready_results": ("iready", iready_scores, ("ELA", "Math"), set(range(0, 9)), ("Fall", "Winter", "Spring")),
        "state_results": ("state", state_scores, ("ELA", "Math"), {3, 4, 5, 6, 7, 8, 11}, ("Spring",)),
    }
    for part, (name, (vendor, scorer, subjects, grades, seasons)) in enumerate(tests.items(), start=3):
        rng = np.random.default_rng([seed, part])
        results = generate_results(
            rng,
            grade=grade,
            spells=spells,
            instructional_days=calendar.instructional_days,
            start_year=start_year,
            subjects=subjects,
            grades=grades,
            seasons=seasons,
            participation=rates.assessment_participation,
        )
        scores = scorer(rng, results, grade, ability)
        out[name] = results_table(
            results,
            scores,
            person_ids,
            school_ids,
            spells["school"],
            vendor,
            calendar.sessions["school_year"][0].as_py(),
            district_code,
        )
    return out


def _index_to_person(table: pa.Table, index_column: str, people: pa.Table) -> pa.Table:
    """Swap a row-index column for the person's truth key."""
    position = table.schema.get_field_index(index_column)
    person_ids = people["person_id"].take(table[index_column])
    name = "teacher_person_id" if index_column == "teacher_index" else "person_id"
    return table.set_column(position, name, person_ids)


def _students(
    rng: np.random.Generator,
    n: int,
    grade: np.ndarray,
    district_code: str,
    year_start: date,
    rates: GeneratorRates,
    numbering: Numbering,
) -> pa.Table:
    sex = rng.choice(np.array(["female", "male", "unspecified"]), n, p=[0.488, 0.509, 0.003])
    female = sex == "female"
    given = np.where(female, _pick(rng, FEMALE_GIVEN_NAMES, n), _pick(rng, MALE_GIVEN_NAMES, n))
    middle_pool = np.where(female, _pick(rng, FEMALE_GIVEN_NAMES, n), _pick(rng, MALE_GIVEN_NAMES, n))
    has_middle = rng.random(n) < 0.7
    family = _pick(rng, SURNAMES, n)

    # Birth date: old enough for the grade on September 1 of the start year, some retained a year.
    cohort_year = year_start.year - 6 - grade - (rng.random(n) < rates.retained)
    birth = np.array([np.datetime64(f"{y}-09-02") for y in range(cohort_year.min(), cohort_year.max() + 1)])[
        cohort_year - cohort_year.min()
    ] + rng.integers(0, 365, n).astype("timedelta64[D]")

    categories = list(rates.race_ethnicity)
    shares = np.array([rates.race_ethnicity[c] for c in categories], dtype=float)
    race_ethnicity = np.asarray(categories)[rng.choice(len(categories), n, p=shares / shares.sum())]
    hispanic = race_ethnicity == "HispanicOrLatino"
    flags = {c: race_ethnicity == c for c in RACE_FLAG_COLUMNS}
    # Hispanic students also report a race; two-or-more students report two.
    hispanic_race = rng.choice(np.array(RACE_FLAG_COLUMNS), n, p=[0.03, 0.01, 0.03, 0.01, 0.92])
    two_or_more = race_ethnicity == "TwoOrMoreRaces"
    first_pick = rng.integers(0, len(RACE_FLAG_COLUMNS), n)
    second_pick = (first_pick + rng.integers(1, len(RACE_FLAG_COLUMNS), n)) % len(RACE_FLAG_COLUMNS)
    for i, column in enumerate(RACE_FLAG_COLUMNS):
        flags[column] |= (hispanic & (hispanic_race == column)) | (
            two_or_more & ((first_pick == i) | (second_pick == i))
        )

    economically_disadvantaged = rng.random(n) < rates.economically_disadvantaged
    # McKinney-Vento students are categorically eligible for free meals.
    homeless = rng.random(n) < rates.homeless
    economically_disadvantaged |= homeless
    idea = rng.random(n) < rates.idea
    section_504 = ~idea & (rng.random(n) < rates.section_504 / max(1e-9, 1 - rates.idea))

    first = numbering.take("students", n)
    local_salt, state_salt = numbering.salt("local_id", seed_salt(rng)), numbering.salt("state_id", seed_salt(rng))
    local_id = np.char.zfill(unique_numbers(n, *LOCAL_IDS, local_salt, first).astype(str), 7)
    state_id = unique_numbers(n, 1_000_000_000, 9_999_999_999, state_salt, first).astype(str)
    login = np.char.lower(np.char.add(np.char.add(np.char.add(given, "."), family), local_id))
    return pa.table(
        {
            "district_code": pa.array([district_code] * n),
            "person_id": pa.array(_serial("stu-", first, n, 7)),
            "sourced_id": pa.array(opaque_ids(rng, n)),
            "local_id": pa.array(local_id),
            "state_id": pa.array(state_id),
            "first_name": pa.array(given),
            "middle_name": pa.array(middle_pool, mask=~has_middle),
            "last_name": pa.array(family),
            "birth_date": pa.array(birth),
            "sex": pa.array(sex),
            "hispanic_or_latino": pa.array(hispanic),
            **{f"race_{c}": pa.array(flags[c]) for c in RACE_FLAG_COLUMNS},
            "race_ethnicity": pa.array(race_ethnicity),
            "grade_level": pa.array(GRADES[grade]),
            "english_learner": pa.array(rng.random(n) < rates.english_learner),
            "idea": pa.array(idea),
            "section_504": pa.array(section_504),
            "economically_disadvantaged": pa.array(economically_disadvantaged),
            "homeless": pa.array(homeless),
            "username": pa.array(login),
            "email": pa.array(np.char.add(login, f"@students.{district_code}.example.org")),
        }
    )


def _pairs(rng: np.random.Generator, group: np.ndarray, free: np.ndarray, count: int, same: bool) -> np.ndarray:
    """Up to `count` disjoint (a, b) index pairs of free students, a and b in the same `group`
    (same=True) or in different groups (same=False)."""
    candidates = np.flatnonzero(free)
    if same:
        candidates = candidates[np.lexsort((rng.random(len(candidates)), group[candidates]))]
    else:
        candidates = rng.permutation(candidates)
    pairs = candidates[: len(candidates) // 2 * 2].reshape(-1, 2)
    matches = (group[pairs[:, 0]] == group[pairs[:, 1]]) == same
    pairs = pairs[matches]
    return pairs[rng.permutation(len(pairs))[:count]]


def _hard_negatives(
    rng: np.random.Generator,
    students: pa.Table,
    grade: np.ndarray,
    school: np.ndarray,
    rates: GeneratorRates,
    district_code: str,
) -> pa.Table:
    """Different children who look alike, for identity resolution to keep apart: twins (same
    birth date, surname, school and grade; different given names), students sharing the full
    name of a student of the same grade at another school, and siblings (same surname, another
    grade, so the same login and email pattern)."""
    n = students.num_rows
    given = students["first_name"].to_numpy(zero_copy_only=False).astype(object)
    family = students["last_name"].to_numpy(zero_copy_only=False).astype(object)
    birth = students["birth_date"].to_numpy().copy()
    free = np.ones(n, dtype=bool)

    twins = _pairs(rng, school * len(GRADES) + grade, free, round(n * rates.twins / 2), same=True)
    free[twins.ravel()] = False
    a, b = twins[:, 0], twins[:, 1]
    family[b], birth[b] = family[a], birth[a]
    pool = np.sort(np.asarray(FEMALE_GIVEN_NAMES + MALE_GIVEN_NAMES, dtype=object))
    clash = given[a] == given[b]  # twins never share a given name
    given[b[clash]] = pool[(np.searchsorted(pool, given[b[clash]]) + 1) % len(pool)]

    namesakes = _pairs(rng, grade, free, n, same=True)
    namesakes = namesakes[school[namesakes[:, 0]] != school[namesakes[:, 1]]]
    namesakes = namesakes[: round(n * rates.same_name_other_school / 2)]
    free[namesakes.ravel()] = False
    given[namesakes[:, 1]], family[namesakes[:, 1]] = given[namesakes[:, 0]], family[namesakes[:, 0]]

    siblings = _pairs(rng, grade, free, round(n * rates.siblings / 2), same=False)
    family[siblings[:, 1]] = family[siblings[:, 0]]

    local_id = students["local_id"].to_numpy(zero_copy_only=False).astype(str)
    login = np.char.lower(np.char.add(np.char.add(np.char.add(given.astype(str), "."), family.astype(str)), local_id))
    replaced = {
        "first_name": pa.array(given.astype(str)),
        "last_name": pa.array(family.astype(str)),
        "birth_date": pa.array(birth),
        "username": pa.array(login),
        "email": pa.array(np.char.add(login, f"@students.{district_code}.example.org")),
    }
    for column, values in replaced.items():
        students = students.set_column(students.schema.get_field_index(column), column, values)
    return students


def seed_salt(rng: np.random.Generator) -> int:
    return int(rng.integers(1, 1_000_000))


def _school_spells(
    rng: np.random.Generator, schools: pa.Table, level: np.ndarray, days: np.ndarray, rates: GeneratorRates
) -> dict[str, np.ndarray]:
    """Each student's school enrolment spells: start-of-year or mid-year entry, withdrawal, and
    transfers to another school of the same level (a second spell)."""
    n = len(level)
    school_level = np.asarray(schools["level"].to_pylist())
    first_day, last_day = days[0], days[-1]
    school = np.empty(n, dtype=np.int64)
    alternative = np.full(n, -1)
    for lv in LEVELS:
        candidates = np.flatnonzero(school_level == lv)
        members = np.flatnonzero(level == lv)
        school[members] = candidates[rng.integers(0, len(candidates), len(members))]
        if len(candidates) > 1:  # a different school of the same level to transfer to
            offset = rng.integers(1, len(candidates), len(members))
            position = np.searchsorted(candidates, school[members])
            alternative[members] = candidates[(position + offset) % len(candidates)]

    mid_year = rng.random(n) < rates.mid_year_entry
    entry = np.where(
        mid_year,
        _random_days(rng, days, np.full(n, first_day + 10), np.full(n, last_day - 60)),
        first_day,
    )
    transfers = (alternative >= 0) & (rng.random(n) < rates.transfer)
    transfer_day = _random_days(rng, days, entry + 15, np.full(n, last_day - 20))
    transfers &= transfer_day > entry
    withdraws = rng.random(n) < rates.withdrawal
    start_of_last_spell = np.where(transfers, transfer_day, entry)
    withdraw_day = _random_days(rng, days, start_of_last_spell + 10, np.full(n, last_day))
    withdraws &= withdraw_day > start_of_last_spell
    exit_ = np.where(withdraws, withdraw_day, np.datetime64("NaT"))

    # First spell for everyone; it ends the school day before a transfer.
    before_transfer = days[np.maximum(np.searchsorted(days, transfer_day) - 1, 0)]
    first_exit = np.where(transfers, before_transfer, exit_)
    first_exit_type = np.where(transfers, "transfer_out", np.where(withdraws, "withdrawal", ""))
    moved = np.flatnonzero(transfers)
    return {
        "student": np.concatenate([np.arange(n), moved]),
        "school": np.concatenate([school, alternative[moved]]),
        "entry": np.concatenate([entry, transfer_day[moved]]).astype("datetime64[D]"),
        "exit": np.concatenate([first_exit, exit_[moved]]).astype("datetime64[D]"),
        "entry_type": np.concatenate(
            [np.where(mid_year, "mid_year_entry", "start_of_year"), np.full(len(moved), "transfer_in")]
        ),
        "exit_type": np.concatenate([first_exit_type, np.where(withdraws[moved], "withdrawal", "")]),
    }


def _staff(
    rng: np.random.Generator,
    schools: pa.Table,
    spells: dict[str, np.ndarray],
    district_code: str,
    rates: GeneratorRates,
    numbering: Numbering,
) -> tuple[pa.Table, list[np.ndarray]]:
    """Teachers by pupil/teacher ratio, a principal per school, a counselor per secondary school.
    Returns the staff table and, per school, the row indexes of its teachers."""
    enrolled = np.bincount(spells["school"], minlength=schools.num_rows)
    roles, school_of = [], []
    for s, level in enumerate(schools["level"].to_pylist()):
        teachers = max(3, int(np.ceil(enrolled[s] / rates.pupil_teacher_ratio)))
        extra = ["principal"] + (["counselor"] if level != "elementary" else [])
        roles += ["teacher"] * teachers + extra
        school_of += [s] * (teachers + len(extra))
    n = len(roles)
    roles_arr, school_arr = np.asarray(roles), np.asarray(school_of)
    sex = rng.random(n) < 0.72  # three in four teachers are women
    given = np.where(sex, _pick(rng, FEMALE_GIVEN_NAMES, n), _pick(rng, MALE_GIVEN_NAMES, n))
    family = _pick(rng, SURNAMES, n)
    first = numbering.take("staff", n)
    staff_salt = numbering.salt("staff_id", seed_salt(rng))
    staff_id = np.char.add("T", np.char.zfill(unique_numbers(n, 10_000, 99_999, staff_salt, first).astype(str), 5))
    login = np.char.lower(np.char.add(np.char.add(np.char.add(given, "."), family), np.char.lstrip(staff_id, "T")))
    table = pa.table(
        {
            "district_code": pa.array([district_code] * n),
            "person_id": pa.array(_serial("stf-", first, n, 5)),
            "sourced_id": pa.array(opaque_ids(rng, n)),
            "staff_id": pa.array(staff_id),
            "first_name": pa.array(given),
            "last_name": pa.array(family),
            "role": pa.array(roles_arr),
            "school_sourced_id": schools["sourced_id"].take(pa.array(school_arr)),
            "username": pa.array(login),
            "email": pa.array(np.char.add(login, f"@{district_code}.example.org")),
        }
    )
    teachers_by_school = [np.flatnonzero((school_arr == s) & (roles_arr == "teacher")) for s in range(schools.num_rows)]
    return table, teachers_by_school


def _schedule(
    rng: np.random.Generator,
    schools: pa.Table,
    spells: dict[str, np.ndarray],
    grade: np.ndarray,
    teachers_by_school: list[np.ndarray],
    calendar: SchoolCalendar,
    district_code: str,
    rates: GeneratorRates,
) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table]:
    """Courses per school, balanced sections per (school, course), a teacher per section, and
    each spell's section enrolments over the spell's dates."""
    school_level = np.asarray(schools["level"].to_pylist())
    catalog = COURSE_CATALOG
    # Offered courses: every catalog course of the school's level, at every school.
    offered = [
        (s, c) for s in range(schools.num_rows) for c, course in enumerate(catalog) if course.level == school_level[s]
    ]
    offered_school = np.array([s for s, _ in offered])
    offered_course = np.array([c for _, c in offered])
    offering_index = {pair: i for i, pair in enumerate(offered)}

    # Which catalog courses each spell takes: core courses of the student's grade + electives.
    spell_grade = grade[spells["student"]]
    rows_spell, rows_course = [], []
    for c, course in enumerate(catalog):
        if course.elective:
            continue
        takes = np.flatnonzero((school_level[spells["school"]] == course.level) & np.isin(spell_grade, course.grades))
        rows_spell.append(takes)
        rows_course.append(np.full(len(takes), c))
    for level, count in ELECTIVES_PER_STUDENT.items():
        electives = np.array([c for c, course in enumerate(catalog) if course.level == level and course.elective])
        if count == 0 or len(electives) == 0:
            continue
        members = np.flatnonzero(school_level[spells["school"]] == level)
        # Choice per student (not per spell): a transfer keeps the same electives.
        preference = np.random.default_rng(rng.integers(1 << 32)).random((len(grade), len(electives)))
        chosen = np.argsort(preference[spells["student"][members]], axis=1)[:, :count]
        rows_spell.append(np.repeat(members, count))
        rows_course.append(electives[chosen.ravel()])
    spell_of = np.concatenate(rows_spell)
    course_of = np.concatenate(rows_course)
    offering = (
        np.array([offering_index[(s, c)] for s, c in zip(spells["school"][spell_of], course_of, strict=True)])
        if len(spell_of)
        else np.array([], dtype=np.int64)
    )

    # Balanced sections: shuffle within each offering, deal students round-robin.
    order = np.lexsort((rng.random(len(offering)), offering))
    group_sizes = np.bincount(offering, minlength=len(offered))
    starts = np.concatenate([[0], np.cumsum(group_sizes)[:-1]])
    rank = np.empty(len(offering), dtype=np.int64)
    rank[order] = np.arange(len(offering)) - starts[offering[order]]
    sections_per_offering = np.maximum(1, np.ceil(group_sizes / rates.section_size).astype(np.int64))
    section_starts = np.concatenate([[0], np.cumsum(sections_per_offering)[:-1]])
    section_of_row = section_starts[offering] + rank % sections_per_offering[offering]
    n_sections = int(sections_per_offering.sum())
    section_offering = np.repeat(np.arange(len(offered)), sections_per_offering)
    section_number = np.arange(n_sections) - section_starts[section_offering] + 1

    # Teachers: deal each school's sections round-robin over its teachers.
    section_school = offered_school[section_offering]
    section_teacher = np.empty(n_sections, dtype=np.int64)
    for s, teachers in enumerate(teachers_by_school):
        mine = np.flatnonzero(section_school == s)
        section_teacher[mine] = teachers[np.arange(len(mine)) % len(teachers)]

    course_ids = opaque_ids(rng, len(offered), "crs-")
    section_ids = opaque_ids(rng, n_sections, "cls-")
    school_ids = np.asarray(schools["sourced_id"].to_pylist())
    catalog_code = np.array([c.code for c in catalog])
    catalog_title = np.array([c.title for c in catalog])
    catalog_grades = np.array([",".join(GRADES[list(c.grades)]) for c in catalog])
    catalog_subject = np.array([c.subject for c in catalog])
    catalog_sced = np.array([c.sced_code for c in catalog], dtype=object)
    catalog_homeroom = np.array([c.homeroom for c in catalog])
    courses = pa.table(
        {
            "district_code": pa.array([district_code] * len(offered)),
            "sourced_id": pa.array(course_ids),
            "school_sourced_id": pa.array(school_ids[offered_school]),
            "course_code": pa.array(catalog_code[offered_course]),
            "title": pa.array(catalog_title[offered_course]),
            "grades": pa.array(catalog_grades[offered_course]),
            "subject": pa.array(catalog_subject[offered_course]),
            "sced_code": pa.array(catalog_sced[offered_course], pa.string()),
        }
    )
    section_course = offered_course[section_offering]
    sections = pa.table(
        {
            "district_code": pa.array([district_code] * n_sections),
            "sourced_id": pa.array(section_ids),
            "course_sourced_id": pa.array(course_ids[section_offering]),
            "school_sourced_id": pa.array(school_ids[section_school]),
            "title": pa.array(
                np.char.add(np.char.add(catalog_title[section_course], " - "), section_number.astype(str))
            ),
            "class_code": pa.array(
                np.char.add(
                    np.char.add(catalog_code[section_course], "-"), np.char.zfill(section_number.astype(str), 2)
                )
            ),
            "class_type": pa.array(np.where(catalog_homeroom[section_course], "homeroom", "scheduled")),
            "grades": pa.array(catalog_grades[section_course]),
            "subject": pa.array(catalog_subject[section_course]),
            "sced_code": pa.array(catalog_sced[section_course], pa.string()),
            "period": pa.array(((section_number - 1) % 7 + 1).astype(str)),
            "teacher_index": pa.array(section_teacher),
        }
    )
    section_enrollments = pa.table(
        {
            "district_code": pa.array([district_code] * len(spell_of)),
            "student_index": pa.array(spells["student"][spell_of]),
            "section_sourced_id": pa.array(section_ids[section_of_row]),
            "school_sourced_id": pa.array(school_ids[spells["school"][spell_of]]),
            "begin_date": pa.array(spells["entry"][spell_of]),
            "end_date": pa.array(spells["exit"][spell_of], mask=np.isnat(spells["exit"][spell_of])),
        }
    )
    staff_assignments = pa.table(
        {
            "district_code": pa.array([district_code] * n_sections),
            "staff_index": pa.array(section_teacher),
            "section_sourced_id": pa.array(section_ids),
            "begin_date": pa.array(np.full(n_sections, calendar.instructional_days[0])),
        }
    )
    return courses, sections, section_enrollments, staff_assignments
