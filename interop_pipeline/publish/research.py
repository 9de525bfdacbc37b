"""Research extracts: person-level rows under pseudonymous keys, and small-cell-suppressed
aggregates.

- Person keys are HMAC-SHA256 under a secret held in the environment variable the recipient's
  config names, over (recipient, district, warehouse student key): stable for a recipient across
  runs, different between recipients (two researchers cannot join their files), and not
  reversible without the secret. No name, email, student number or sourcedId is written.
- Birth dates are coarsened to the year or to an age band at the start of the school year.
- No one is singled out by what others know of them: the agreement's quasi-identifiers (by
  default every one the file carries: age band, grade, school, sex, race, program flags) are
  generalized and small groups suppressed until each combination holds `privacy.min_group_size`
  students (publish/anonymity.py); what was generalized and how many records were left out go to
  about.json and the audit log, and a blocking check reads the written file back and measures k.
- Aggregates are the rows of mart_chronic_absenteeism, whose cells the issue-6 dbt macro
  `suppress_small_cells` (dbt_project/macros/suppression.sql) already suppressed, with their
  complements; this module adds no suppression of its own, and its check proves no published
  cell is below business_rules.suppression_min_n.
"""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import os
import zipfile
from collections import Counter
from datetime import date, datetime
from typing import Any, get_args

import duckdb

from interop_pipeline.config import DistrictConfig, QuasiIdentifier, RecipientSettings
from interop_pipeline.publish.anonymity import ANY, AnonymityReport, Level, anonymize, failing_groups
from interop_pipeline.publish.audit import AuditEntry, sha256_of
from interop_pipeline.publish.roster import Row, _rows, _scope_views, allowed_columns

AGE_BANDS = ((0, 5, "under 6"), (6, 8, "6-8"), (9, 11, "9-11"), (12, 14, "12-14"), (15, 17, "15-17"), (18, 200, "18+"))
DIRECT_IDENTIFIERS = frozenset(
    {
        "first_name",
        "middle_name",
        "last_name",
        "email",
        "username",
        "local_student_id",
        "state_student_id",
        "sis_student_id",
        "birth_date",
        "student_key",
        "sourcedId",
    }
)
_DEMOGRAPHICS = ("sex_code", "race_ethnicity_code")
_PROGRAMS = (
    "is_english_learner",
    "has_idea_services",
    "has_section_504_plan",
    "is_economically_disadvantaged",
    "is_homeless",
)


class MissingSecret(RuntimeError):
    """The HMAC secret's environment variable is not set (its value is never shown)."""


def hmac_secret(settings: RecipientSettings) -> bytes:
    assert settings.hmac_secret_env
    value = os.environ.get(settings.hmac_secret_env)
    if not value:
        raise MissingSecret(f"environment variable {settings.hmac_secret_env} (research HMAC secret) is not set")
    return value.encode("utf-8")


def person_key(secret: bytes, recipient: str, district_code: str, student_key: str) -> str:
    message = f"{recipient}\x1f{district_code}\x1f{student_key}".encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def age_band(birth: date, on: date) -> str:
    age = on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
    return next(label for low, high, label in AGE_BANDS if low <= age <= high)


def research_students(
    con: duckdb.DuckDBPyConnection, config: DistrictConfig, name: str, settings: RecipientSettings
) -> list[Row]:
    secret = hmac_secret(settings)
    _scope_views(con, settings)
    groups = {"demographics": _DEMOGRAPHICS, "programs": _PROGRAMS}
    columns = allowed_columns(("student_key", "grade_level", "birth_date"), groups, settings.fields)
    select = ", ".join(f"s.{c}" for c in columns)
    attendance = "attendance" in settings.fields
    sql = (
        f"select {select}, sc.state_school_id as school_id"
        + (", a.days_enrolled, a.days_absent, a.attendance_rate, a.is_chronically_absent" if attendance else "")
        + " from main.dim_student as s left join main.dim_school as sc on sc.school_key = s.current_school_key"
        + (
            " left join main.mart_student_attendance as a on a.student_key = s.student_key"
            " and a.reporting_level = 'district' and a.definition_name = ?"
            if attendance
            else ""
        )
        + " where s.student_key in (select student_key from scope_students) order by s.student_key"
    )
    params = [config.business_rules.chronic_absence[0].name] if attendance else []
    year_start = config.school_year.start
    out = []
    for row in _rows(con, sql, params):
        student_key, birth = row.pop("student_key"), row.pop("birth_date")
        coarse: dict[str, Any] = {}
        if "birth_date" in settings.fields:
            # The column is there for every student, empty when the birth date is unknown.
            if settings.birth_date_precision == "year":
                coarse["birth_year"] = birth.year if birth is not None else None
            else:
                coarse["age_band"] = age_band(birth, year_start) if birth is not None else None
        out.append({"person_key": person_key(secret, name, config.district.code, student_key), **coarse, **row})
    return out


_EARLY_GRADES = ("IT", "PR", "PK", "TK", "KG")
_GRADE_BANDS = ((0, 2, "PK-02"), (3, 5, "03-05"), (6, 8, "06-08"), (9, 12, "09-12"))
_RACES_KEPT = frozenset({"White", "HispanicOrLatino", "BlackOrAfricanAmerican", "Asian"})


def _grade_number(code: str | None) -> int | None:
    if code in _EARLY_GRADES:
        return 0
    return int(code) if code and code.isdigit() else None


def grade_band(code: str | None) -> str:
    number = _grade_number(code)
    return next((label for low, high, label in _GRADE_BANDS if number is not None and low <= number <= high), "other")


def school_levels(rows: list[Row]) -> dict[Any, str]:
    """Each school's level from the grades of its students in the file."""
    grades: dict[Any, list[int]] = {}
    for row in rows:
        number = _grade_number(row.get("grade_level"))
        if number is not None:
            grades.setdefault(row.get("school_id"), []).append(number)
    levels = {}
    for school, seen in grades.items():
        low, high = min(seen), max(seen)
        levels[school] = (
            "elementary" if high <= 5 else "middle" if low >= 6 and high <= 8 else "high" if low >= 9 else "combined"
        )
    return levels


def generalization_ladders(rows: list[Row], quasi: list[str]) -> dict[str, list[Level]]:
    """Each quasi-identifier's levels above its own values, lowest first; the top withholds it."""
    withheld = Level("withheld", lambda _: ANY)
    by_school = school_levels(rows)
    ladders = {
        "grade_level": [Level("grade band", grade_band), withheld],
        "school_id": [Level("school level", lambda s: by_school.get(s, "unknown")), withheld],
        "race_ethnicity_code": [
            Level("four largest groups and other", lambda r: r if r in _RACES_KEPT or r is None else "Other"),
            withheld,
        ],
    }
    return {q: ladders.get(q, [withheld]) for q in quasi}


def quasi_identifiers_of(rows: list[Row], settings: RecipientSettings) -> list[str]:
    carried = [q for q in get_args(QuasiIdentifier) if rows and q in rows[0]]
    wanted = settings.privacy.quasi_identifiers
    return carried if wanted is None else [q for q in carried if q in wanted]


def anonymize_students(rows: list[Row], settings: RecipientSettings) -> tuple[list[Row], AnonymityReport]:
    privacy = settings.privacy
    quasi = quasi_identifiers_of(rows, settings)
    return anonymize(
        rows,
        generalization_ladders(rows, quasi),
        privacy.min_group_size,
        privacy.max_suppressed_share,
        privacy.sensitive_measure,
        privacy.l_diversity,
    )


def research_aggregates(con: duckdb.DuckDBPyConnection, settings: RecipientSettings) -> list[Row]:
    """Chronic-absence cells of the schools in scope (the district's when every school is)."""
    _scope_views(con, settings)
    subgroups = ["all"] + [
        g for g, f in (("race_ethnicity", "demographics"), ("program", "programs")) if f in settings.fields
    ]
    district = "or m.reporting_level = 'district'" if settings.schools == "all" and settings.grades is None else ""
    return _rows(
        con,
        f"""
        select m.definition_name, m.reporting_level, sc.state_school_id as school_id, m.grade_level,
               m.subgroup_type, m.subgroup, m.through_date, m.is_suppressed, m.suppression_reason,
               m.students_measured, m.students_chronically_absent, m.chronic_absenteeism_rate
        from main.mart_chronic_absenteeism as m
        left join main.dim_school as sc on sc.school_key = m.school_key
        where m.subgroup_type in (select unnest(?))
          and (m.school_key in (select school_key from scope_schools) {district})
          and (? or m.grade_level in (select unnest(?)) or m.grade_level is null)
        order by all
        """,
        [subgroups, settings.grades is None, settings.grades or []],
    )


def _csv(rows: list[Row]) -> bytes:
    if not rows:
        return b""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    return out.getvalue().encode("utf-8")


def stage_research(
    config: DistrictConfig, name: str, settings: RecipientSettings, con: duckdb.DuckDBPyConnection, moment: datetime
):
    from interop_pipeline.publish.deliver import StagedExtract, unless_unchanged, work_file

    students, anonymity = anonymize_students(research_students(con, config, name, settings), settings)
    aggregates = research_aggregates(con, settings)
    folder = config.delivery_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}_research_{moment:%Y%m%dT%H%M%S}Z.zip"
    temporary = work_file(config.data_dir, name, final)
    about = {
        "recipient": name,
        "generated_at": moment.isoformat(),
        "person_key": "HMAC-SHA256 under this recipient's secret; stable for this recipient only",
        "birth_date": settings.birth_date_precision if "birth_date" in settings.fields else "not included",
        "suppression_min_n": config.business_rules.suppression_min_n,
        "k_anonymity": anonymity.as_dict(),
    }
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("students.csv", _csv(students))
        zf.writestr("chronic_absenteeism.csv", _csv(aggregates))
        zf.writestr("about.json", json.dumps(about, indent=2))
    digest = sha256_of(temporary)
    staged = StagedExtract(
        recipient=name,
        settings=settings,
        data_dir=config.data_dir,
        mode="bulk",
        moment=moment,
        destination=str(final),
        staged=[(temporary, final)],
        entries=[
            AuditEntry("students.csv", len(students), digest),
            AuditEntry("chronic_absenteeism.csv", len(aggregates), digest),
            # what the privacy rules did, as outcome counts
            AuditEntry("students.csv:suppressed", anonymity.suppressed),
            *(
                AuditEntry(f"students.csv:generalized:{column}:{level}", anonymity.records_generalized.get(column, 0))
                for column, level in anonymity.generalized.items()
            ),
        ],
        metadata={
            "rows": {"students.csv": len(students), "chronic_absenteeism.csv": len(aggregates)},
            "k_anonymity": anonymity.as_dict(),
        },
    )
    staged.checks = [
        _no_identifiers_check(students),
        k_anonymity_check(temporary, anonymity),
        _suppression_check(aggregates, config.business_rules.suppression_min_n),
    ]
    return unless_unchanged(staged, temporary, made_at_member="about.json")


def _no_identifiers_check(students: list[Row]):
    from interop_pipeline.publish.deliver import CheckOutcome

    found = sorted(DIRECT_IDENTIFIERS & set(students[0])) if students else []
    return CheckOutcome(
        "no_direct_identifiers",
        not found,
        "No names, emails, student numbers, sourcedIds or full birth dates in the research file.",
        f"students.csv: columns {found}" if found else "",
    )


def k_anonymity_check(bundle, anonymity: AnonymityReport):
    """Reads students.csv back from the written zip and measures its smallest group."""
    from interop_pipeline.publish.deliver import CheckOutcome

    with zipfile.ZipFile(bundle) as zf:
        text = zf.read("students.csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text))) if text else []
    quasi = [q for q in anonymity.quasi_identifiers if rows and q in rows[0]]
    keys = [tuple(r[q] for q in quasi) for r in rows]
    diversity = anonymity.l_diversity or {}
    measure = [r.get(diversity["measure"]) for r in rows] if diversity else None
    small = failing_groups(keys, anonymity.min_group_size, measure, diversity.get("l", 1))
    smallest = min(Counter(keys).values(), default=0)
    rule = f"k={anonymity.min_group_size}" + (f", l={diversity['l']} on {diversity['measure']}" if diversity else "")
    return CheckOutcome(
        "k_anonymous",
        not small,
        f"Every combination of quasi-identifiers in students.csv is shared by enough students ({rule}).",
        f"students.csv: {len(small)} quasi-identifier groups break {rule} (smallest group {smallest})" if small else "",
        {"smallest_group": smallest, "groups": len(set(keys)), "records_suppressed": anonymity.suppressed},
    )


def _suppression_check(aggregates: list[Row], min_n: int):
    from interop_pipeline.publish.deliver import CheckOutcome

    small = [
        i
        for i, r in enumerate(aggregates, start=2)
        if r["students_measured"] is not None and r["students_measured"] < min_n
    ]
    return CheckOutcome(
        "small_cells_suppressed",
        not small,
        f"No published aggregate cell counts fewer than {min_n} students.",
        f"chronic_absenteeism.csv rows {small[:10]}: cells below {min_n}" if small else "",
        {"cells": len(aggregates), "suppressed": sum(bool(r["is_suppressed"]) for r in aggregates)},
    )
