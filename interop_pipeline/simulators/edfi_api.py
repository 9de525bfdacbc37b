"""Simulated Ed-Fi ODS/API 7.x serving the generated district, readable and writable.

Paths as the ODS/API has them: the root document at `/` (version and `urls`), `/oauth/token`,
resources at `/data/v3/ed-fi/{resource}` and descriptors at `/data/v3/ed-fi/{name}Descriptors`,
change queries at `/changeQueries/v1/availableChangeVersions` and `/{resource}/deletes`.
Reads page by `offset`/`limit` (default 25, max 500; `totalCount=true` adds `Total-Count`) or by
cursor (`pageSize`, then the `Next-Page-Token` header passed back as `pageToken`), always in
the stable order records were created, filtered by `minChangeVersion`/`maxChangeVersion`.
Writes go through :class:`EdfiStore`, which answers 400/409 as the ODS does. Students are known
by their state ID (studentUniqueId), as a state-fed ODS holds them.
"""

from __future__ import annotations

import base64
import binascii
import csv
import functools
import hashlib
import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from interop_pipeline.config import PROJECT_ROOT, DistrictConfig
from interop_pipeline.connectors import edfi_standard
from interop_pipeline.simulators.edfi_model import (
    LOAD_ORDER,
    EdfiProblem,
    EdfiStore,
    StoredRecord,
    descriptor_resource,
    descriptor_uri,
    validation_failed,
)
from interop_pipeline.simulators.http_server import Faults, Request, Response, SimulatedApi, int_arg

API_VERSION = "7.3"
DATA_STANDARD_VERSION = edfi_standard.data_standard_version()  # the schemas it enforces
DEFAULT_LIMIT, MAX_LIMIT = 25, 500
DATA_PATH = "/data/v3/ed-fi"
RACE_XWALK = PROJECT_ROOT / "dbt_project" / "seeds" / "xwalk_race_ethnicity.csv"

GRADE_LEVELS = {
    "IT": "Infant/toddler",
    "PR": "Preschool",
    "PK": "Prekindergarten",
    "TK": "Transitional Kindergarten",
    "KG": "Kindergarten",
    **{
        f"{n:02d}": f"{ordinal} grade"
        for n, ordinal in enumerate(
            "First Second Third Fourth Fifth Sixth Seventh Eighth Ninth Tenth Eleventh Twelfth".split(), start=1
        )
    },
    "13": "Grade 13",
    "PS": "Postsecondary",
    "UG": "Ungraded",
}
ATTENDANCE_CATEGORIES = {"A": "Unexcused Absence", "E": "Excused Absence", "T": "Tardy", "H": "Partial"}
# Codes below are Ed-Fi defaults (dbt_project/seeds/edfi_descriptor.csv): a stock ODS knows no other.
ENTRY_TYPES = {"start_of_year": "Next year school", "mid_year_entry": "Transfer", "transfer_in": "Transfer"}
EXIT_TYPES = {"withdrawal": "Withdrawn", "transfer_out": "Transferred"}
SUBJECTS = {
    "English Language Arts": "English Language Arts",
    "ELA": "English Language Arts",
    "Reading": "Reading",
    "Mathematics": "Mathematics",
    "Math": "Mathematics",
    "Science": "Science",
    "Social Studies": "Social Studies",
    "Art": "Fine and Performing Arts",
    "Music": "Fine and Performing Arts",
    "Physical Education": "Physical, Health, and Safety Education",
    "World Languages": "Foreign Language and Literature",
    "Computer Science": "Career and Technical Education",
}
RACE_FLAGS = (
    "race_AmericanIndianOrAlaskaNative",
    "race_Asian",
    "race_BlackOrAfricanAmerican",
    "race_NativeHawaiianOrOtherPacificIslander",
    "race_White",
)
# Achievement level (1-4) → the Ed-Fi default PerformanceLevel a four-level scale reports.
PERFORMANCE_LEVELS = {1: "Below Basic", 2: "Basic", 3: "Proficient", 4: "Advanced"}
PROGRAMS = {  # truth flag → (programName, programTypeDescriptor code)
    "idea": ("Special Education", "Special Education"),
    "section_504": ("Section 504", "Section 504 Placement"),
    "english_learner": ("English Learner Services", "English as a Second Language (ESL)"),
}
CHARACTERISTICS = {"economically_disadvantaged": "Economic Disadvantaged", "homeless": "Homeless"}
ASSESSMENTS = {  # vendor → (identifier prefix, namespace, title prefix)
    "nwea_map": ("NWEA-MAP-Growth", "uri://nwea.org/Assessment", "NWEA MAP Growth"),
    "iready": ("iReady-Diagnostic", "uri://curriculumassociates.com/Assessment", "i-Ready Diagnostic"),
    "state": ("State-Summative", "uri://state.example.org/Assessment", "State Summative Assessment"),
}


@functools.cache
def race_descriptors() -> dict[str, str]:
    """Truth race flag (race_<federal category>) → its Ed-Fi RaceDescriptor URI, from the
    warehouse's own crosswalk seed (xwalk_race_ethnicity), so the ODS and the warehouse agree."""
    with RACE_XWALK.open(newline="", encoding="utf-8") as f:
        uris = {row["federal_category"]: row["edfi_race_descriptor"] for row in csv.DictReader(f)}
    return {flag: uris[flag.removeprefix("race_")] for flag in RACE_FLAGS}


def default_descriptor_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    """The descriptor documents a fresh ODS holds: Ed-Fi's default sets (edfi_descriptor seed)."""
    for row in edfi_standard.descriptor_rows():
        name = row["descriptor_name"].removesuffix("Descriptor")
        yield (
            descriptor_resource(name[0].lower() + name[1:]),
            {
                "codeValue": row["code_value"],
                "shortDescription": row["short_description"],
                "description": row["short_description"],
                "namespace": row["namespace"],
            },
        )


class EdfiApi(SimulatedApi):
    """The ODS/API over an :class:`EdfiStore`; tests read `store` to see exactly what it holds."""

    system = "Ed-Fi"
    token_path = "/oauth/token"

    def __init__(self, store: EdfiStore, **kwargs: Any):
        super().__init__(**kwargs)
        self.store = store
        self._changes = 0
        resource = rf"{DATA_PATH}/(?P<resource>[A-Za-z]+)"
        record_id = r"/(?P<id>[0-9a-f]{32})"
        self.route("GET", "", self._root, authenticated=False)
        self.route("GET", r"/metadata/data/v3/dependencies", self._dependencies, authenticated=False)
        self.route("GET", r"/changeQueries/v1/availableChangeVersions", self._available_change_versions)
        self.route("GET", resource + r"/deletes", self._deletes)
        self.route("GET", resource + r"/keyChanges", self._key_changes)
        self.route("GET", resource + record_id, self._get_one)
        self.route("GET", resource, self._get_many)
        self.route("POST", resource, self._post)
        self.route("PUT", resource + record_id, self._put)
        self.route("DELETE", resource + record_id, self._delete)

    # -- how the ODS/API words things -------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        kinds = {
            400: ("bad-request", "Bad Request"),
            401: ("security:authentication", "Authentication Failed"),
            404: ("not-found", "Not Found"),
            429: ("too-many-requests", "Too Many Requests"),
            503: ("service-unavailable", "Service Unavailable"),
        }
        kind, title = kinds.get(status, ("system", "Internal Server Error"))
        return self._problem(EdfiProblem(status, kind, title, message))

    def _problem(self, problem: EdfiProblem) -> Response:
        return Response(problem.status, problem.body(), content_type="application/problem+json")

    def handle(self, request: Request) -> tuple[Response, str | None]:
        try:
            return super().handle(request)
        except EdfiProblem as problem:
            return self._problem(problem), None

    def on_change(self) -> None:
        """Records change between pages: a student's record is edited, an attendance event is
        recoded, and every third time an attendance event is deleted (nothing references one)."""
        self._changes += 1
        n = self._changes
        students = self.store.records("students")
        if students:
            record = students[(n * 7919) % len(students)]
            middle = record.document.get("middleName")
            self.store.update("students", record.id, {"middleName": None if middle else "Lee"})
        events = self.store.records("studentSchoolAttendanceEvents")
        if events:
            record = events[(n * 104729) % len(events)]
            if n % 3 == 0:
                self.store.delete("studentSchoolAttendanceEvents", record.id)
            else:
                reason = record.document.get("attendanceEventReason")
                self.store.update(
                    "studentSchoolAttendanceEvents",
                    record.id,
                    {"attendanceEventReason": "Corrected by office" if reason is None else None},
                )

    # -- metadata ---------------------------------------------------------------------------
    def _root(self, request: Request) -> Response:
        base = f"http://{request.headers.get('host', '127.0.0.1')}"
        return Response(
            200,
            {
                "version": API_VERSION,
                "applicationName": "Ed-Fi ODS / API",
                "informationalVersion": API_VERSION,
                "suite": "3",
                "build": f"{API_VERSION}.0",
                "apiMode": "Sandbox",
                "dataModels": [{"name": "Ed-Fi", "version": DATA_STANDARD_VERSION}],
                "urls": {
                    "dependencies": f"{base}/metadata/data/v3/dependencies",
                    "openApiMetadata": f"{base}/metadata/",
                    "oauth": f"{base}/oauth/token",
                    "dataManagementApi": f"{base}/data/v3/",
                    "changeQueries": f"{base}/changeQueries/v1/",
                    "xsdMetadata": f"{base}/metadata/xsd",
                },
            },
        )

    def _dependencies(self, request: Request) -> Response:
        return Response(
            200,
            [
                {"resource": f"/ed-fi/{name}", "order": order, "operations": ["Create", "Update"]}
                for order, name in enumerate(LOAD_ORDER, start=1)
            ],
        )

    def _available_change_versions(self, request: Request) -> Response:
        return Response(200, {"oldestChangeVersion": 0, "newestChangeVersion": self.store.change_version})

    # -- reads ------------------------------------------------------------------------------
    def _get_one(self, request: Request) -> Response:
        return Response(200, self.store.get(request.match["resource"], request.match["id"]).document)

    def _get_many(self, request: Request) -> Response:
        resource = request.match["resource"]
        records = self.store.records(resource)
        low, high = _change_window(request)
        field_filters = _field_filters(request, resource)
        if request.arg("pageToken") is not None or request.arg("pageSize") is not None:
            return self._cursor_page(request, records, low, high, field_filters)
        offset = int_arg(request, "offset", 0)
        limit = _limit(request, "limit")
        selected = _select(records, low, high, field_filters)
        response = Response(200, [r.document for r in selected[offset : offset + limit]])
        if request.arg("totalCount", "false").lower() == "true":
            response.headers["Total-Count"] = str(len(selected))
        return response

    def _cursor_page(
        self, request: Request, records: list[StoredRecord], low: int, high: int, field_filters: dict[str, Any]
    ) -> Response:
        if request.arg("offset") is not None or request.arg("limit") is not None:
            raise validation_failed({"$": ["pageToken and pageSize cannot be combined with offset and limit."]})
        size = _limit(request, "pageSize")
        after = _decode_token(request.arg("pageToken"))
        start = _first_after(records, after)
        page: list[StoredRecord] = []
        position = start
        while position < len(records) and len(page) <= size:  # one more tells whether a next page exists
            record = records[position]
            if _matches(record, low, high, field_filters):
                page.append(record)
            position += 1
        response = Response(200, [r.document for r in page[:size]])
        if len(page) > size:
            response.headers["Next-Page-Token"] = _encode_token(page[size - 1].seq)
        return response

    def _deletes(self, request: Request) -> Response:
        low, high = _change_window(request)
        offset = int_arg(request, "offset", 0)
        limit = _limit(request, "limit")
        deleted = [d for d in self.store.deletes(request.match["resource"]) if low <= d["changeVersion"] <= high]
        response = Response(200, deleted[offset : offset + limit])
        if request.arg("totalCount", "false").lower() == "true":
            response.headers["Total-Count"] = str(len(deleted))
        return response

    def _key_changes(self, request: Request) -> Response:
        self.store.model(request.match["resource"])
        return Response(200, [])  # natural keys are never changed in place here

    # -- writes -----------------------------------------------------------------------------
    def _post(self, request: Request) -> Response:
        resource = request.match["resource"]
        try:
            document = request.json()
        except ValueError:
            raise validation_failed({"$": ["The request body is not valid JSON."]}) from None
        status, record = self.store.upsert(resource, document)
        location = f"{DATA_PATH}/{resource}/{record.id}"
        return Response(status, None, headers={"Location": location, "ETag": record.document["_etag"]})

    def _put(self, request: Request) -> Response:
        resource, record_id = request.match["resource"], request.match["id"]
        try:
            document = request.json()
        except ValueError:
            raise validation_failed({"$": ["The request body is not valid JSON."]}) from None
        if not isinstance(document, dict):
            raise validation_failed({"$": ["The request body must be a JSON object."]})
        document = {k: v for k, v in document.items() if k != "id"}
        record = self.store.update(resource, record_id, document)
        return Response(204, None, headers={"ETag": record.document["_etag"]})

    def _delete(self, request: Request) -> Response:
        self.store.delete(request.match["resource"], request.match["id"])
        return Response(204, None)


# -- paging and filters ----------------------------------------------------------------------
def _limit(request: Request, name: str) -> int:
    value = int_arg(request, name, DEFAULT_LIMIT, low=1)
    if value > MAX_LIMIT:
        raise validation_failed({name: [f"{name} must be omitted or set to a value between 1 and {MAX_LIMIT}."]})
    return value


def _change_window(request: Request) -> tuple[int, int]:
    low = int_arg(request, "minChangeVersion", 0)
    high = int_arg(request, "maxChangeVersion", 2**62)
    return low, high


RESERVED_PARAMETERS = {
    "offset",
    "limit",
    "totalCount",
    "minChangeVersion",
    "maxChangeVersion",
    "pageToken",
    "pageSize",
    "Snapshot",
}


def _field_filters(request: Request, resource: str) -> dict[str, Any]:
    """Query by example on top-level scalar properties (`?schoolId=255901001`)."""
    filters: dict[str, Any] = {}
    for name in request.query:
        if name in RESERVED_PARAMETERS:
            continue
        filters[name] = request.arg(name)
    return filters


def _matches(record: StoredRecord, low: int, high: int, field_filters: dict[str, Any]) -> bool:
    if not low <= record.change_version <= high:
        return False
    return all(str(_scalar(record.document, name)) == value for name, value in field_filters.items())


def _scalar(document: dict[str, Any], name: str) -> Any:
    if name in document:
        return document[name]
    for value in document.values():  # a property of a reference: studentUniqueId, schoolId...
        if isinstance(value, dict) and name in value:
            return value[name]
    return None


def _select(records: list[StoredRecord], low: int, high: int, field_filters: dict[str, Any]) -> list[StoredRecord]:
    if low == 0 and high >= 2**62 and not field_filters:
        return records
    return [r for r in records if _matches(r, low, high, field_filters)]


def _first_after(records: list[StoredRecord], seq: int) -> int:
    lo, hi = 0, len(records)
    while lo < hi:  # records are in ascending seq order
        mid = (lo + hi) // 2
        if records[mid].seq <= seq:
            lo = mid + 1
        else:
            hi = mid
    return lo


def _encode_token(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": seq}).encode()).decode().rstrip("=")


def _decode_token(token: str | None) -> int:
    if token is None:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))["after"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise validation_failed({"pageToken": ["The page token is not valid."]}) from None


# -- the district as the ODS holds it -----------------------------------------------------
def build_simulator(
    truth: dict[str, pa.Table],
    config: DistrictConfig,
    clients: dict[str, str],
    *,
    faults: Faults | None = None,
    port: int = 0,
) -> EdfiApi:
    store = EdfiStore()
    for resource, document in district_documents(truth, config):
        store.upsert(resource, document)
    return EdfiApi(store, clients=clients, faults=faults, port=port)


def school_id(lea_id: str, school_number: int) -> int:
    """Ed-Fi schoolIds are 32-bit integers: the LEA's number and the school's, e.g. 600001101."""
    digits = "".join(ch for ch in lea_id if ch.isdigit()) or "0"
    return int(digits[-6:]) * 1000 + int(school_number) % 1000


def lea_number(lea_id: str) -> int:
    return int("".join(ch for ch in lea_id if ch.isdigit())[-9:] or "0")


def edfi_students(truth: dict[str, pa.Table]) -> list[dict[str, Any]]:
    """The ODS's own record of each student (system 'edfi' of system_students, whose
    system_person_id is the state ID); derived from the SIS truth when that table is absent."""
    system_students = truth.get("system_students")
    if system_students is not None:
        rows = system_students.filter(pc.equal(system_students["system"], "edfi")).to_pylist()
        if rows:
            return rows
    return [
        {**row, "system_person_id": row["state_id"], "sis_id": row["local_id"]}
        for row in truth["students"].to_pylist()
        if row["state_id"]
    ]


def edfi_staff(truth: dict[str, pa.Table]) -> list[dict[str, Any]]:
    system_staff = truth.get("system_staff")
    if system_staff is not None:
        rows = system_staff.filter(pc.equal(system_staff["system"], "edfi")).to_pylist()
        if rows:
            return rows
    return [
        {**row, "system_person_id": row["staff_id"], "sis_id": row["staff_id"]} for row in truth["staff"].to_pylist()
    ]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _grade(code: str) -> str:
    return descriptor_uri("gradeLevel", GRADE_LEVELS.get(code, "Ungraded"))


def _hash_id(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def district_documents(truth: dict[str, pa.Table], config: DistrictConfig) -> Iterator[tuple[str, dict[str, Any]]]:
    """(resource, document) pairs for the whole district, in dependency order."""
    district = config.district
    lea = lea_number(district.lea_id)
    yield from _descriptors(truth)
    yield (
        "localEducationAgencies",
        {
            "localEducationAgencyId": lea,
            "nameOfInstitution": district.name,
            "localEducationAgencyCategoryDescriptor": descriptor_uri(
                "localEducationAgencyCategory", "Regular public school district"
            ),
            "categories": [
                {
                    "educationOrganizationCategoryDescriptor": descriptor_uri(
                        "educationOrganizationCategory", "Local Education Agency"
                    )
                }
            ],
        },
    )
    schools = {row["sourced_id"]: row for row in truth["schools"].to_pylist()}
    school_ids = {sid: school_id(district.lea_id, row["school_number"]) for sid, row in schools.items()}
    grade_order = list(GRADE_LEVELS)
    for sourced_id, row in schools.items():
        low, high = grade_order.index(row["low_grade"]), grade_order.index(row["high_grade"])
        yield (
            "schools",
            {
                "schoolId": school_ids[sourced_id],
                "nameOfInstitution": row["name"],
                "shortNameOfInstitution": row["name"].split()[0],
                "localEducationAgencyReference": {"localEducationAgencyId": lea},
                "educationOrganizationCategories": [
                    {
                        "educationOrganizationCategoryDescriptor": descriptor_uri(
                            "educationOrganizationCategory", "School"
                        )
                    }
                ],
                "gradeLevels": [{"gradeLevelDescriptor": _grade(g)} for g in grade_order[low : high + 1]],
                "identificationCodes": [],
            },
        )

    sessions = _sessions(truth)
    for sourced_id in schools:
        for session in sessions:
            yield (
                "sessions",
                {
                    "schoolReference": {"schoolId": school_ids[sourced_id]},
                    "schoolYearTypeReference": {"schoolYear": session["school_year"]},
                    "sessionName": session["title"],
                    "beginDate": _iso(session["start_date"]),
                    "endDate": _iso(session["end_date"]),
                    "termDescriptor": descriptor_uri("term", session["term"]),
                    "totalInstructionalDays": session["instructional_days"],
                },
            )
    year_session = next(s for s in sessions if s["term"] == "Year Round")
    school_year = year_session["school_year"]

    courses = {row["sourced_id"]: row for row in truth["courses"].to_pylist()}
    for row in courses.values():
        yield (
            "courses",
            {
                "courseCode": row["course_code"],
                "educationOrganizationReference": {"educationOrganizationId": school_ids[row["school_sourced_id"]]},
                "courseTitle": row["title"],
                "numberOfParts": 1,
                "academicSubjects": [
                    {
                        "academicSubjectDescriptor": descriptor_uri(
                            "academicSubject", SUBJECTS.get(row["subject"], "Other")
                        )
                    }
                ],
                "identificationCodes": [
                    {
                        "courseIdentificationSystemDescriptor": descriptor_uri(
                            "courseIdentificationSystem", "LEA course code"
                        ),
                        "identificationCode": row["course_code"],
                    }
                ],
            },
        )
        yield (
            "courseOfferings",
            {
                "localCourseCode": row["course_code"],
                "localCourseTitle": row["title"],
                "courseReference": {
                    "courseCode": row["course_code"],
                    "educationOrganizationId": school_ids[row["school_sourced_id"]],
                },
                "schoolReference": {"schoolId": school_ids[row["school_sourced_id"]]},
                "sessionReference": {
                    "schoolId": school_ids[row["school_sourced_id"]],
                    "schoolYear": school_year,
                    "sessionName": year_session["title"],
                },
            },
        )
    section_refs: dict[str, dict[str, Any]] = {}
    for row in truth["sections"].to_pylist():
        course = courses[row["course_sourced_id"]]
        reference = {
            "sectionIdentifier": row["sourced_id"],
            "localCourseCode": course["course_code"],
            "schoolId": school_ids[row["school_sourced_id"]],
            "schoolYear": school_year,
            "sessionName": year_session["title"],
        }
        section_refs[row["sourced_id"]] = reference
        yield (
            "sections",
            {
                "sectionIdentifier": row["sourced_id"],
                "sectionName": row["title"],
                "courseOfferingReference": {k: v for k, v in reference.items() if k != "sectionIdentifier"},
                "sequenceOfCourse": 1,
            },
        )

    staff_ids: dict[str, str] = {}
    for row in edfi_staff(truth):
        staff_ids[row["person_id"]] = row["system_person_id"]
        yield (
            "staffs",
            {"staffUniqueId": row["system_person_id"], "firstName": row["first_name"], "lastSurname": row["last_name"]},
        )

    student_truth = {row["person_id"]: row for row in truth["students"].to_pylist()}
    student_ids: dict[str, str] = {}
    for row in edfi_students(truth):
        student_ids[row["person_id"]] = row["system_person_id"]
        document = {
            "studentUniqueId": row["system_person_id"],
            "firstName": row["first_name"],
            "lastSurname": row["last_name"],
            "birthDate": _iso(row["birth_date"]),
        }
        if row.get("middle_name"):
            document["middleName"] = row["middle_name"]
        yield "students", document
    yield from _student_details(student_truth, student_ids, lea, district.lea_id, _iso(year_session["start_date"]))

    grades = {pid: row["grade_level"] for pid, row in student_truth.items()}
    for row in truth["school_enrollments"].to_pylist():
        if row["person_id"] not in student_ids:
            continue
        document = {
            "studentReference": {"studentUniqueId": student_ids[row["person_id"]]},
            "schoolReference": {"schoolId": school_ids[row["school_sourced_id"]]},
            "entryDate": _iso(row["entry_date"]),
            "entryGradeLevelDescriptor": _grade(grades[row["person_id"]]),
            "entryTypeDescriptor": descriptor_uri("entryType", ENTRY_TYPES.get(row["entry_type"], "Next year school")),
        }
        if row["exit_date"] is not None:
            document["exitWithdrawDate"] = _iso(row["exit_date"])
            if row["exit_type"] in EXIT_TYPES:
                document["exitWithdrawTypeDescriptor"] = descriptor_uri(
                    "exitWithdrawType", EXIT_TYPES[row["exit_type"]]
                )
        yield "studentSchoolAssociations", document

    for row in truth["section_enrollments"].to_pylist():
        if row["person_id"] not in student_ids:
            continue
        document = {
            "studentReference": {"studentUniqueId": student_ids[row["person_id"]]},
            "sectionReference": section_refs[row["section_sourced_id"]],
            "beginDate": _iso(row["begin_date"]),
        }
        if row["end_date"] is not None:
            document["endDate"] = _iso(row["end_date"])
        yield "studentSectionAssociations", document

    for row in truth["staff_assignments"].to_pylist():
        if row["person_id"] not in staff_ids:
            continue
        yield (
            "staffSectionAssociations",
            {
                "staffReference": {"staffUniqueId": staff_ids[row["person_id"]]},
                "sectionReference": section_refs[row["section_sourced_id"]],
                "beginDate": _iso(row["begin_date"]),
                "classroomPositionDescriptor": descriptor_uri("classroomPosition", "Teacher of Record"),
            },
        )

    semesters = [s for s in sessions if s["term"] != "Year Round"]
    for row in truth["attendance_events"].to_pylist():
        if row["person_id"] not in student_ids:
            continue
        day = row["attendance_date"]
        session = next((s for s in semesters if s["start_date"] <= day <= s["end_date"]), year_session)
        yield (
            "studentSchoolAttendanceEvents",
            {
                "studentReference": {"studentUniqueId": student_ids[row["person_id"]]},
                "schoolReference": {"schoolId": school_ids[row["school_sourced_id"]]},
                "sessionReference": {
                    "schoolId": school_ids[row["school_sourced_id"]],
                    "schoolYear": session["school_year"],
                    "sessionName": session["title"],
                },
                "eventDate": _iso(day),
                "attendanceEventCategoryDescriptor": descriptor_uri(
                    "attendanceEventCategory", ATTENDANCE_CATEGORIES.get(row["code"], "Unexcused Absence")
                ),
            },
        )
    yield from _assessments(truth, student_ids, grades)


def _sessions(truth: dict[str, pa.Table]) -> list[dict[str, Any]]:
    """The school year and its semesters as Ed-Fi sessions, with their instructional days."""
    days = [row["calendar_date"] for row in truth["calendar"].to_pylist() if row["is_instructional"]]
    terms = {"schoolYear": "Year Round"}
    out = []
    for row in truth["sessions"].to_pylist():
        if row["type"] == "semester":
            term = "Fall Semester" if row["start_date"].month >= 7 else "Spring Semester"
        elif row["type"] in terms:
            term = terms[row["type"]]
        else:
            continue
        count = sum(1 for d in days if row["start_date"] <= d <= row["end_date"])
        out.append({**row, "term": term, "instructional_days": count})
    return out


def _student_details(
    student_truth: dict[str, dict[str, Any]], student_ids: dict[str, str], lea: int, lea_id: str, year_start: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Demographics on studentEducationOrganizationAssociations, programs on
    studentProgramAssociations: where Ed-Fi Data Standard 5 keeps them."""
    for name, code in PROGRAMS.values():
        yield (
            "programs",
            {
                "educationOrganizationReference": {"educationOrganizationId": lea},
                "programName": name,
                "programTypeDescriptor": descriptor_uri("programType", code),
            },
        )
    for person_id, unique_id in student_ids.items():
        row = student_truth[person_id]
        sex = {"male": "Male", "female": "Female", "non-binary": "Non-binary"}.get(row["sex"], "Not Selected")
        document = {
            "studentReference": {"studentUniqueId": unique_id},
            "educationOrganizationReference": {"educationOrganizationId": lea},
            "sexDescriptor": descriptor_uri("sex", sex),
            "hispanicLatinoEthnicity": bool(row["hispanic_or_latino"]),
            "races": [{"raceDescriptor": uri} for flag, uri in race_descriptors().items() if row[flag]],
            "limitedEnglishProficiencyDescriptor": descriptor_uri(
                "limitedEnglishProficiency", "Limited" if row["english_learner"] else "NotLimited"
            ),
            "studentCharacteristics": [
                {"studentCharacteristicDescriptor": descriptor_uri("studentCharacteristic", code)}
                for flag, code in CHARACTERISTICS.items()
                if row[flag]
            ],
            "studentIdentificationCodes": [
                {
                    "studentIdentificationSystemDescriptor": descriptor_uri("studentIdentificationSystem", "District"),
                    "assigningOrganizationIdentificationCode": lea_id,
                    "identificationCode": row["local_id"],
                },
                {
                    "studentIdentificationSystemDescriptor": descriptor_uri("studentIdentificationSystem", "State"),
                    "assigningOrganizationIdentificationCode": "State",
                    "identificationCode": unique_id,
                },
            ],
        }
        yield "studentEducationOrganizationAssociations", document
        for flag, (name, code) in PROGRAMS.items():
            if row[flag]:
                yield (
                    "studentProgramAssociations",
                    {
                        "studentReference": {"studentUniqueId": unique_id},
                        "educationOrganizationReference": {"educationOrganizationId": lea},
                        "programReference": {
                            "educationOrganizationId": lea,
                            "programName": name,
                            "programTypeDescriptor": descriptor_uri("programType", code),
                        },
                        "beginDate": year_start,
                    },
                )


def _assessments(
    truth: dict[str, pa.Table], student_ids: dict[str, str], grades: dict[str, str]
) -> Iterator[tuple[str, dict[str, Any]]]:
    tables = [t for t in ("map_results", "iready_results", "state_results") if t in truth]
    seen: set[tuple[str, str]] = set()
    for table in tables:
        for row in truth[table].to_pylist():
            prefix, namespace, title = ASSESSMENTS[row["vendor"]]
            subject = SUBJECTS.get(row["subject"], "Other")
            identifier = f"{prefix}-{subject.replace(' ', '')}"
            if (identifier, namespace) not in seen:
                seen.add((identifier, namespace))
                yield (
                    "assessments",
                    {
                        "assessmentIdentifier": identifier,
                        "namespace": namespace,
                        "assessmentTitle": f"{title} {subject}",
                        "academicSubjects": [{"academicSubjectDescriptor": descriptor_uri("academicSubject", subject)}],
                    },
                )
            if row["person_id"] not in student_ids:
                continue
            scores = [("Scale score", row.get("rit", row.get("scale_score")))]
            if row.get("percentile") is not None:
                scores.append(("Percentile", row["percentile"]))
            document: dict[str, Any] = {
                "studentAssessmentIdentifier": _hash_id(
                    row["vendor"], row["person_id"], row["subject"], row["school_year"], row["season"]
                ),
                "assessmentReference": {"assessmentIdentifier": identifier, "namespace": namespace},
                "studentReference": {"studentUniqueId": student_ids[row["person_id"]]},
                "administrationDate": f"{_iso(row['test_date'])}T00:00:00Z",  # a day: its start, UTC
                "whenAssessedGradeLevelDescriptor": _grade(grades[row["person_id"]]),
                "scoreResults": [
                    {
                        "assessmentReportingMethodDescriptor": descriptor_uri("assessmentReportingMethod", method),
                        "resultDatatypeTypeDescriptor": descriptor_uri("resultDatatypeType", "Integer"),
                        "result": str(value),
                    }
                    for method, value in scores
                    if value is not None
                ],
            }
            if row.get("achievement_level"):
                document["performanceLevels"] = [
                    {
                        "assessmentReportingMethodDescriptor": descriptor_uri(
                            "assessmentReportingMethod", "Achievement/proficiency level"
                        ),
                        "performanceLevelDescriptor": descriptor_uri(
                            "performanceLevel", PERFORMANCE_LEVELS[int(row["achievement_level"])]
                        ),
                    }
                ]
            yield "studentAssessments", document


def _descriptors(truth: dict[str, pa.Table]) -> Iterator[tuple[str, dict[str, Any]]]:
    yield from default_descriptor_documents()
