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
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from functools import cache
from typing import Any

import duckdb
import pyarrow as pa

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
    "studentAssessments": (
        "studentAssessmentIdentifier",
        "assessmentReference.assessmentIdentifier",
        "assessmentReference.namespace",
        "studentReference.studentUniqueId",
    ),
}


def descriptor(kind: str, code: str) -> str:
    return f"{NS}/{kind}Descriptor#{code}"


def natural_key(resource: str, document: dict[str, Any]) -> str:
    values = []
    for path in NATURAL_KEYS[resource]:
        value: Any = document
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        values.append(value)
    return json.dumps(values, separators=(",", ":"), default=str)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _digits(text: str) -> str:
    return "".join(ch for ch in text if ch.isdigit()) or "0"


def lea_id_number(lea_id: str) -> int:
    return int(_digits(lea_id)[-9:])


def school_id_number(lea_id: str, state_school_id: str) -> int:
    """A 32-bit schoolId: the LEA's last six digits, then the school's last three."""
    return int(_digits(lea_id)[-6:]) * 1000 + int(_digits(state_school_id)[-3:])


def _unique_id(row: Row, local: str, key: str) -> str:
    return row.get(local) or row[key][:32]


def _term(session: Row) -> str | None:
    if session["session_type"] == "schoolYear":
        return "Year Round"
    if session["session_type"] == "semester":
        return "Fall Semester" if session["start_date"].month >= 7 else "Spring Semester"
    return None  # grading periods are not Ed-Fi sessions


def roster_documents(
    roster: Roster, con: duckdb.DuckDBPyConnection, *, attendance: bool, assessments: bool = False
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource, document) for the recipient's roster, in dependency order. `con` holds the
    roster's scope views (load_roster), which the streamed resources are filtered by."""
    lea = lea_id_number(roster.district["lea_id"])
    yield (
        "localEducationAgencies",
        {
            "localEducationAgencyId": lea,
            "nameOfInstitution": roster.district["district_name"],
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
    school_ids = {
        s["school_key"]: school_id_number(roster.district["lea_id"], s["state_school_id"]) for s in roster.schools
    }
    student_grade = {s["student_key"]: s["grade_level_descriptor"] for s in roster.students}
    for s in roster.schools:
        yield (
            "schools",
            {
                "schoolId": school_ids[s["school_key"]],
                "nameOfInstitution": s["school_name"],
                "localEducationAgencyReference": {"localEducationAgencyId": lea},
                "educationOrganizationCategories": [
                    {"educationOrganizationCategoryDescriptor": descriptor("EducationOrganizationCategory", "School")}
                ],
                "gradeLevels": [{"gradeLevelDescriptor": g} for g in sorted(_school_grades(s["school_key"], roster))],
            },
        )
    sessions = [s for s in roster.sessions if _term(s)]
    year = next(s for s in sessions if s["session_type"] == "schoolYear")
    days = _instructional_days(con, school_ids, sessions)
    for school_key, school_id in school_ids.items():
        for s in sessions:
            yield (
                "sessions",
                {
                    "schoolReference": {"schoolId": school_id},
                    "schoolYearTypeReference": {"schoolYear": s["school_year"]},
                    "sessionName": s["session_title"],
                    "termDescriptor": descriptor("Term", _term(s)),
                    "beginDate": _iso(s["start_date"]),
                    "endDate": _iso(s["end_date"]),
                    "totalInstructionalDays": days.get((school_key, s["session_key"]), 0),
                },
            )
    courses = {c["course_key"]: c for c in roster.courses}
    offering = {"schoolYear": year["school_year"], "sessionName": year["session_title"]}
    for c in roster.courses:
        school_id = school_ids[c["school_key"]]
        yield (
            "courses",
            {
                "courseCode": c["course_code"],
                "educationOrganizationReference": {"educationOrganizationId": school_id},
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
    for c in roster.courses:
        school_id = school_ids[c["school_key"]]
        yield (
            "courseOfferings",
            {
                "localCourseCode": c["course_code"],
                "localCourseTitle": c["course_title"],
                "courseReference": {"courseCode": c["course_code"], "educationOrganizationId": school_id},
                "schoolReference": {"schoolId": school_id},
                "sessionReference": {"schoolId": school_id, **offering},
            },
        )
    section_refs: dict[str, dict[str, Any]] = {}
    for s in roster.sections:
        ref = {
            "sectionIdentifier": f"cls-{s['section_key']}",
            "localCourseCode": courses[s["course_key"]]["course_code"],
            "schoolId": school_ids[s["school_key"]],
            **offering,
        }
        section_refs[s["section_key"]] = ref
        yield (
            "sections",
            {
                "sectionIdentifier": ref["sectionIdentifier"],
                "sectionName": s["section_title"],
                "courseOfferingReference": {k: v for k, v in ref.items() if k != "sectionIdentifier"},
            },
        )
    staff_ids = {}
    for p in roster.staff:
        staff_ids[p["staff_key"]] = _unique_id(p, "local_staff_id", "staff_key")
        yield (
            "staffs",
            {"staffUniqueId": staff_ids[p["staff_key"]], "firstName": p["first_name"], "lastSurname": p["last_name"]},
        )
    student_ids = {}
    for s in roster.students:
        student_ids[s["student_key"]] = _unique_id(s, "local_student_id", "student_key")
        document = {
            "studentUniqueId": student_ids[s["student_key"]],
            "firstName": s["first_name"],
            "lastSurname": s["last_name"],
            "birthDate": _iso(s["birth_date"]),
        }
        if s.get("middle_name"):
            document["middleName"] = s["middle_name"]
        yield "students", document
    if "demographics" in roster.fields or "programs" in roster.fields:
        for s in roster.students:
            yield "studentEducationOrganizationAssociations", _student_edorg(s, student_ids[s["student_key"]], lea)
    for e in roster.school_enrollments:
        document = {
            "studentReference": {"studentUniqueId": student_ids[e["student_key"]]},
            "schoolReference": {"schoolId": school_ids[e["school_key"]]},
            "entryDate": _iso(e["entry_date"]),
            "entryGradeLevelDescriptor": student_grade[e["student_key"]],
        }
        if e["exit_date"] is not None:
            document["exitWithdrawDate"] = _iso(e["exit_date"])
        yield "studentSchoolAssociations", document
    for e in roster.section_enrollments:
        document = {
            "studentReference": {"studentUniqueId": student_ids[e["student_key"]]},
            "sectionReference": section_refs[e["section_key"]],
            "beginDate": _iso(e["begin_date"]),
        }
        if e["end_date"] is not None:
            document["endDate"] = _iso(e["end_date"])
        yield "studentSectionAssociations", document
    for a in roster.staff_assignments:
        yield (
            "staffSectionAssociations",
            {
                "staffReference": {"staffUniqueId": staff_ids[a["staff_key"]]},
                "sectionReference": section_refs[a["section_key"]],
                "beginDate": _iso(a["begin_date"]),
                "classroomPositionDescriptor": descriptor("ClassroomPosition", "Teacher of Record"),
            },
        )
    if attendance:
        yield from _attendance_events(con, student_ids, school_ids, sessions)
    if assessments:
        yield from assessment_documents(con, student_ids)


def _school_grades(school_key: str, roster: Roster) -> set[str]:
    return {
        s["grade_level_descriptor"]
        for s in roster.students
        if s["current_school_key"] == school_key and s["grade_level_descriptor"]
    } or {descriptor("GradeLevel", "Ungraded")}


def _student_edorg(s: Row, unique_id: str, lea: int) -> dict[str, Any]:
    document: dict[str, Any] = {
        "studentReference": {"studentUniqueId": unique_id},
        "educationOrganizationReference": {"educationOrganizationId": lea},
    }
    if "sex_descriptor" in s:
        races = {
            "race_american_indian_or_alaska_native": "American Indian or Alaska Native",
            "race_asian": "Asian",
            "race_black_or_african_american": "Black or African American",
            "race_native_hawaiian_or_pacific_islander": "Native Hawaiian or Pacific Islander",
            "race_white": "White",
        }
        document["sexDescriptor"] = s["sex_descriptor"]
        document["hispanicLatinoEthnicity"] = bool(s["hispanic_or_latino"])
        document["races"] = [{"raceDescriptor": descriptor("Race", label)} for col, label in races.items() if s[col]]
    if "is_english_learner" in s:
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
    counts = {}
    rows = con.execute(
        "select school_key, calendar_date from main.dim_school_calendar where is_instructional_day"
    ).fetchall()
    for school_key, day in rows:
        if school_key not in school_ids:
            continue
        for s in sessions:
            if s["start_date"] <= day <= s["end_date"]:
                counts[(school_key, s["session_key"])] = counts.get((school_key, s["session_key"]), 0) + 1
    return counts


def _attendance_events(
    con: duckdb.DuckDBPyConnection, student_ids: dict[str, str], school_ids: dict[str, int], sessions: list[Row]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Absences and tardies (a day without an event is present, as the SIS exports it)."""
    semesters = [s for s in sessions if s["session_type"] == "semester"]
    year = next(s for s in sessions if s["session_type"] == "schoolYear")
    events = _streamed_rows(
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
        if student_key not in student_ids or school_key not in school_ids:
            continue
        session = next((s for s in semesters if s["start_date"] <= day <= s["end_date"]), year)
        yield (
            "studentSchoolAttendanceEvents",
            {
                "studentReference": {"studentUniqueId": student_ids[student_key]},
                "schoolReference": {"schoolId": school_ids[school_key]},
                "sessionReference": {
                    "schoolId": school_ids[school_key],
                    "schoolYear": session["school_year"],
                    "sessionName": session["session_title"],
                },
                "eventDate": _iso(day),
                "attendanceEventCategoryDescriptor": category,
            },
        )


BATCH_ROWS = 50_000  # rows per record batch read from the warehouse

# Vendor (fct_assessment_result.vendor) → identifier prefix, namespace and title of its Ed-Fi
# assessments (one per vendor and subject), as the vendors' own Ed-Fi integrations name them.
ASSESSMENT_VENDORS: dict[str, tuple[str, str, str]] = {
    "nwea_map": ("NWEA-MAP-Growth", "uri://nwea.org/Assessment", "NWEA MAP Growth"),
    "iready": ("iReady-Diagnostic", "uri://curriculumassociates.com/Assessment", "i-Ready Diagnostic"),
    "state_assessment": ("State-Summative", "uri://state.example.org/Assessment", "State Summative Assessment"),
}
ACADEMIC_SUBJECTS = {"ELA": "English Language Arts", "Mathematics": "Mathematics"}


def _streamed_rows(con: duckdb.DuckDBPyConnection, sql: str) -> Iterator[tuple[Any, ...]]:
    """The query's rows, one Arrow record batch at a time (never the whole result in memory)."""
    for batch in con.sql(sql).to_arrow_reader(BATCH_ROWS):
        yield from zip(*(column.to_pylist() for column in batch.columns), strict=True)


@cache
def _assessment_identity(vendor: str, subject: str) -> tuple[str, str, str, str]:
    """(assessmentIdentifier, namespace, title, academic subject) of a vendor's test in a subject."""
    prefix, namespace, title = ASSESSMENT_VENDORS[vendor]
    academic = ACADEMIC_SUBJECTS.get(subject, "Other")
    return f"{prefix}-{academic.replace(' ', '')}", namespace, f"{title} {academic}", academic


def _result_text(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def assessment_documents(
    con: duckdb.DuckDBPyConnection, student_ids: dict[str, str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """assessments, then studentAssessments, from main.fct_assessment_result for the students in
    `student_ids` (warehouse key → studentUniqueId). Results the identity step did not link to a
    student (null student_key) belong to no one in scope and are not published. The results are
    read in record batches, in a stable order (their warehouse key)."""
    con.register(
        "publish_student_ids",
        pa.table(
            {
                "student_key": pa.array(list(student_ids), pa.string()),
                "student_unique_id": pa.array(list(student_ids.values()), pa.string()),
            }
        ),
    )
    try:
        tests = con.execute(
            """
            select distinct r.vendor, r.subject
            from main.fct_assessment_result as r
            join publish_student_ids as ids on ids.student_key = r.student_key
            order by 1, 2
            """
        ).fetchall()
        for vendor, subject in tests:
            identifier, namespace, title, academic = _assessment_identity(vendor, subject)
            yield (
                "assessments",
                {
                    "assessmentIdentifier": identifier,
                    "namespace": namespace,
                    "assessmentTitle": title,
                    "academicSubjects": [{"academicSubjectDescriptor": descriptor("AcademicSubject", academic)}],
                },
            )
        results = _streamed_rows(
            con,
            """
            select r.assessment_result_key, r.vendor, r.subject, ids.student_unique_id, r.test_date,
                grades.edfi_descriptor, r.scale_score, r.percentile
            from main.fct_assessment_result as r
            join publish_student_ids as ids on ids.student_key = r.student_key
            left join reference.xwalk_grade_level as grades
                on grades.source_system = 'oneroster' and grades.source_code = r.grade_level_assessed
            order by r.assessment_result_key
            """,
        )
        for row in results:
            yield "studentAssessments", student_assessment_document(*row)
    finally:
        con.unregister("publish_student_ids")


def student_assessment_document(
    result_key: str,
    vendor: str,
    subject: str,
    student_unique_id: str,
    administration_date: date | None,
    grade_level_descriptor: str | None,
    scale_score: float | None,
    percentile: float | None,
) -> dict[str, Any]:
    """One studentAssessment; its identifier is the result's warehouse key (no personal data)."""
    identifier, namespace, _, _ = _assessment_identity(vendor, subject)
    scores = [("Scale score", scale_score), ("Percentile", percentile)]
    document: dict[str, Any] = {
        "studentAssessmentIdentifier": result_key,
        "assessmentReference": {"assessmentIdentifier": identifier, "namespace": namespace},
        "studentReference": {"studentUniqueId": student_unique_id},
        "administrationDate": _iso(administration_date),
        "scoreResults": [
            {
                "assessmentReportingMethodDescriptor": descriptor("AssessmentReportingMethod", method),
                "resultDatatypeTypeDescriptor": descriptor(
                    "ResultDatatypeType", "Integer" if float(value).is_integer() else "Decimal"
                ),
                "result": _result_text(value),
            }
            for method, value in scores
            if value is not None
        ],
    }
    if grade_level_descriptor:
        document["whenAssessedGradeLevelDescriptor"] = grade_level_descriptor
    return document
