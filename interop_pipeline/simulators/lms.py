"""LMS truth: which sections live in which learning management system, and the coursework in it.

The district runs two LMSs, split by school level as many districts do: elementary schools on
Google Classroom (simple, Chromebook-friendly), middle and high schools on Canvas (gradebook,
grading schemes). Every section of a school becomes one LMS course with the section's teacher and
students; each course carries a run of assignments through the year, and each student enrolment
a submission per assignment due while the student was in the section: on time, late, missing,
graded or not. Current grades per enrolment follow from the graded submissions, as Canvas
computes them.

People appear under each LMS's own record of them (`system_students` / `system_staff`, see
identities.py): a student missing from an LMS roster has no enrolments there. Everything is drawn
column-wise with numpy from its own seeded stream, so the roster and the other truth tables never
change when this module does. The tables are truth: simulators serve them, the pipeline never
reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

if TYPE_CHECKING:  # imported inside the functions that use it, as unique_numbers is
    from interop_pipeline.simulators.district import Numbering

LMS_BY_LEVEL = {"elementary": "google_classroom", "middle": "canvas", "high": "canvas"}
ASSIGNMENTS_PER_COURSE = {"canvas": 10, "google_classroom": 6}
ASSIGNMENT_KINDS = np.array(["Homework", "Homework", "Quiz", "Project", "Homework", "Unit Test"])
POINTS = np.array([10.0, 20.0, 25.0, 50.0, 100.0])
LMS_STREAM = 40  # numpy stream (seed, LMS_STREAM): apart from the district's other parts
# Canvas's default grading scheme: the lowest score of each letter.
GRADING_SCHEME = (
    (94, "A"),
    (90, "A-"),
    (87, "B+"),
    (84, "B"),
    (80, "B-"),
    (77, "C+"),
    (74, "C"),
    (70, "C-"),
    (67, "D+"),
    (64, "D"),
    (61, "D-"),
    (0, "F"),
)
# Submission behaviour: shares for an average student; a per-student propensity shifts them.
MISSING_RATE = 0.07
LATE_RATE = 0.12
GRADED_RATE = 0.93
MEAN_SCORE = 0.8
LMS_TABLES = ("lms_courses", "lms_users", "lms_enrollments", "lms_assignments", "lms_submissions")


def lms_truth(tables: Mapping[str, pa.Table], seed: int, numbering: Numbering | None = None) -> dict[str, pa.Table]:
    """The LMS truth tables of a generated district (`tables`: the truth tables by name;
    `numbering`: where the LMS ids carry on, in a district drawn in parts)."""
    from interop_pipeline.simulators.district import Numbering

    numbering = numbering if numbering is not None else Numbering()
    rng = np.random.default_rng([seed, LMS_STREAM])
    district_code = tables["schools"]["district_code"][0].as_py()
    days = np.sort(
        tables["calendar"].filter(tables["calendar"]["is_instructional"])["calendar_date"].to_numpy()
    ).astype("datetime64[D]")
    as_of = (days[-1] + 1).astype("datetime64[s]") - np.timedelta64(1, "s")
    courses = _courses(rng, tables, district_code, days, numbering)
    users = _users(tables, courses, district_code)
    enrollments = _enrollments(tables, courses, users, district_code, days, numbering)
    assignments = _assignments(rng, courses, days, numbering)
    submissions = _submissions(rng, courses, enrollments, assignments, as_of, numbering)
    enrollments = _with_grades(enrollments, submissions, assignments)
    return {
        "lms_courses": courses,
        "lms_users": users,
        "lms_enrollments": enrollments,
        "lms_assignments": _with_district(assignments, district_code),
        "lms_submissions": _with_district(submissions, district_code),
    }


def _col(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False)


def _with_district(table: pa.Table, district_code: str) -> pa.Table:
    return table.add_column(0, "district_code", pa.array([district_code] * table.num_rows, pa.string()))


def _lookup(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of `values` in `keys` (-1 when absent)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    position = np.minimum(np.searchsorted(sorted_keys, values), len(keys) - 1)
    found = sorted_keys[position] == values if len(keys) else np.zeros(len(values), bool)
    return np.where(found, order[position], -1)


def _numbered(prefix: str, numbers: np.ndarray) -> np.ndarray:
    return np.char.add(prefix, numbers.astype(str)).astype(object)


def _sequential(base: int, first: int, n: int) -> np.ndarray:
    """Canvas's ids: sequential integers from base, carrying on from `first`."""
    return (base + first + np.arange(n)).astype(str)


def _courses(
    rng: np.random.Generator, tables: Mapping[str, pa.Table], district_code: str, days: np.ndarray, numbering: Numbering
) -> pa.Table:
    """One LMS course per section; Canvas ids are sequential integers, Google's long numbers."""
    from interop_pipeline.simulators.district import unique_numbers

    sections = tables["sections"]
    schools = tables["schools"]
    school_level = _col(schools, "level")[_lookup(_col(schools, "sourced_id"), _col(sections, "school_sourced_id"))]
    lms = np.array([LMS_BY_LEVEL[level] for level in school_level], dtype=object)
    n = sections.num_rows
    canvas = lms == "canvas"
    course_id = np.empty(n, dtype=object)
    n_canvas, n_google = int(canvas.sum()), int((~canvas).sum())
    course_id[canvas] = _sequential(1_000, numbering.take("canvas_courses", n_canvas), n_canvas)
    first = numbering.take("google_courses", n_google)
    course_id[~canvas] = unique_numbers(n_google, 100_000_000_000, 999_999_999_999, 77, first).astype(str)
    # Teachers set their course up in the week before school starts.
    created = (days[0] - rng.integers(2, 8, n)).astype("datetime64[s]") + rng.integers(8 * 3600, 17 * 3600, n)
    return pa.table(
        {
            "district_code": pa.array([district_code] * n, pa.string()),
            "lms": pa.array(lms, pa.string()),
            "lms_course_id": pa.array(course_id, pa.string()),
            "section_sourced_id": sections["sourced_id"],
            "course_sourced_id": sections["course_sourced_id"],
            "school_sourced_id": sections["school_sourced_id"],
            "name": sections["title"],
            "course_code": sections["class_code"],
            "period": sections["period"],
            "teacher_person_id": sections["teacher_person_id"],
            "created_at": pa.array(created, pa.timestamp("s", "UTC")),
            "start_at": pa.array(np.full(n, days[0]).astype("datetime64[s]"), pa.timestamp("s", "UTC")),
            "end_at": pa.array(np.full(n, days[-1]).astype("datetime64[s]"), pa.timestamp("s", "UTC")),
        }
    )


def _users(tables: Mapping[str, pa.Table], courses: pa.Table, district_code: str) -> pa.Table:
    """Each LMS's accounts: its record of every student enrolled in one of its courses and of
    every staff member of one of its schools."""
    enrollments = tables["section_enrollments"]
    course_of = _lookup(_col(courses, "section_sourced_id"), _col(enrollments, "section_sourced_id"))
    lms_of_enrollment = _col(courses, "lms")[course_of]
    course_lms = _col(courses, "lms")
    parts = []
    for lms in ("canvas", "google_classroom"):
        enrolled = np.unique(_col(enrollments, "person_id")[lms_of_enrollment == lms].astype(str))
        schools = np.unique(_col(courses, "school_sourced_id")[course_lms == lms].astype(str))
        for role, table in (("student", tables["system_students"]), ("staff", tables["system_staff"])):
            mine = table.filter(pc.equal(table["system"], lms))
            people = _col(mine, "person_id").astype(str)
            keep = (
                np.isin(people, enrolled)
                if role == "student"
                else np.isin(_col(mine, "school_sourced_id").astype(str), schools)
            )
            mine = mine.filter(pa.array(keep))
            n = mine.num_rows
            parts.append(
                pa.table(
                    {
                        "district_code": pa.array([district_code] * n, pa.string()),
                        "lms": pa.array([lms] * n, pa.string()),
                        "lms_user_id": mine["system_person_id"],
                        "person_id": mine["person_id"],
                        "role": pa.array([role] * n, pa.string()),
                        "sis_user_id": mine["sis_id"],
                        "login_id": mine["login_id"],
                        "email": mine["email"],
                        "first_name": mine["first_name"],
                        "last_name": mine["last_name"],
                    }
                )
            )
    return pa.concat_tables(parts)


def _enrollments(
    tables: Mapping[str, pa.Table],
    courses: pa.Table,
    users: pa.Table,
    district_code: str,
    days: np.ndarray,
    numbering: Numbering,
) -> pa.Table:
    """Teacher and student enrolments of each LMS course. A student who left the section has a
    deleted enrolment (the SIS sync removes it); one the LMS has no account for has none."""
    user_key = np.char.add(np.char.add(_col(users, "lms").astype(str), "|"), _col(users, "person_id").astype(str))
    course_key = _col(courses, "section_sourced_id")
    course_lms = _col(courses, "lms").astype(str)

    section_enrollments = tables["section_enrollments"]
    s_course = _lookup(course_key, _col(section_enrollments, "section_sourced_id"))
    s_user = _lookup(
        user_key,
        np.char.add(np.char.add(course_lms[s_course], "|"), _col(section_enrollments, "person_id").astype(str)),
    )
    begin = _col(section_enrollments, "begin_date").astype("datetime64[D]")
    end = section_enrollments["end_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")

    t_course = np.arange(courses.num_rows)
    t_user = _lookup(
        user_key, np.char.add(np.char.add(course_lms, "|"), _col(courses, "teacher_person_id").astype(str))
    )
    keep_s, keep_t = s_user >= 0, t_user >= 0
    course = np.concatenate([t_course[keep_t], s_course[keep_s]])
    user = np.concatenate([t_user[keep_t], s_user[keep_s]])
    role = np.concatenate([np.full(int(keep_t.sum()), "teacher"), np.full(int(keep_s.sum()), "student")])
    begin = np.concatenate([np.full(int(keep_t.sum()), days[0]), begin[keep_s]])
    end = np.concatenate([np.full(int(keep_t.sum()), np.datetime64("NaT", "D")), end[keep_s]])
    order = np.lexsort((_col(users, "lms_user_id")[user].astype(str), role != "teacher", course))
    course, user, role, begin, end = course[order], user[order], role[order], begin[order], end[order]
    lms = course_lms[course]
    enrollment_id = np.empty(len(course), dtype=object)
    canvas = lms == "canvas"
    n_canvas = int(canvas.sum())
    enrollment_id[canvas] = _sequential(50_000, numbering.take("canvas_enrollments", n_canvas), n_canvas)
    enrollment_id[~canvas] = np.char.add(
        np.char.add(_col(courses, "lms_course_id")[course[~canvas]].astype(str), ":"),
        _col(users, "lms_user_id")[user[~canvas]].astype(str),
    )
    n = len(course)
    return pa.table(
        {
            "district_code": pa.array([district_code] * n, pa.string()),
            "lms": pa.array(lms, pa.string()),
            "lms_enrollment_id": pa.array(enrollment_id, pa.string()),
            "lms_course_id": courses["lms_course_id"].take(pa.array(course)),
            "section_sourced_id": courses["section_sourced_id"].take(pa.array(course)),
            "lms_user_id": users["lms_user_id"].take(pa.array(user)),
            "person_id": users["person_id"].take(pa.array(user)),
            "role": pa.array(role, pa.string()),
            "state": pa.array(np.where(np.isnat(end), "active", "deleted"), pa.string()),
            "begin_date": pa.array(begin, pa.date32()),
            "end_date": pa.array(end, pa.date32(), mask=np.isnat(end)),
        }
    )


def _assignments(rng: np.random.Generator, courses: pa.Table, days: np.ndarray, numbering: Numbering) -> pa.Table:
    """A run of assignments per course, spread through the year, due at the end of a school day."""
    from interop_pipeline.simulators.district import unique_numbers

    lms = _col(courses, "lms").astype(str)
    per_course = np.array([ASSIGNMENTS_PER_COURSE[x] for x in lms])
    course = np.repeat(np.arange(courses.num_rows), per_course)
    number = np.arange(len(course)) - np.repeat(np.cumsum(per_course) - per_course, per_course)
    share = (number + 0.5) / per_course[course] + rng.uniform(-0.03, 0.03, len(course))
    day = days[np.clip((share * len(days)).astype(int), 0, len(days) - 1)]
    due = day.astype("datetime64[s]") + np.timedelta64(23 * 3600 + 59 * 60, "s")
    created = due - np.timedelta64(7, "D") - rng.integers(0, 48, len(course)) * np.timedelta64(3600, "s")
    kind = ASSIGNMENT_KINDS[number % len(ASSIGNMENT_KINDS)]
    title = np.char.add(np.char.add(kind, " "), (number + 1).astype(str))
    canvas = lms[course] == "canvas"
    assignment_id = np.empty(len(course), dtype=object)
    n_canvas, n_google = int(canvas.sum()), int((~canvas).sum())
    assignment_id[canvas] = _sequential(200_000, numbering.take("canvas_assignments", n_canvas), n_canvas)
    first = numbering.take("google_assignments", n_google)
    assignment_id[~canvas] = unique_numbers(n_google, 100_000_000_000, 999_999_999_999, 78, first).astype(str)
    return pa.table(
        {
            "lms": pa.array(lms[course], pa.string()),
            "lms_assignment_id": pa.array(assignment_id, pa.string()),
            "lms_course_id": courses["lms_course_id"].take(pa.array(course)),
            "position": pa.array(number + 1, pa.int32()),
            "title": pa.array(title, pa.string()),
            "points_possible": pa.array(POINTS[rng.integers(0, len(POINTS), len(course))]),
            "created_at": pa.array(created, pa.timestamp("s", "UTC")),
            "due_at": pa.array(due, pa.timestamp("s", "UTC")),
        }
    )


def _submissions(
    rng: np.random.Generator,
    courses: pa.Table,
    enrollments: pa.Table,
    assignments: pa.Table,
    as_of: np.datetime64,
    numbering: Numbering,
) -> pa.Table:
    """One submission per student enrolment per assignment due while the student was in the
    section: missing, late or on time; most graded within a week."""
    role = _col(enrollments, "role").astype(str)
    students = np.flatnonzero(role == "student")
    # Assignments come in course order; find each enrolment's run of them by course position.
    course_ids = _col(courses, "lms_course_id").astype(str)
    a_course = _lookup(course_ids, _col(assignments, "lms_course_id").astype(str))
    e_course = _lookup(course_ids, _col(enrollments, "lms_course_id").astype(str)[students])
    a_start = np.searchsorted(a_course, e_course, side="left")
    counts = np.searchsorted(a_course, e_course, side="right") - a_start
    enrollment = np.repeat(students, counts)
    assignment = np.repeat(a_start, counts) + (np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts))
    due = _col(assignments, "due_at").astype("datetime64[s]")[assignment]
    begin = _col(enrollments, "begin_date").astype("datetime64[D]")[enrollment].astype("datetime64[s]")
    end = enrollments["end_date"].to_numpy(zero_copy_only=False).astype("datetime64[D]")[enrollment]
    end_s = np.where(np.isnat(end), as_of, end.astype("datetime64[s]") + np.timedelta64(86_399, "s"))
    within = (due >= begin) & (due <= end_s)
    enrollment, assignment, due = enrollment[within], assignment[within], due[within]
    n = len(enrollment)

    # A student's habits hold across their courses: one propensity per person.
    person = _col(enrollments, "person_id").astype(str)
    _, person_index = np.unique(person, return_inverse=True)
    propensity = rng.standard_normal(person_index.max() + 1 if len(person_index) else 0)[person_index[enrollment]]
    missing = rng.random(n) < MISSING_RATE * np.exp(0.8 * -propensity) / np.exp(0.32)
    late = ~missing & (rng.random(n) < LATE_RATE * np.exp(0.5 * -propensity) / np.exp(0.125))
    hour = np.timedelta64(3600, "s")
    submitted = np.where(
        late,
        due + rng.integers(1, 96, n) * hour,
        due - rng.integers(1, 72, n) * hour,
    )
    submitted = np.minimum(submitted, as_of)
    graded = ~missing & (rng.random(n) < GRADED_RATE)
    graded_at = np.minimum(submitted + rng.integers(4, 168, n) * hour, as_of)
    points = _col(assignments, "points_possible")[assignment]
    fraction = np.clip(MEAN_SCORE + 0.1 * propensity + rng.normal(0, 0.08, n) - 0.1 * late, 0, 1)
    score = np.round(points * fraction * 2) / 2
    seconds_late = np.where(late, (submitted - due).astype(np.int64), 0)
    state = np.where(missing, "unsubmitted", np.where(graded, "graded", "submitted"))
    lms = _col(enrollments, "lms").astype(str)[enrollment]
    canvas = lms == "canvas"
    submission_id = np.empty(n, dtype=object)
    n_canvas = int(canvas.sum())
    submission_id[canvas] = _sequential(3_000_000, numbering.take("canvas_submissions", n_canvas), n_canvas)
    google = numbering.take("google_submissions", n) + np.flatnonzero(~canvas)
    submission_id[~canvas] = np.char.add("Cg4I", (1_000_000_000 + google).astype(str))
    no_time = np.datetime64("NaT", "s")
    return pa.table(
        {
            "lms": pa.array(lms, pa.string()),
            "lms_submission_id": pa.array(submission_id, pa.string()),
            "lms_assignment_id": assignments["lms_assignment_id"].take(pa.array(assignment)),
            "lms_course_id": assignments["lms_course_id"].take(pa.array(assignment)),
            "lms_enrollment_id": enrollments["lms_enrollment_id"].take(pa.array(enrollment)),
            "lms_user_id": enrollments["lms_user_id"].take(pa.array(enrollment)),
            "person_id": enrollments["person_id"].take(pa.array(enrollment)),
            "state": pa.array(state, pa.string()),
            "submitted_at": pa.array(np.where(missing, no_time, submitted), pa.timestamp("s", "UTC")),
            "graded_at": pa.array(np.where(graded, graded_at, no_time), pa.timestamp("s", "UTC")),
            "score": pa.array(score, pa.float64(), mask=~graded),
            "points_possible": pa.array(points, pa.float64()),
            "late": pa.array(late),
            "missing": pa.array(missing),
            "seconds_late": pa.array(seconds_late, pa.int64()),
        }
    )


def letter_grade(scores: np.ndarray) -> np.ndarray:
    """Letters of the default grading scheme; None where there is no score."""
    out = np.full(len(scores), None, dtype=object)
    has = ~np.isnan(scores)
    for minimum, letter in reversed(GRADING_SCHEME):
        out[has & (scores >= minimum)] = letter
    return out


def _with_grades(enrollments: pa.Table, submissions: pa.Table, assignments: pa.Table) -> pa.Table:
    """Per student enrolment, as Canvas shows them: current score over graded work only, final
    score counting ungraded and missing work as zero."""
    index = _lookup(
        _col(enrollments, "lms_enrollment_id").astype(str), _col(submissions, "lms_enrollment_id").astype(str)
    )
    n = enrollments.num_rows
    graded = _col(submissions, "state").astype(str) == "graded"
    score = np.nan_to_num(submissions["score"].to_numpy(zero_copy_only=False).astype(float))
    points = _col(submissions, "points_possible").astype(float)
    earned = np.bincount(index, weights=score, minlength=n)
    graded_points = np.bincount(index, weights=np.where(graded, points, 0), minlength=n)
    all_points = np.bincount(index, weights=points, minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        current = np.round(100 * earned / graded_points, 2)
        final = np.round(100 * earned / all_points, 2)
    is_student = _col(enrollments, "role").astype(str) == "student"
    current[~is_student | (graded_points == 0)] = np.nan
    final[~is_student | (all_points == 0)] = np.nan
    return (
        enrollments.append_column("current_score", pa.array(current, mask=np.isnan(current)))
        .append_column("current_grade", pa.array(letter_grade(current), pa.string()))
        .append_column("final_score", pa.array(final, mask=np.isnan(final)))
        .append_column("final_grade", pa.array(letter_grade(final), pa.string()))
    )


# -- serving helpers shared by the Canvas and Google Classroom simulators ------------------------
def epoch_seconds(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A timestamp column as int64 seconds since 1970, -1 where null (compact for millions of rows)."""
    values = pc.cast(column, pa.timestamp("s", "UTC")).cast(pa.int64())
    return pc.fill_null(values, -1).to_numpy(zero_copy_only=False).astype(np.int64)


def object_column(table: pa.Table, name: str) -> np.ndarray:
    """A column as a numpy object array (strings and nulls as Python values)."""
    return table[name].to_numpy(zero_copy_only=False).astype(object)


def int_column(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False).astype(np.int64)


def rows_in_lms(table: pa.Table, lms: str) -> pa.Table:
    """The rows of an LMS truth table that live in one LMS (canvas or google_classroom)."""
    return table.filter(pc.equal(table["lms"], lms))


class KeyedRows:
    """Rows of one entity held as numpy columns, grouped (per course, or one group) and ordered
    by key within a group, so a page is "the next `size` rows after key k": keyset paging, which
    an insertion or an update between pages cannot shift. Rows are rendered to JSON one page at
    a time, never all at once."""

    def __init__(self, columns: dict[str, np.ndarray], *, key: str, group: str | None = None):
        self.columns = columns
        self.key, self.group = key, group
        self._reindex()

    def __len__(self) -> int:
        return len(self.columns[self.key])

    def _reindex(self) -> None:
        keys = self.columns[self.key]
        groups = self.columns[self.group] if self.group else np.zeros(len(keys), dtype=np.int64)
        order = np.lexsort((keys, groups))
        sorted_groups = groups[order]
        bounds = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1], True]) if len(order) else []
        self._groups: dict = {}
        for start, end in zip(bounds[:-1], bounds[1:], strict=False):
            positions = order[start:end]
            self._groups[sorted_groups[start].item()] = (positions, keys[positions])
        self._position = {k.item() if hasattr(k, "item") else k: i for i, k in enumerate(keys)}

    def groups(self) -> list:
        return list(self._groups)

    def position(self, key) -> int:
        return self._position[key]

    def append(self, rows: dict[str, np.ndarray]) -> None:
        for name in self.columns:
            self.columns[name] = np.concatenate(
                [self.columns[name], np.asarray(rows[name], dtype=self.columns[name].dtype)]
            )
        self._reindex()

    def page(self, group, after, size: int, keep=None) -> tuple[np.ndarray, bool]:
        """Positions of the next `size` rows of `group` after key `after` for which
        `keep(positions) -> bool mask` holds, and whether more follow."""
        positions, keys = self._groups.get(group if self.group else 0, (np.array([], np.int64), np.array([])))
        start = int(np.searchsorted(keys, after, side="right")) if after is not None else 0
        taken: list[np.ndarray] = []
        count, chunk = 0, max(size * 2, 64)
        while start < len(positions):
            window = positions[start : start + chunk]
            if keep is not None:
                window = window[keep(window)]
            taken.append(window)
            count += len(window)
            start += chunk
            if count > size:
                break
        found = np.concatenate(taken) if taken else np.array([], np.int64)
        return found[:size], len(found) > size
