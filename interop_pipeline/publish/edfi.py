"""Ed-Fi Data Standard 5 documents, per resource, from a recipient's roster (roster.py) and the
warehouse's attendance; descriptors are URIs (`uri://ed-fi.org/SexDescriptor#Female`).

Documents come out in dependency order, resource after resource (every reference points at a
resource earlier in RESOURCES, and a resource's documents are contiguous), each with its natural
key (`natural_key`) so loads can be compared record by record. The large resources (attendance
events, assessment results) are read from the warehouse in record batches and yielded as they
come, so no consumer has to hold a whole table.
Identifiers: studentUniqueId and staffUniqueId are the local ids when the agreement allows
identifiers, otherwise the warehouse key (32 hex characters, no personal data); schoolId is the
32-bit integer of the LEA's and the school's numbers.

Nothing the warehouse leaves empty stops the load. A record that cannot be keyed (an LEA or a
school without digits in its id, a person without the id the agreement keys them by) or lacks a
field the resource requires (a name, a birth date, a course code, a session's dates) is refused
(`Refusals`: the resource, the record's warehouse reference and the reason, never a value), and
so is every record that refers to it (a school's sessions and sections, a student's
associations, attendance events and assessment results), with a reason naming the parent. A
course without a school (a district course catalog, see dim_course) belongs to the local
education agency; its courseOfferings are at the schools of its sections.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa

from interop_pipeline.connectors import edfi_standard
from interop_pipeline.publish.ids import sourced_id
from interop_pipeline.publish.roster import Roster, Row

NS = "uri://ed-fi.org"
RESOURCES: tuple[str, ...] = (
    "localEducationAgencies",
    "schools",
    "sessions",
    "courses",
    "courseOfferings",
    "sections",
    "staffs",
    "students",
    "studentEducationOrganizationAssociations",
    "studentSchoolAssociations",
    "studentSectionAssociations",
    "staffSectionAssociations",
    "studentSchoolAttendanceEvents",
    "assessments",
    "objectiveAssessments",
    "studentAssessments",
)
# Natural keys (dotted paths), as the ODS/API identifies each resource.
_SECTION = (
    "sectionReference.sectionIdentifier",
    "sectionReference.localCourseCode",
    "sectionReference.schoolId",
    "sectionReference.schoolYear",
    "sectionReference.sessionName",
)
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "localEducationAgencies": ("localEducationAgencyId",),
    "schools": ("schoolId",),
    "sessions": ("schoolReference.schoolId", "schoolYearTypeReference.schoolYear", "sessionName"),
    "courses": ("courseCode", "educationOrganizationReference.educationOrganizationId"),
    "courseOfferings": (
        "localCourseCode",
        "schoolReference.schoolId",
        "sessionReference.schoolYear",
        "sessionReference.sessionName",
    ),
    "sections": (
        "sectionIdentifier",
        "courseOfferingReference.localCourseCode",
        "courseOfferingReference.schoolId",
        "courseOfferingReference.schoolYear",
        "courseOfferingReference.sessionName",
    ),
    "staffs": ("staffUniqueId",),
    "students": ("studentUniqueId",),
    "studentEducationOrganizationAssociations": (
        "studentReference.studentUniqueId",
        "educationOrganizationReference.educationOrganizationId",
    ),
    "studentSchoolAssociations": ("studentReference.studentUniqueId", "schoolReference.schoolId", "entryDate"),
    "studentSectionAssociations": ("studentReference.studentUniqueId", *_SECTION, "beginDate"),
    "staffSectionAssociations": ("staffReference.staffUniqueId", *_SECTION, "beginDate"),
    "studentSchoolAttendanceEvents": (
        "studentReference.studentUniqueId",
        "schoolReference.schoolId",
        "sessionReference.schoolYear",
        "sessionReference.sessionName",
        "eventDate",
        "attendanceEventCategoryDescriptor",
    ),
    "assessments": ("assessmentIdentifier", "namespace"),
    "objectiveAssessments": (
        "identificationCode",
        "assessmentReference.assessmentIdentifier",
        "assessmentReference.namespace",
    ),
    "studentAssessments": (
        "studentAssessmentIdentifier",
        "assessmentReference.assessmentIdentifier",
        "assessmentReference.namespace",
        "studentReference.studentUniqueId",
    ),
}


def descriptor(kind: str, code: str) -> str:
    """A default descriptor's URI; a code Ed-Fi does not ship raises (edfi_standard)."""
    return edfi_standard.descriptor_uri(f"{kind}Descriptor", code)


def natural_key(resource: str, document: dict[str, Any]) -> str:
    values = []
    for path in NATURAL_KEYS[resource]:
        value: Any = document
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values.append(value)
    return json.dumps(values, separators=(",", ":"), default=str)


# --------------------------------------------------------------------------------------------
# Refusals: records that cannot be keyed or lack a required field
# --------------------------------------------------------------------------------------------

REFUSAL_COLUMNS = ("resource", "record_key", "reason")


@dataclass(frozen=True)
class Refusal:
    """A record left out of the load. `record_key` is the record's warehouse reference (the
    surrogate keys under their OneRoster prefixes: `stu-…`, `sch-…/ses-…`), `reason` a fixed text
    naming what is missing (a warehouse column, or the refused parent): neither carries a value."""

    resource: str
    record_key: str
    reason: str


class Refusals:
    """What the document builder refused, as it streams: per record, with the reason, and which
    warehouse entities were refused, so the records depending on them are refused too. With
    `track_refs`, it also keeps each document's warehouse reference by natural key (`refs`), which
    lets a load keep in the ODS a record delivered before and refused now, instead of deleting it."""

    def __init__(self, *, track_refs: bool = False) -> None:
        self.records: list[Refusal] = []
        self.counts: Counter[str] = Counter()
        self._refused: set[tuple[str, str]] = set()  # (resource, record_key)
        self.refs: dict[tuple[str, str], str] | None = {} if track_refs else None

    def refuse(self, resource: str, record_key: str, reason: str) -> None:
        self.records.append(Refusal(resource, record_key, reason))
        self.counts[resource] += 1
        self._refused.add((resource, record_key))

    def refused(self, resource: str, record_key: str) -> bool:
        return (resource, record_key) in self._refused

    def keep(self, resource: str, record_key: str, document: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
        """A document that goes out, under its warehouse reference, if it satisfies its resource's
        Ed-Fi JSON schema and every descriptor in it is an Ed-Fi default; otherwise it is refused
        (the reason names the JSON paths and rules, never a value) and None comes back."""
        problems = edfi_standard.document_problems(resource, document)
        if problems:
            self.refuse(resource, record_key, edfi_standard.problem_text(resource, record_key, problems))
            return None
        if self.refs is not None:
            self.refs[(resource, natural_key(resource, document))] = record_key
        return resource, document

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[Refusal]:
        return iter(self.records)


def _missing(row: Row, fields: dict[str, str], table: str) -> str | None:
    """The reason a row cannot become a document: the first required column it lacks."""
    for column, name in fields.items():
        if row.get(column) in (None, ""):
            return f"no {name} ({table}.{column} is empty)"
    return None


def _parent(refusals: Refusals, resource: str, record_key: str, noun: str) -> str:
    """Why a record whose parent is not among the documents is refused."""
    if refusals.refused(resource, record_key):
        return f"its {noun} was refused"
    return f"its {noun} is not in the extract"


# --------------------------------------------------------------------------------------------
# Keys
# --------------------------------------------------------------------------------------------


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _date_time(value: date | None) -> str | None:
    """A date as the ISO 8601 date-time Ed-Fi asks for where it has a time (administrationDate):
    the vendors send a day only, so the start of that day, in UTC."""
    return f"{value.isoformat()}T00:00:00Z" if value is not None else None


def _digits(text: str | None) -> str:
    return "".join(ch for ch in text or "" if ch.isdigit())


def lea_id_number(lea_id: str | None) -> int | None:
    """The LEA's number (its last nine digits); None when it has none (or only zeros)."""
    digits = _digits(lea_id)
    number = int(digits[-9:]) if digits else 0
    return number or None


def school_id_number(lea_id: str | None, state_school_id: str | None) -> int | None:
    """A 32-bit schoolId: the LEA's last six digits, then the school's last three; None when
    either has no digits."""
    lea, school = _digits(lea_id), _digits(state_school_id)
    if not lea or not school:
        return None
    return int(lea[-6:]) * 1000 + int(school[-3:])


MAX_UNIQUE_ID = 32  # studentUniqueId and staffUniqueId


def _unique_id(row: Row, local: str, key: str, identifiers: bool, table: str) -> tuple[str | None, str | None]:
    """(uniqueId, None) or (None, reason). With the identifiers permission the id is the local
    id, and a person without one cannot be keyed (a warehouse key in its place would become a
    second person in the ODS once the local id arrives); without it, the warehouse key."""
    column = local if identifiers else key
    value = row.get(column)
    if not value:
        return None, f"no unique id ({table}.{column} is empty)"
    if len(value) > MAX_UNIQUE_ID:
        return None, f"unique id longer than {MAX_UNIQUE_ID} characters ({table}.{column})"
    return value, None


def _term(session: Row) -> str | None:
    if session["session_type"] == "schoolYear":
        return "Year Round"
    if session["session_type"] == "semester":
        return "Fall Semester" if session["start_date"].month >= 7 else "Spring Semester"
    return None  # grading periods are not Ed-Fi sessions


_SESSION_FIELDS = {
    "session_title": "sessionName",
    "school_year": "schoolYear",
    "start_date": "beginDate",
    "end_date": "endDate",
}


# --------------------------------------------------------------------------------------------
# Documents
# --------------------------------------------------------------------------------------------


def roster_documents(
    roster: Roster,
    con: duckdb.DuckDBPyConnection,
    *,
    attendance: bool,
    assessments: bool = False,
    refusals: Refusals | None = None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource, document) for the recipient's roster, in dependency order. `con` holds the
    roster's scope views (load_roster), which the streamed resources are filtered by. A record
    that cannot be keyed or lacks a required field is not yielded but refused into `refusals`,
    and so is every record that refers to it; the rest go ahead."""
    log = refusals if refusals is not None else Refusals()
    built = _Built()
    built.race_descriptors = _race_descriptors(con)
    yield from _kept(_organizations(roster, log, built))
    yield from _kept(_sessions(roster, con, log, built))
    yield from _kept(_courses(roster, log, built))
    yield from _kept(_people(roster, log, built))
    yield from _kept(_associations(roster, log, built))
    if attendance:
        yield from _kept(_attendance_events(con, log, built))
    if assessments:
        yield from assessment_documents(con, built.student_ids, refusals=log, refused_students=built.refused_students)


Kept = Iterator[tuple[str, dict[str, Any]] | None]


def _kept(documents: Kept) -> Iterator[tuple[str, dict[str, Any]]]:
    """The documents Refusals.keep let through (None is a document it refused)."""
    return (item for item in documents if item is not None)


# dim_student's race flags → the federal category whose Ed-Fi RaceDescriptor xwalk_race_ethnicity holds.
RACE_COLUMNS = {
    "race_american_indian_or_alaska_native": "AmericanIndianOrAlaskaNative",
    "race_asian": "Asian",
    "race_black_or_african_american": "BlackOrAfricanAmerican",
    "race_native_hawaiian_or_pacific_islander": "NativeHawaiianOrOtherPacificIslander",
    "race_white": "White",
}


def _race_descriptors(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """dim_student race column → its Ed-Fi RaceDescriptor URI, from the crosswalk seed."""
    rows = dict(
        con.execute(
            "select federal_category, edfi_race_descriptor from reference.xwalk_race_ethnicity "
            "where edfi_race_descriptor is not null"
        ).fetchall()
    )
    return {column: rows[category] for column, category in RACE_COLUMNS.items() if category in rows}


@dataclass
class _Built:
    """The keys of what went out so far, for the records that refer to them."""

    lea: int | None = None
    lea_ref: str = ""
    school_ids: dict[str, int] = field(default_factory=dict)  # school_key → schoolId
    # (school_key, session_key) → (schoolYear, sessionName), and each session's row
    sessions: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    session_rows: dict[str, Row] = field(default_factory=dict)
    year_session: Row | None = None
    semesters: list[Row] = field(default_factory=list)
    courses: dict[str, tuple[str, int]] = field(default_factory=dict)  # course_key → (courseCode, edOrg id)
    offerings: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (course, school) → ref
    section_refs: dict[str, dict[str, Any]] = field(default_factory=dict)
    section_begins: dict[str, date] = field(default_factory=dict)  # section_key → its session's first day
    staff_ids: dict[str, str] = field(default_factory=dict)
    student_ids: dict[str, str] = field(default_factory=dict)
    refused_students: set[str] = field(default_factory=set)
    student_grade: dict[str, str | None] = field(default_factory=dict)
    race_descriptors: dict[str, str] = field(default_factory=dict)  # dim_student column → URI


def _organizations(roster: Roster, log: Refusals, built: _Built) -> Kept:
    district = roster.district
    built.lea_ref = sourced_id("district", district["district_key"]) or "dst-"
    lea = lea_id_number(district["lea_id"])
    reason = "no numeric LEA id (dim_district.lea_id)" if lea is None else None
    reason = reason or _missing(district, {"district_name": "nameOfInstitution"}, "dim_district")
    if reason:
        log.refuse("localEducationAgencies", built.lea_ref, reason)
    else:
        built.lea = lea
        yield log.keep(
            "localEducationAgencies",
            built.lea_ref,
            {
                "localEducationAgencyId": lea,
                "nameOfInstitution": district["district_name"],
                "localEducationAgencyCategoryDescriptor": descriptor(
                    "LocalEducationAgencyCategory", "Regular public school district"
                ),
                "categories": [
                    {
                        "educationOrganizationCategoryDescriptor": descriptor(
                            "EducationOrganizationCategory", "Local Education Agency"
                        )
                    }
                ],
            },
        )
    numbers = {s["school_key"]: school_id_number(district["lea_id"], s["state_school_id"]) for s in roster.schools}
    shared = {n for n, count in Counter(numbers.values()).items() if n is not None and count > 1}
    for s in roster.schools:
        ref, number = sourced_id("school", s["school_key"]), numbers[s["school_key"]]
        if built.lea is None:
            reason = _parent(log, "localEducationAgencies", built.lea_ref, "local education agency")
        elif number is None:
            reason = "no numeric state school id (dim_school.state_school_id)"
        elif number in shared:
            # Two schools whose numbers end alike would be one school in the ODS.
            reason = "its schoolId (LEA and state school id digits) is another school's too"
        else:
            reason = _missing(s, {"school_name": "nameOfInstitution"}, "dim_school")
        if reason:
            log.refuse("schools", ref, reason)
            continue
        assert number is not None
        built.school_ids[s["school_key"]] = number
        yield log.keep(
            "schools",
            ref,
            {
                "schoolId": number,
                "nameOfInstitution": s["school_name"],
                "localEducationAgencyReference": {"localEducationAgencyId": built.lea},
                "educationOrganizationCategories": [
                    {"educationOrganizationCategoryDescriptor": descriptor("EducationOrganizationCategory", "School")}
                ],
                "gradeLevels": [{"gradeLevelDescriptor": g} for g in sorted(_school_grades(s["school_key"], roster))],
            },
        )


def _sessions(roster: Roster, con: duckdb.DuckDBPyConnection, log: Refusals, built: _Built) -> Kept:
    """School years and semesters, at every school (grading periods are not Ed-Fi sessions)."""
    candidates = [s for s in roster.sessions if s["session_type"] in ("schoolYear", "semester")]
    valid = {s["session_key"]: s for s in candidates if _missing(s, _SESSION_FIELDS, "dim_session") is None}
    built.session_rows = valid
    built.year_session = next((s for s in valid.values() if s["session_type"] == "schoolYear"), None)
    built.semesters = [s for s in valid.values() if s["session_type"] == "semester"]
    days = _instructional_days(con, built.school_ids, list(valid.values()))
    for school in roster.schools:
        school_key = school["school_key"]
        for s in candidates:
            ref = f"{sourced_id('school', school_key)}/{sourced_id('session', s['session_key'])}"
            if school_key not in built.school_ids:
                log.refuse("sessions", ref, _parent(log, "schools", sourced_id("school", school_key), "school"))
                continue
            reason = _missing(s, _SESSION_FIELDS, "dim_session")
            if reason:
                log.refuse("sessions", ref, reason)
                continue
            built.sessions[(school_key, s["session_key"])] = (s["school_year"], s["session_title"])
            yield log.keep(
                "sessions",
                ref,
                {
                    "schoolReference": {"schoolId": built.school_ids[school_key]},
                    "schoolYearTypeReference": {"schoolYear": s["school_year"]},
                    "sessionName": s["session_title"],
                    "termDescriptor": descriptor("Term", _term(s)),
                    "beginDate": _iso(s["start_date"]),
                    "endDate": _iso(s["end_date"]),
                    "totalInstructionalDays": days.get((school_key, s["session_key"]), 0),
                },
            )


def _courses(roster: Roster, log: Refusals, built: _Built) -> Kept:
    """A school's course belongs to the school; a course without one (a district course
    catalog, see dim_course) to the local education agency. Its offerings are at the schools of
    its sections (and at its own school), in the school year."""
    for c in roster.courses:
        ref = sourced_id("course", c["course_key"])
        school_key = c["school_key"]
        if school_key is None:
            owner = built.lea
            reason = _parent(log, "localEducationAgencies", built.lea_ref, "local education agency")
        else:
            owner = built.school_ids.get(school_key)
            reason = _parent(log, "schools", sourced_id("school", school_key), "school")
        if owner is not None:
            reason = _missing(c, {"course_code": "courseCode", "course_title": "courseTitle"}, "dim_course") or ""
        if reason:
            log.refuse("courses", ref, reason)
            continue
        assert owner is not None
        built.courses[c["course_key"]] = (c["course_code"], owner)
        yield log.keep(
            "courses",
            ref,
            {
                "courseCode": c["course_code"],
                "educationOrganizationReference": {"educationOrganizationId": owner},
                "courseTitle": c["course_title"],
                "numberOfParts": 1,
                "identificationCodes": [
                    {
                        "courseIdentificationSystemDescriptor": descriptor(
                            "CourseIdentificationSystem", "LEA course code"
                        ),
                        "identificationCode": c["course_code"],
                    }
                ],
            },
        )
    titles = {c["course_key"]: c["course_title"] for c in roster.courses}
    places = [(c["course_key"], c["school_key"]) for c in roster.courses if c["school_key"] is not None]
    places += [(s["course_key"], s["school_key"]) for s in roster.sections]
    year = built.year_session
    for course_key, school_key in dict.fromkeys(places):  # in order, once each
        ref = f"{sourced_id('course', course_key)}/{sourced_id('school', school_key)}"
        session = built.sessions.get((school_key, year["session_key"])) if year is not None else None
        if course_key not in built.courses:
            reason = _parent(log, "courses", sourced_id("course", course_key), "course")
        elif school_key not in built.school_ids:
            reason = _parent(log, "schools", sourced_id("school", school_key), "school")
        elif session is None:
            reason = "no school-year session at its school (dim_session)"
        else:
            reason = ""
        if reason:
            log.refuse("courseOfferings", ref, reason)
            continue
        assert session is not None
        code, owner = built.courses[course_key]
        school_id = built.school_ids[school_key]
        offering = {
            "localCourseCode": code,
            "schoolId": school_id,
            "schoolYear": session[0],
            "sessionName": session[1],
        }
        built.offerings[(course_key, school_key)] = offering
        yield log.keep(
            "courseOfferings",
            ref,
            {
                "localCourseCode": code,
                "localCourseTitle": titles.get(course_key),
                "courseReference": {"courseCode": code, "educationOrganizationId": owner},
                "schoolReference": {"schoolId": school_id},
                "sessionReference": {"schoolId": school_id, "schoolYear": session[0], "sessionName": session[1]},
            },
        )
    for s in roster.sections:
        ref = sourced_id("section", s["section_key"])
        offering = built.offerings.get((s["course_key"], s["school_key"]))
        if offering is None:
            offering_ref = f"{sourced_id('course', s['course_key'])}/{sourced_id('school', s['school_key'])}"
            log.refuse("sections", ref, _parent(log, "courseOfferings", offering_ref, "course offering"))
            continue
        section_ref = {"sectionIdentifier": ref, **offering}
        built.section_refs[s["section_key"]] = section_ref
        assert year is not None  # an offering has its school year
        built.section_begins[s["section_key"]] = year["start_date"]
        document: dict[str, Any] = {"sectionIdentifier": ref, "courseOfferingReference": offering}
        if s["section_title"]:
            document["sectionName"] = s["section_title"]
        yield log.keep("sections", ref, document)


def _people(roster: Roster, log: Refusals, built: _Built) -> Kept:
    identifiers = "identifiers" in roster.fields
    names = {"first_name": "firstName", "last_name": "lastSurname"}
    for p in roster.staff:
        ref = sourced_id("staff", p["staff_key"]) or "stf-"
        unique_id, reason = _unique_id(p, "local_staff_id", "staff_key", identifiers, "dim_staff")
        reason = reason or _missing(p, names, "dim_staff")
        if reason:
            log.refuse("staffs", ref, reason)
            continue
        assert unique_id is not None
        kept = log.keep(
            "staffs", ref, {"staffUniqueId": unique_id, "firstName": p["first_name"], "lastSurname": p["last_name"]}
        )
        if kept is not None:  # else refused by its schema: so are its assignments
            built.staff_ids[p["staff_key"]] = unique_id
            yield kept
    for s in roster.students:
        ref = sourced_id("student", s["student_key"]) or "stu-"
        built.student_grade[s["student_key"]] = s["grade_level_descriptor"]
        unique_id, reason = _unique_id(s, "local_student_id", "student_key", identifiers, "dim_student")
        reason = reason or _missing(s, {**names, "birth_date": "birthDate"}, "dim_student")
        if reason:
            log.refuse("students", ref, reason)
            built.refused_students.add(s["student_key"])
            continue
        assert unique_id is not None
        document = {
            "studentUniqueId": unique_id,
            "firstName": s["first_name"],
            "lastSurname": s["last_name"],
            "birthDate": _iso(s["birth_date"]),
        }
        if s.get("middle_name"):
            document["middleName"] = s["middle_name"]
        kept = log.keep("students", ref, document)
        if kept is None:  # refused by its schema: so are the student's records
            built.refused_students.add(s["student_key"])
            continue
        built.student_ids[s["student_key"]] = unique_id
        yield kept


def _associations(roster: Roster, log: Refusals, built: _Built) -> Kept:
    def student(key: str) -> str | None:
        """Why a record of this student is refused, if it is."""
        if key in built.student_ids:
            return None
        return _parent(log, "students", sourced_id("student", key) or "stu-", "student")

    if "demographics" in roster.fields or "programs" in roster.fields:
        for s in roster.students:
            ref = sourced_id("student", s["student_key"]) or "stu-"
            reason = student(s["student_key"])
            if reason is None and built.lea is None:
                reason = _parent(log, "localEducationAgencies", built.lea_ref, "local education agency")
            if reason:
                log.refuse("studentEducationOrganizationAssociations", ref, reason)
                continue
            assert built.lea is not None
            document = _student_edorg(s, built.student_ids[s["student_key"]], built.lea, built.race_descriptors)
            yield log.keep("studentEducationOrganizationAssociations", ref, document)
    for e in roster.school_enrollments:
        ref = sourced_id("role", e["school_enrollment_key"]) or "rol-"
        reason = student(e["student_key"])
        if reason is None and e["school_key"] not in built.school_ids:
            reason = _parent(log, "schools", sourced_id("school", e["school_key"]), "school")
        if reason is None and e["entry_date"] is None:
            reason = "no entryDate (fct_school_enrollment.entry_date is empty)"
        if reason is None and not built.student_grade.get(e["student_key"]):
            reason = "no entryGradeLevelDescriptor (dim_student.grade_level_descriptor is empty)"
        if reason:
            log.refuse("studentSchoolAssociations", ref, reason)
            continue
        document = {
            "studentReference": {"studentUniqueId": built.student_ids[e["student_key"]]},
            "schoolReference": {"schoolId": built.school_ids[e["school_key"]]},
            "entryDate": _iso(e["entry_date"]),
            "entryGradeLevelDescriptor": built.student_grade[e["student_key"]],
        }
        if e["exit_date"] is not None:
            document["exitWithdrawDate"] = _iso(e["exit_date"])
        yield log.keep("studentSchoolAssociations", ref, document)
    for e in roster.section_enrollments:
        ref = sourced_id("enrollment", e["section_enrollment_key"]) or "enr-"
        reason = student(e["student_key"]) or _section(log, built, e["section_key"])
        if reason:
            log.refuse("studentSectionAssociations", ref, reason)
            continue
        # No begin date: from the start of the section (its session's first day).
        document = {
            "studentReference": {"studentUniqueId": built.student_ids[e["student_key"]]},
            "sectionReference": built.section_refs[e["section_key"]],
            "beginDate": _iso(e["begin_date"] or built.section_begins[e["section_key"]]),
        }
        if e["end_date"] is not None:
            document["endDate"] = _iso(e["end_date"])
        yield log.keep("studentSectionAssociations", ref, document)
    for a in roster.staff_assignments:
        ref = sourced_id("enrollment", a["staff_section_assignment_key"]) or "enr-"
        reason = None
        if a["staff_key"] not in built.staff_ids:
            reason = _parent(log, "staffs", sourced_id("staff", a["staff_key"]) or "stf-", "staff member")
        reason = reason or _section(log, built, a["section_key"])
        if reason:
            log.refuse("staffSectionAssociations", ref, reason)
            continue
        yield log.keep(
            "staffSectionAssociations",
            ref,
            {
                "staffReference": {"staffUniqueId": built.staff_ids[a["staff_key"]]},
                "sectionReference": built.section_refs[a["section_key"]],
                "beginDate": _iso(a["begin_date"] or built.section_begins[a["section_key"]]),
                "classroomPositionDescriptor": descriptor("ClassroomPosition", "Teacher of Record"),
            },
        )


def _section(log: Refusals, built: _Built, section_key: str | None) -> str | None:
    if section_key in built.section_refs:
        return None
    return _parent(log, "sections", sourced_id("section", section_key) or "cls-", "section")


def _school_grades(school_key: str, roster: Roster) -> set[str]:
    return {
        s["grade_level_descriptor"]
        for s in roster.students
        if s["current_school_key"] == school_key and s["grade_level_descriptor"]
    } or {descriptor("GradeLevel", "Ungraded")}


def _student_edorg(s: Row, unique_id: str, lea: int, race_descriptors: dict[str, str]) -> dict[str, Any]:
    """Demographics and programs the warehouse knows; an unknown (NULL) value is left out, not
    sent as a default."""
    document: dict[str, Any] = {
        "studentReference": {"studentUniqueId": unique_id},
        "educationOrganizationReference": {"educationOrganizationId": lea},
    }
    if "sex_descriptor" in s:
        if s["sex_descriptor"]:
            document["sexDescriptor"] = s["sex_descriptor"]
        if s["hispanic_or_latino"] is not None:
            document["hispanicLatinoEthnicity"] = bool(s["hispanic_or_latino"])
        document["races"] = [{"raceDescriptor": uri} for col, uri in race_descriptors.items() if s[col]]
    if "is_english_learner" in s:
        if s["is_english_learner"] is not None:
            document["limitedEnglishProficiencyDescriptor"] = descriptor(
                "LimitedEnglishProficiency", "Limited" if s["is_english_learner"] else "NotLimited"
            )
        flags = {"is_economically_disadvantaged": "Economic Disadvantaged", "is_homeless": "Homeless"}
        document["studentCharacteristics"] = [
            {"studentCharacteristicDescriptor": descriptor("StudentCharacteristic", code)}
            for col, code in flags.items()
            if s[col]
        ]
    return document


def _instructional_days(
    con: duckdb.DuckDBPyConnection, school_ids: dict[str, int], sessions: list[Row]
) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    rows = con.execute(
        "select school_key, calendar_date from main.dim_school_calendar "
        "where is_instructional_day and calendar_date is not null"
    ).fetchall()
    for school_key, day in rows:
        if school_key not in school_ids:
            continue
        for s in sessions:
            if s["start_date"] <= day <= s["end_date"]:
                counts[(school_key, s["session_key"])] = counts.get((school_key, s["session_key"]), 0) + 1
    return counts


def _attendance_events(con: duckdb.DuckDBPyConnection, log: Refusals, built: _Built) -> Kept:
    """Absences and tardies (a day without an event is present, as the SIS exports it), in the
    semester that holds the day, else the school year."""
    resource = "studentSchoolAttendanceEvents"
    events = streamed_rows(
        con,
        """
        select a.student_key, a.school_key, a.calendar_date, x.edfi_attendance_event_category
        from main.fct_student_daily_attendance as a
        join reference.xwalk_attendance_code as x on x.source_code = a.attendance_code
        where a.attendance_code is not null
          and a.student_key in (select student_key from scope_students)
          and a.school_key in (select school_key from scope_schools)
        order by 1, 3
        """,
    )
    for student_key, school_key, day, category in events:
        ref = f"{sourced_id('student', student_key) or 'stu-'}/{_iso(day) or ''}"
        if student_key not in built.student_ids:
            if student_key in built.refused_students:
                log.refuse(resource, ref, "its student was refused")
            continue  # not in the extract
        session = None
        if day is not None:
            session = next((s for s in built.semesters if s["start_date"] <= day <= s["end_date"]), built.year_session)
        held = built.sessions.get((school_key, session["session_key"])) if session is not None else None
        if school_key not in built.school_ids:
            reason = _parent(log, "schools", sourced_id("school", school_key), "school")
        elif day is None:
            reason = "no eventDate (fct_student_daily_attendance.calendar_date is empty)"
        elif not category:
            reason = "no attendanceEventCategoryDescriptor (xwalk_attendance_code)"
        elif held is None:
            reason = "no session at its school holds its date (dim_session)"
        else:
            reason = ""
        if reason:
            log.refuse(resource, ref, reason)
            continue
        assert held is not None
        yield log.keep(
            resource,
            ref,
            {
                "studentReference": {"studentUniqueId": built.student_ids[student_key]},
                "schoolReference": {"schoolId": built.school_ids[school_key]},
                "sessionReference": {
                    "schoolId": built.school_ids[school_key],
                    "schoolYear": held[0],
                    "sessionName": held[1],
                },
                "eventDate": _iso(day),
                "attendanceEventCategoryDescriptor": category,
            },
        )


BATCH_ROWS = 50_000  # rows per record batch read from the warehouse


def streamed_rows(con: duckdb.DuckDBPyConnection, sql: str, batch_rows: int = BATCH_ROWS) -> Iterator[tuple[Any, ...]]:
    """The query's rows, one Arrow record batch at a time (never the whole result in memory)."""
    for batch in con.sql(sql).to_arrow_reader(batch_rows):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


# What each vendor's declaration conformed (fct_assessment_score), read per assessment: the
# reporting methods of its scores and the performance levels it reports, overall (objective
# null) and per objective assessment.
_ASSESSMENT_REPORTING_SQL = """
    select a.assessment_name, a.namespace, s.objective, s.kind, s.reporting_method, s.result_datatype,
        case when s.kind = 'performance_level' then s.result end as level
    from main.fct_assessment_score as s
    join main.fct_assessment_result as r on r.assessment_result_key = s.assessment_result_key
    join main.dim_assessment as a on a.assessment_key = r.assessment_key
    join publish_student_ids as ids on ids.student_key = r.student_key
    where ids.student_unique_id is not null
    group by all
    order by all
"""


def _performance_level(method: str, level: str | None) -> dict[str, str] | None:
    """A level Ed-Fi defines (the declaration's `levels:` maps the vendor's own to them); a
    vendor-only level stays in the warehouse: Ed-Fi's default descriptors have no place for it."""
    if level is None or level not in _performance_level_codes():
        return None
    return {
        "assessmentReportingMethodDescriptor": descriptor("AssessmentReportingMethod", method),
        "performanceLevelDescriptor": descriptor("PerformanceLevel", level),
    }


@cache
def _performance_level_codes() -> frozenset[str]:
    return frozenset(edfi_standard.descriptor_codes("PerformanceLevelDescriptor"))


def _score_definition(method: str, datatype: str) -> dict[str, str]:
    return {
        "assessmentReportingMethodDescriptor": descriptor("AssessmentReportingMethod", method),
        "resultDatatypeTypeDescriptor": descriptor("ResultDatatypeType", datatype),
    }


def _assessment_definitions(con: duckdb.DuckDBPyConnection) -> Iterator[tuple[str, dict[str, Any]]]:
    """assessments, then objectiveAssessments, of the results in scope."""
    tests = con.execute(
        """
        select a.assessment_name, a.namespace, max(a.assessment_title), max(a.assessment_family),
            list(distinct a.subject order by a.subject)
        from main.fct_assessment_result as r
        join main.dim_assessment as a on a.assessment_key = r.assessment_key
        join publish_student_ids as ids on ids.student_key = r.student_key
        where ids.student_unique_id is not null
        group by a.assessment_name, a.namespace
        order by 1, 2
        """
    ).fetchall()
    reporting: dict[tuple[str, str, str | None], list[tuple[str, str, str, str | None]]] = {}
    for identifier, namespace, objective, *rest in con.execute(_ASSESSMENT_REPORTING_SQL).fetchall():
        reporting.setdefault((identifier, namespace, objective), []).append(tuple(rest))
    for identifier, namespace, title, family, subjects in tests:
        document: dict[str, Any] = {
            "assessmentIdentifier": identifier,
            "namespace": namespace,
            "assessmentTitle": title or identifier,
            "academicSubjects": [{"academicSubjectDescriptor": descriptor("AcademicSubject", s)} for s in subjects],
        }
        if family:
            document["assessmentFamily"] = family
        document |= _reported(reporting.get((identifier, namespace, None), []))
        yield "assessments", document
    for (identifier, namespace, objective), rows in sorted(reporting.items(), key=lambda kv: str(kv[0])):
        if objective is None:
            continue
        yield (
            "objectiveAssessments",
            {
                "identificationCode": objective_code(objective),
                "assessmentReference": {"assessmentIdentifier": identifier, "namespace": namespace},
                "description": objective,
                **_reported(rows),
            },
        )


def objective_code(objective: str) -> str:
    """An objective's Ed-Fi identificationCode (at most 60 characters): its identifier, or a
    long one's first 51 characters and a digest of the whole (the description keeps it all)."""
    if len(objective) <= 60:
        return objective
    return f"{objective[:51].rstrip()}-{hashlib.sha256(objective.encode()).hexdigest()[:8]}"


def _reported(rows: list[tuple]) -> dict[str, Any]:
    """scores / performanceLevels of an assessment or objective definition, from its
    (kind, method, datatype, level) rows. A vendor's own level (no Ed-Fi performance level)
    is reported as a score of datatype Level, as Ed-Fi loads of vendor files do."""
    scores = {(m, d) for kind, m, d, _ in rows if kind == "score"}
    methods = {m for m, _ in scores}
    scores |= {
        (m, "Level")
        for kind, m, _, level in rows
        if kind == "performance_level" and _performance_level(m, level) is None and m not in methods
    }
    levels = [_performance_level(m, level) for kind, m, _, level in rows if kind == "performance_level"]
    out: dict[str, Any] = {}
    if scores:
        out["scores"] = [_score_definition(m, d) for m, d in sorted(scores)]
    kept = [dict(lv, resultDatatypeTypeDescriptor=descriptor("ResultDatatypeType", "Level")) for lv in levels if lv]
    if kept:
        out["performanceLevels"] = [dict(t) for t in sorted({tuple(sorted(lv.items())) for lv in kept})]
    return out


def _results_of(scores: list[dict[str, Any]] | None) -> dict[str | None, dict[str, list]]:
    """A result's conformed scores (fct_assessment_score rows) as Ed-Fi scoreResults and
    performanceLevels, per objective (None: the overall result)."""
    by_objective: dict[str | None, dict[str, list]] = {}
    own_levels = []
    for score in scores or []:
        held = by_objective.setdefault(score["objective"], {"scoreResults": [], "performanceLevels": []})
        if score["kind"] == "score":
            held["scoreResults"].append(
                {**_score_definition(score["reporting_method"], score["result_datatype"]), "result": score["result"]}
            )
        elif (level := _performance_level(score["reporting_method"], score["result"])) is not None:
            held["performanceLevels"].append(level)
        else:
            own_levels.append(score)
    for score in own_levels:  # the vendor's own level, as a Level score unless its method has one
        held = by_objective[score["objective"]]
        method = score["reporting_method"]
        if all(r["assessmentReportingMethodDescriptor"] != _method_uri(method) for r in held["scoreResults"]):
            held["scoreResults"].append({**_score_definition(method, "Level"), "result": score["result"]})
    return by_objective


def _method_uri(method: str) -> str:
    return descriptor("AssessmentReportingMethod", method)


def assessment_documents(
    con: duckdb.DuckDBPyConnection,
    student_ids: dict[str, str],
    *,
    refusals: Refusals | None = None,
    refused_students: Iterable[str] = (),
) -> Iterator[tuple[str, dict[str, Any]]]:
    """assessments, objectiveAssessments, then studentAssessments, from the warehouse's
    assessment facts (fct_assessment_result, fct_assessment_score, dim_assessment: what each
    vendor's declaration conformed) for the students in `student_ids` (warehouse key →
    studentUniqueId). Results the identity step did not link to a student (null student_key)
    belong to no one in scope and are not published; results of the `refused_students` are
    refused, and so is a result with no score and no level (a result without a date goes
    without administrationDate, which Data Standard 5 makes optional). Results are read in
    record batches, in a stable order (their warehouse key)."""
    log = refusals if refusals is not None else Refusals()
    refused = [k for k in refused_students if k not in student_ids]
    con.register(
        "publish_student_ids",
        pa.table(
            {
                "student_key": pa.array([*student_ids, *refused], pa.string()),
                "student_unique_id": pa.array([*student_ids.values(), *(None for _ in refused)], pa.string()),
            }
        ),
    )
    try:
        for resource, document in _assessment_definitions(con):
            kept = log.keep(resource, natural_key(resource, document), document)
            if kept is not None:
                yield kept
        results = streamed_rows(
            con,
            """
            with scores as (
                select assessment_result_key,
                    list({'objective': objective, 'kind': kind, 'reporting_method': reporting_method,
                        'result_datatype': result_datatype, 'result': result}
                        order by objective nulls first, kind, reporting_method) as scores
                from main.fct_assessment_score
                group by assessment_result_key
            )
            select r.assessment_result_key, a.assessment_name, a.namespace, ids.student_unique_id, r.test_date,
                grades.edfi_descriptor, r.school_year, scores.scores
            from main.fct_assessment_result as r
            join main.dim_assessment as a on a.assessment_key = r.assessment_key
            join publish_student_ids as ids on ids.student_key = r.student_key
            left join scores on scores.assessment_result_key = r.assessment_result_key
            left join reference.xwalk_grade_level as grades
                on grades.source_system = 'oneroster' and grades.source_code = r.grade_level_assessed
            order by r.assessment_result_key
            """,
        )
        yield from student_assessments(results, log)
    finally:
        con.unregister("publish_student_ids")


def student_assessments(
    results: Iterable[tuple[Any, ...]], refusals: Refusals | None = None
) -> Iterator[tuple[str, dict[str, Any]]]:
    """("studentAssessments", document) per result row of `results` (see
    student_assessment_documents), each checked by Refusals.keep: a document its Ed-Fi JSON
    schema or default descriptors refuse is refused into `refusals` instead."""
    log = refusals if refusals is not None else Refusals()
    for ref, document in student_assessment_documents(results, log):
        kept = log.keep("studentAssessments", ref, document)
        if kept is not None:
            yield kept


def student_assessment_documents(
    results: Iterable[tuple[Any, ...]], refusals: Refusals
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(record key, studentAssessment document) per result row, as it streams, not yet checked
    against the Ed-Fi schema (student_assessments does that). Each row is (result key,
    assessmentIdentifier, namespace, studentUniqueId, administration date, grade level
    descriptor, school year, conformed scores: the result's fct_assessment_score rows as dicts
    of objective, kind, reporting_method, result_datatype, result). A row whose student was
    refused (null studentUniqueId), without a key, or with no overall score and no level is
    refused into `refusals`. Shared by the warehouse (assessment_documents) and
    bench/bench_earthmover.py (straight from the landed conformed rows)."""
    for result_key, identifier, namespace, unique_id, administered, grade, school_year, scores in results:
        ref = result_key or ""
        reported = _results_of(scores)
        overall = reported.get(None, {"scoreResults": [], "performanceLevels": []})
        if unique_id is None:
            reason = "its student was refused"
        elif not result_key:
            reason = "no studentAssessmentIdentifier (fct_assessment_result.assessment_result_key is empty)"
        elif not overall["scoreResults"] and not overall["performanceLevels"]:
            reason = "no scoreResults and no performanceLevels (fct_assessment_score)"
        else:
            reason = ""
        if reason:
            refusals.refuse("studentAssessments", ref, reason)
            continue
        document = student_assessment_document(
            result_key, identifier, namespace, unique_id, administered, grade, school_year, reported
        )
        yield ref, document


def student_assessment_document(
    result_key: str,
    assessment_identifier: str,
    namespace: str,
    student_unique_id: str,
    administration_date: date | None,
    grade_level_descriptor: str | None,
    school_year: int | None,
    reported: dict[str | None, dict[str, list]],
) -> dict[str, Any]:
    """One studentAssessment; its identifier is the result's warehouse key (no personal data)."""
    assessment = {"assessmentIdentifier": assessment_identifier, "namespace": namespace}
    document: dict[str, Any] = {
        "studentAssessmentIdentifier": result_key,
        "assessmentReference": assessment,
        "studentReference": {"studentUniqueId": student_unique_id},
    }
    if administration_date is not None:
        document["administrationDate"] = _date_time(administration_date)
    document |= {k: v for k, v in reported.get(None, {}).items() if v}
    if school_year:
        document["schoolYearTypeReference"] = {"schoolYear": int(school_year)}
    if grade_level_descriptor:
        document["whenAssessedGradeLevelDescriptor"] = grade_level_descriptor
    objectives = [
        {
            "objectiveAssessmentReference": {**assessment, "identificationCode": objective_code(objective)},
            **{k: v for k, v in held.items() if v},
        }
        for objective, held in reported.items()
        if objective is not None and (held["scoreResults"] or held["performanceLevels"])
    ]
    if objectives:
        document["studentObjectiveAssessments"] = objectives
    return document
