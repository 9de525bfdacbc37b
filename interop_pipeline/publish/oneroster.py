"""OneRoster 1.2 and 1.1 CSV bundles from a recipient's roster (roster.py).

Each file's rows are built as dicts keyed by the standard's column names; the column lists and
their order come from the same specification tables the OneRoster connector lands with
(connectors/oneroster_csv.py), so what we publish is what we accept. Bulk rows leave status and
dateLastModified blank; delta.py fills them for delta bundles.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

from interop_pipeline.chaos import pause_point
from interop_pipeline.connectors.oneroster_csv import VERSIONS
from interop_pipeline.publish.ids import sourced_id
from interop_pipeline.publish.roster import Roster, Row

FORMATS = {"oneroster_1.2": "1.2", "oneroster_1.1": "1.1"}
# Program flags a SIS export carries as extension columns; published only with `programs`.
PROGRAM_COLUMNS = {
    "metadata.englishLearner": "is_english_learner",
    "metadata.idea": "has_idea_services",
    "metadata.section504": "has_section_504_plan",
    "metadata.economicallyDisadvantaged": "is_economically_disadvantaged",
    "metadata.homeless": "is_homeless",
}
SEX = {"Female": "female", "Male": "male", "NotSelected": "unspecified"}
RACE_FLAGS = {
    "americanIndianOrAlaskaNative": "race_american_indian_or_alaska_native",
    "asian": "race_asian",
    "blackOrAfricanAmerican": "race_black_or_african_american",
    "nativeHawaiianOrOtherPacificIslander": "race_native_hawaiian_or_pacific_islander",
    "white": "race_white",
}
# OneRoster 1.1 users.role has no counselor or principal: they are administrators there.
ROLE_11 = {"teacher": "teacher", "aide": "aide", "proctor": "proctor", "student": "student"}


def columns(version: str, file_name: str, *, with_programs: bool = False) -> list[str]:
    spec = next(s for s in VERSIONS[version].specs if s.file_name == file_name)
    extra = list(PROGRAM_COLUMNS) if with_programs and file_name == "demographics" else []
    return [*spec.columns, *extra]


def csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def subject_pair(subjects: str | None, codes: str | None) -> dict[str, str]:
    """subjects with the SCED codes they pair with by position, or neither: the binding reads a
    subjects list without its codes (or with a different count) as invalid."""
    names = [s for s in (subjects or "").split(",") if s.strip()]
    sced = [c for c in (codes or "").split(",") if c.strip()]
    if names and len(names) == len(sced):
        return {"subjects": ",".join(names), "subjectCodes": ",".join(sced)}
    return {"subjects": "", "subjectCodes": ""}


def _orgs(roster: Roster) -> list[Row]:
    district = sourced_id("district", roster.district["district_key"])
    rows = [
        {
            "sourcedId": district,
            "name": roster.district["district_name"],
            "type": "district",
            "identifier": roster.district["lea_id"],
        }
    ]
    for school in roster.schools:
        rows.append(
            {
                "sourcedId": sourced_id("school", school["school_key"]),
                "name": school["school_name"],
                "type": "school",
                "identifier": school["state_school_id"],
                "parentSourcedId": district,
            }
        )
    return rows


def _sessions(roster: Roster) -> list[Row]:
    return [
        {
            "sourcedId": sourced_id("session", s["session_key"]),
            "title": s["session_title"],
            "type": s["session_type"],
            "startDate": s["start_date"],
            "endDate": s["end_date"],
            "parentSourcedId": sourced_id("session", s["parent_session_key"]),
            "schoolYear": s["school_year"],
        }
        for s in roster.sessions
    ]


def _school_year_ids(roster: Roster) -> dict[int, str]:
    return {
        s["school_year"]: sourced_id("session", s["session_key"])
        for s in roster.sessions
        if s["session_type"] == "schoolYear"
    }


def _courses(roster: Roster) -> list[Row]:
    """A course belongs to its school, or, without one (a district course catalog), to the
    district org, which orgs.csv always holds."""
    years = _school_year_ids(roster)
    district = sourced_id("district", roster.district["district_key"])
    return [
        {
            "sourcedId": sourced_id("course", c["course_key"]),
            "schoolYearSourcedId": years.get(c["school_year"], ""),
            "title": c["course_title"],
            "courseCode": c["course_code"],
            "grades": c["grade_levels"],
            "orgSourcedId": sourced_id("school", c["school_key"]) if c["school_key"] else district,
            **subject_pair(c["subjects"], c["subject_codes"]),
        }
        for c in roster.courses
    ]


def _classes(roster: Roster) -> list[Row]:
    session_ids = {s["sis_session_id"]: sourced_id("session", s["session_key"]) for s in roster.sessions}
    rows = []
    for s in roster.sections:
        terms = [session_ids[t] for t in (s["term_sourced_ids"] or "").split(",") if t in session_ids]
        rows.append(
            {
                "sourcedId": sourced_id("section", s["section_key"]),
                "title": s["section_title"],
                "grades": s["grade_levels"],
                "courseSourcedId": sourced_id("course", s["course_key"]),
                "classCode": s["section_code"],
                "classType": s["section_type"],
                "location": s["location"],
                "schoolSourcedId": sourced_id("school", s["school_key"]),
                "termSourcedIds": ",".join(terms),
                **subject_pair(s["subjects"], s["subject_codes"]),
                "periods": s["periods"],
            }
        )
    return rows


def _person(row: Row, entity: str, key: str) -> Row:
    """users.csv columns shared by 1.1 and 1.2; identifiers and emails only where allowed."""
    person_id = sourced_id(entity, row[key])
    local_id = row.get("local_student_id") or row.get("local_staff_id")
    return {
        "sourcedId": person_id,
        "enabledUser": bool(row["is_enabled"]),
        # username is required: without the identifiers permission it is the opaque sourcedId.
        "username": row.get("username") or person_id,
        "userIds": f"{{SIS:{local_id}}}" if local_id else "",
        "givenName": row["first_name"],
        "familyName": row["last_name"],
        "middleName": row.get("middle_name"),
        "identifier": local_id,
        "email": row.get("email"),
    }


def _student_orgs(roster: Roster) -> dict[str, list[str]]:
    orgs: dict[str, list[str]] = {}
    for e in roster.school_enrollments:
        school = sourced_id("school", e["school_key"])
        if school not in orgs.setdefault(e["student_key"], []):
            orgs[e["student_key"]].append(school)
    return orgs


def _primary_org(current: str | None, orgs: list[str], entity: str = "school") -> str:
    current_id = sourced_id(entity, current)
    return current_id if current_id in orgs else (orgs[-1] if orgs else "")


def _staff_orgs(roster: Roster) -> dict[str, list[str]]:
    school_ids = {sourced_id("school", s["school_key"]) for s in roster.schools}
    orgs: dict[str, list[str]] = {}
    for person in roster.staff:
        primary = sourced_id("school", person["primary_school_key"])
        orgs[person["staff_key"]] = [primary] if primary in school_ids else []
    for a in roster.staff_assignments:
        school = sourced_id("school", a["school_key"])
        if school not in orgs[a["staff_key"]]:
            orgs[a["staff_key"]].append(school)
    return orgs


def _users_12(roster: Roster) -> list[Row]:
    rows = []
    student_orgs = _student_orgs(roster)
    for s in roster.students:
        row = _person(s, "student", "student_key")
        row["grades"] = s["grade_level"]
        row["primaryOrgSourcedId"] = _primary_org(s["current_school_key"], student_orgs.get(s["student_key"], []))
        rows.append(row)
    for person, orgs in zip(roster.staff, _staff_orgs(roster).values(), strict=True):
        row = _person(person, "staff", "staff_key")
        row["primaryOrgSourcedId"] = orgs[0] if orgs else ""
        rows.append(row)
    return rows


def _users_11(roster: Roster) -> list[Row]:
    rows = []
    student_orgs = _student_orgs(roster)
    for s in roster.students:
        row = _person(s, "student", "student_key")
        row.update(
            grades=s["grade_level"], role="student", orgSourcedIds=",".join(student_orgs.get(s["student_key"], []))
        )
        rows.append(row)
    for person, orgs in zip(roster.staff, _staff_orgs(roster).values(), strict=True):
        row = _person(person, "staff", "staff_key")
        row.update(role=ROLE_11.get(person["staff_role"], "administrator"), orgSourcedIds=",".join(orgs))
        rows.append(row)
    return rows


def _roles(roster: Roster) -> list[Row]:
    """A student's role per school spell (the latest spell at a school is primary, so each
    user/org pair has one primary role); staff hold one role per school they work in."""
    rows: list[Row] = []
    latest: dict[tuple[str, str], str] = {}
    spells = sorted(roster.school_enrollments, key=lambda e: (e["entry_date"] or date.min, e["school_enrollment_key"]))
    for e in spells:
        latest[(e["student_key"], e["school_key"])] = e["school_enrollment_key"]
    for e in roster.school_enrollments:
        primary = latest[(e["student_key"], e["school_key"])] == e["school_enrollment_key"]
        rows.append(
            {
                "sourcedId": sourced_id("role", e["school_enrollment_key"]),
                "userSourcedId": sourced_id("student", e["student_key"]),
                "roleType": "primary" if primary else "secondary",
                "role": "student",
                "beginDate": e["entry_date"],
                "endDate": e["exit_date"],
                "orgSourcedId": sourced_id("school", e["school_key"]),
            }
        )
    for person, orgs in zip(roster.staff, _staff_orgs(roster).values(), strict=True):
        for position, org in enumerate(orgs):
            rows.append(
                {
                    # One role per staff member per school: the pair's own stable id.
                    "sourcedId": f"rol-{person['staff_key']}-{org.removeprefix('sch-')[:12]}",
                    "userSourcedId": sourced_id("staff", person["staff_key"]),
                    "roleType": "primary" if position == 0 else "secondary",
                    "role": person["staff_role"],
                    "orgSourcedId": org,
                }
            )
    return rows


def _enrollments(roster: Roster) -> list[Row]:
    rows = [
        {
            "sourcedId": sourced_id("enrollment", e["section_enrollment_key"]),
            "classSourcedId": sourced_id("section", e["section_key"]),
            "schoolSourcedId": sourced_id("school", e["school_key"]),
            "userSourcedId": sourced_id("student", e["student_key"]),
            "role": "student",
            "beginDate": e["begin_date"],
            "endDate": e["end_date"],
        }
        for e in roster.section_enrollments
    ]
    rows += [
        {
            "sourcedId": sourced_id("enrollment", a["staff_section_assignment_key"]),
            "classSourcedId": sourced_id("section", a["section_key"]),
            "schoolSourcedId": sourced_id("school", a["school_key"]),
            "userSourcedId": sourced_id("staff", a["staff_key"]),
            "role": "teacher",
            "primary": bool(a["is_primary"]),
            "beginDate": a["begin_date"],
            "endDate": a["end_date"],
        }
        for a in roster.staff_assignments
        if a["classroom_role"] in (None, "teacher")
    ]
    return rows


def _demographics(roster: Roster) -> list[Row]:
    rows = []
    for s in roster.students:
        row: Row = {"sourcedId": sourced_id("student", s["student_key"]), "birthDate": s.get("birth_date")}
        row["sex"] = SEX.get(s["sex_code"], "unspecified") if s.get("sex_code") else ""
        races = {column: s[field] for column, field in RACE_FLAGS.items()}
        row.update(races)
        row["demographicRaceTwoOrMoreRaces"] = sum(bool(v) for v in races.values()) > 1
        row["hispanicOrLatinoEthnicity"] = s["hispanic_or_latino"]
        for column, field in PROGRAM_COLUMNS.items():
            if field in s:
                row[column] = s[field]
        rows.append(row)
    return rows


def bundle_files(roster: Roster, version: str) -> dict[str, list[Row]]:
    """file name (without .csv) → rows, for every file the recipient may receive."""
    files = {
        "orgs": _orgs(roster),
        "academicSessions": _sessions(roster),
        "courses": _courses(roster),
        "classes": _classes(roster),
        "users": _users_12(roster) if version == "1.2" else _users_11(roster),
    }
    if version == "1.2":
        files["roles"] = _roles(roster)
    files["enrollments"] = _enrollments(roster)
    if "demographics" in roster.fields:
        files["demographics"] = _demographics(roster)
    return files


def csv_bytes(header: list[str], rows: Iterable[Row]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_text(row.get(column)) for column in header])
    return out.getvalue().encode("utf-8")


def write_bundle(
    path: Path, version: str, files: dict[str, list[Row]], modes: dict[str, str], *, with_programs: bool = False
) -> dict[str, int]:
    """A zip with manifest.csv and one CSV per file in `files` that has rows; `modes` gives bulk
    or delta per file. Every other file of the version, and a file with no rows (strict consumers
    refuse a header-only file), is listed as absent. Returns rows per file written."""
    files = {name: rows for name, rows in files.items() if rows}
    listed = [s.file_name for s in VERSIONS[version].specs] + list(VERSIONS[version].other_files)
    manifest = [("manifest.version", "1.0"), ("oneroster.version", version)]
    manifest += [(f"file.{name}", modes[name] if name in files else "absent") for name in listed]
    manifest += [("source.systemName", "interop-pipeline")]
    counts = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(
            "manifest.csv", csv_bytes(["propertyName", "value"], ({"propertyName": k, "value": v} for k, v in manifest))
        )
        for name, rows in files.items():
            header = columns(version, name, with_programs=with_programs)
            # Written row by row into the zip member: the file's text is never held whole.
            with zf.open(f"{name}.csv", "w", force_zip64=True) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
                writer = csv.writer(text, lineterminator="\r\n")
                writer.writerow(header)
                writer.writerows([csv_text(row.get(column)) for column in header] for row in rows)
                text.flush()
                text.detach()
            counts[f"{name}.csv"] = len(rows)
            pause_point("oneroster_write")
    return counts
