"""The slice of the warehouse one recipient may receive, read once, read-only.

The agreement is enforced here, in the SQL that reads the warehouse: rows outside the schools and
grades in scope are never selected, and columns of a field group the agreement does not allow are
never read, so no writer downstream can leak them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from interop_pipeline.config import RecipientSettings

Row = dict[str, Any]

# Columns each field group unlocks, per warehouse table. Columns not listed are the base roster
# (keys, school, grade, dates, section data) every recipient gets.
STUDENT_FIELDS: dict[str, tuple[str, ...]] = {
    "names": ("first_name", "middle_name", "last_name"),
    "identifiers": ("local_student_id", "state_student_id", "username"),
    "emails": ("email",),
    "birth_date": ("birth_date",),
    "demographics": (
        "sex_code",
        "sex_descriptor",
        "hispanic_or_latino",
        "race_american_indian_or_alaska_native",
        "race_asian",
        "race_black_or_african_american",
        "race_native_hawaiian_or_pacific_islander",
        "race_white",
        "race_ethnicity_code",
    ),
    "programs": (
        "is_english_learner",
        "has_idea_services",
        "has_section_504_plan",
        "is_economically_disadvantaged",
        "is_homeless",
    ),
}
STUDENT_BASE = ("student_key", "grade_level", "grade_level_descriptor", "current_school_key", "is_enabled")
STAFF_FIELDS: dict[str, tuple[str, ...]] = {
    "names": ("first_name", "middle_name", "last_name"),
    "identifiers": ("local_staff_id", "username"),
    "emails": ("email",),
}
STAFF_BASE = ("staff_key", "staff_role", "primary_school_key", "is_enabled")


def allowed_columns(base: tuple[str, ...], groups: dict[str, tuple[str, ...]], allowed: Iterable[str]) -> list[str]:
    allowed = set(allowed)
    return [*base, *(c for group, cols in groups.items() if group in allowed for c in cols)]


@dataclass
class Roster:
    """Rows in scope, by warehouse table; person tables hold only the allowed columns. A course
    without a school (`school_key` NULL: the district's, see dim_course) is published as the
    district's."""

    district: Row
    school_year: int
    schools: list[Row]
    sessions: list[Row]
    courses: list[Row]
    sections: list[Row]
    students: list[Row]
    staff: list[Row]
    school_enrollments: list[Row]
    section_enrollments: list[Row]
    staff_assignments: list[Row]
    fields: frozenset[str] = field(default_factory=frozenset)


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Row]:
    cursor = con.execute(sql, params or [])
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _scope_views(con: duckdb.DuckDBPyConnection, recipient: RecipientSettings) -> None:
    """Temporary views naming what is in scope; the read-only warehouse is never written."""
    # The agreement's lists reach SQL as registered tables, never as SQL text.
    con.register(
        "agreement_schools",
        pa.table({"id": pa.array(recipient.schools if recipient.schools != "all" else [], pa.string())}),
    )
    con.register("agreement_grades", pa.table({"grade": pa.array(recipient.grades or [], pa.string())}))
    schools = (
        "true"
        if recipient.schools == "all"
        else (
            "(sis_school_id in (select id from agreement_schools)"
            " or state_school_id in (select id from agreement_schools))"
        )
    )
    con.execute(f"create or replace temp view scope_schools as select school_key from main.dim_school where {schools}")
    grades = "true" if recipient.grades is None else "s.grade_level in (select grade from agreement_grades)"
    con.execute(
        f"""
        create or replace temp view scope_students as
        select s.student_key from main.dim_student as s
        where {grades}
          and exists (
            select 1 from main.fct_school_enrollment as e
            where e.student_key = s.student_key and e.school_key in (select school_key from scope_schools)
          )
        """
    )
    # Courses: the schools' own, and every course a class in scope references, which may be the
    # district's (a district course catalog has no school); a recipient of every school gets the
    # whole catalog.
    district_catalog = (
        "union select course_key from main.dim_course where school_key is null" if recipient.schools == "all" else ""
    )
    con.execute(
        f"""
        create or replace temp view scope_courses as
        select course_key from main.dim_course where school_key in (select school_key from scope_schools)
        union
        select course_key from main.dim_section
        where school_key in (select school_key from scope_schools) and course_key is not null
        {district_catalog}
        """
    )
    con.execute(
        """
        create or replace temp view scope_staff as
        select staff_key from main.dim_staff where primary_school_key in (select school_key from scope_schools)
        union
        select a.staff_key from main.fct_staff_section_assignment as a
        where a.school_key in (select school_key from scope_schools)
        """
    )


def load_roster(con: duckdb.DuckDBPyConnection, recipient: RecipientSettings) -> Roster:
    """Everything a roster extract for `recipient` may hold, from an open (read-only) warehouse."""
    if recipient.schools != "all":
        known = {r[0] for r in con.execute("select sis_school_id from main.dim_school").fetchall()}
        known |= {r[0] for r in con.execute("select state_school_id from main.dim_school").fetchall()}
        unknown = sorted(set(recipient.schools) - known)
        if unknown:
            raise ValueError(f"schools in the agreement not in the warehouse: {unknown}")
    _scope_views(con, recipient)
    student_cols = ", ".join(allowed_columns(STUDENT_BASE, STUDENT_FIELDS, recipient.fields))
    staff_cols = ", ".join(allowed_columns(STAFF_BASE, STAFF_FIELDS, recipient.fields))
    in_schools = "school_key in (select school_key from scope_schools)"
    district = _rows(con, "select district_key, district_name, lea_id from main.dim_district")[0]
    sessions = _rows(con, "select * exclude (source_ref) from main.dim_session order by start_date, session_key")
    return Roster(
        district=district,
        school_year=max((s["school_year"] for s in sessions if s["school_year"] is not None), default=0),
        schools=_rows(
            con,
            f"select school_key, sis_school_id, state_school_id, school_name from main.dim_school "
            f"where {in_schools} order by school_key",
        ),
        sessions=sessions,
        courses=_rows(
            con,
            "select * exclude (source_ref) from main.dim_course "
            "where course_key in (select course_key from scope_courses) order by 1",
        ),
        sections=_rows(con, f"select * exclude (source_ref) from main.dim_section where {in_schools} order by 1"),
        students=_rows(
            con,
            f"select {student_cols} from main.dim_student "
            "where student_key in (select student_key from scope_students) order by student_key",
        ),
        staff=_rows(
            con,
            f"select {staff_cols} from main.dim_staff "
            "where staff_key in (select staff_key from scope_staff) order by staff_key",
        ),
        school_enrollments=_rows(
            con,
            "select school_enrollment_key, student_key, school_key, entry_date, exit_date, is_current "
            f"from main.fct_school_enrollment where {in_schools} "
            "and student_key in (select student_key from scope_students) order by 1",
        ),
        section_enrollments=_rows(
            con,
            "select section_enrollment_key, student_key, section_key, school_key, begin_date, end_date "
            f"from main.fct_section_enrollment where {in_schools} "
            "and student_key in (select student_key from scope_students) order by 1",
        ),
        staff_assignments=_rows(
            con,
            "select staff_section_assignment_key, staff_key, section_key, school_key, classroom_role, is_primary, "
            f"begin_date, end_date from main.fct_staff_section_assignment where {in_schools} "
            "and staff_key in (select staff_key from scope_staff) order by 1",
        ),
        fields=frozenset(recipient.fields),
    )


def limited_memory(spill_to: Path | None = None) -> dict[str, str]:
    """DuckDB settings for the pipeline's own warehouse connections: the memory dbt's connection
    is told (dbt_project/profiles.yml, INTEROP_DUCKDB_MEMORY_LIMIT), past which DuckDB spills to
    disk instead of taking 80% of the machine (counting a million-student release's views took
    13.6 GB without it)."""
    settings = {"memory_limit": os.environ.get("INTEROP_DUCKDB_MEMORY_LIMIT", "4GB")}
    return settings | ({"temp_directory": str(spill_to)} if spill_to else {})


def open_warehouse(path: str) -> duckdb.DuckDBPyConnection:
    """Read-only: publishing never writes the warehouse (temp views live in memory)."""
    return duckdb.connect(path, read_only=True, config=limited_memory())
