"""The Ed-Fi resource model and an in-memory ODS that enforces it.

Each resource is described by its natural key, required fields, references to other resources
and descriptor-valued fields (Ed-Fi Data Standard 5, the subset the district's data needs).
:class:`EdfiStore` holds documents the way an ODS/API 7.x does: POST upserts by natural key, a
global change version stamped on every write, a log of deletions for change queries, and
validation answering 400 (a required field missing or malformed) or 409 (a reference or
descriptor that does not resolve). The simulator serves it; later, published data is loaded
into it and read back from it.
"""

from __future__ import annotations

import copy
import functools
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from interop_pipeline.connectors import edfi_standard

ED_FI_NAMESPACE = "uri://ed-fi.org"


@dataclass(frozen=True)
class Reference:
    """A reference object (`studentReference`) whose properties, in order, are the natural key of
    one of the target resources (an education organization may be a school or an LEA)."""

    field: str
    targets: tuple[str, ...]
    properties: tuple[str, ...]
    required: bool = True


@dataclass(frozen=True)
class ResourceModel:
    name: str  # the URL segment, e.g. "studentSchoolAssociations"
    title: str  # the entity name errors use, e.g. "StudentSchoolAssociation"
    key: tuple[str, ...]  # dotted paths into the document
    required: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()
    descriptors: tuple[tuple[str, str], ...] = ()  # (path with [] for arrays, descriptor resource)
    dates: tuple[str, ...] = ()
    is_descriptor: bool = False


def _ref(name: str, target: str, *properties: str, required: bool = True) -> Reference:
    return Reference(name, (target,), properties, required)


SECTION_KEY = ("sectionIdentifier", "localCourseCode", "schoolId", "schoolYear", "sessionName")
EDORG_REFERENCE = Reference(
    "educationOrganizationReference", ("schools", "localEducationAgencies"), ("educationOrganizationId",)
)


def _descriptor_type(name: str) -> str:
    """`RaceDescriptor` → `race`, as the descriptor resources are named (`raceDescriptors`)."""
    stem = name.removesuffix("Descriptor")
    return stem[0].lower() + stem[1:]


# The descriptors the project uses: those of Ed-Fi's default sets the seed holds.
DESCRIPTOR_TYPES = tuple(
    dict.fromkeys(_descriptor_type(row["descriptor_name"]) for row in edfi_standard.descriptor_rows())
)


def descriptor_resource(descriptor_type: str) -> str:
    return f"{descriptor_type}Descriptors"


def descriptor_namespace(descriptor_type: str, base: str = ED_FI_NAMESPACE) -> str:
    return f"{base}/{descriptor_type[0].upper()}{descriptor_type[1:]}Descriptor"


def descriptor_uri(descriptor_type: str, code: str) -> str:
    return f"{descriptor_namespace(descriptor_type)}#{code}"


def _descriptor_model(descriptor_type: str) -> ResourceModel:
    return ResourceModel(
        name=descriptor_resource(descriptor_type),
        title=f"{descriptor_type[0].upper()}{descriptor_type[1:]}Descriptor",
        key=("namespace", "codeValue"),
        required=("shortDescription",),
        is_descriptor=True,
    )


D = descriptor_resource
RESOURCE_MODELS: dict[str, ResourceModel] = {
    model.name: model
    for model in (
        ResourceModel(
            "localEducationAgencies",
            "LocalEducationAgency",
            ("localEducationAgencyId",),
            ("nameOfInstitution", "localEducationAgencyCategoryDescriptor", "categories"),
            descriptors=(
                ("localEducationAgencyCategoryDescriptor", D("localEducationAgencyCategory")),
                ("categories[].educationOrganizationCategoryDescriptor", D("educationOrganizationCategory")),
            ),
        ),
        ResourceModel(
            "schools",
            "School",
            ("schoolId",),
            ("nameOfInstitution", "gradeLevels", "educationOrganizationCategories"),
            (
                _ref(
                    "localEducationAgencyReference", "localEducationAgencies", "localEducationAgencyId", required=False
                ),
            ),
            (
                ("gradeLevels[].gradeLevelDescriptor", D("gradeLevel")),
                (
                    "educationOrganizationCategories[].educationOrganizationCategoryDescriptor",
                    D("educationOrganizationCategory"),
                ),
            ),
        ),
        ResourceModel(
            "sessions",
            "Session",
            ("schoolReference.schoolId", "schoolYearTypeReference.schoolYear", "sessionName"),
            ("termDescriptor", "beginDate", "endDate", "totalInstructionalDays"),
            (_ref("schoolReference", "schools", "schoolId"),),
            (("termDescriptor", D("term")),),
            ("beginDate", "endDate"),
        ),
        ResourceModel(
            "courses",
            "Course",
            ("courseCode", "educationOrganizationReference.educationOrganizationId"),
            ("courseTitle", "numberOfParts", "identificationCodes"),
            (EDORG_REFERENCE,),
            (
                ("identificationCodes[].courseIdentificationSystemDescriptor", D("courseIdentificationSystem")),
                ("academicSubjects[].academicSubjectDescriptor", D("academicSubject")),
            ),
        ),
        ResourceModel(
            "courseOfferings",
            "CourseOffering",
            (
                "localCourseCode",
                "schoolReference.schoolId",
                "sessionReference.schoolYear",
                "sessionReference.sessionName",
            ),
            (),
            (
                _ref("courseReference", "courses", "courseCode", "educationOrganizationId"),
                _ref("schoolReference", "schools", "schoolId"),
                _ref("sessionReference", "sessions", "schoolId", "schoolYear", "sessionName"),
            ),
        ),
        ResourceModel(
            "sections",
            "Section",
            ("sectionIdentifier", *(f"courseOfferingReference.{p}" for p in SECTION_KEY[1:])),
            (),
            (_ref("courseOfferingReference", "courseOfferings", *SECTION_KEY[1:]),),
        ),
        ResourceModel("staffs", "Staff", ("staffUniqueId",), ("firstName", "lastSurname")),
        ResourceModel(
            "students", "Student", ("studentUniqueId",), ("firstName", "lastSurname", "birthDate"), dates=("birthDate",)
        ),
        ResourceModel(
            "programs",
            "Program",
            ("educationOrganizationReference.educationOrganizationId", "programName", "programTypeDescriptor"),
            (),
            (EDORG_REFERENCE,),
            (("programTypeDescriptor", D("programType")),),
        ),
        ResourceModel(
            "studentSchoolAssociations",
            "StudentSchoolAssociation",
            ("studentReference.studentUniqueId", "schoolReference.schoolId", "entryDate"),
            ("entryGradeLevelDescriptor",),
            (_ref("studentReference", "students", "studentUniqueId"), _ref("schoolReference", "schools", "schoolId")),
            (
                ("entryGradeLevelDescriptor", D("gradeLevel")),
                ("entryTypeDescriptor", D("entryType")),
                ("exitWithdrawTypeDescriptor", D("exitWithdrawType")),
            ),
            ("entryDate", "exitWithdrawDate"),
        ),
        ResourceModel(
            "studentSectionAssociations",
            "StudentSectionAssociation",
            ("studentReference.studentUniqueId", *(f"sectionReference.{p}" for p in SECTION_KEY), "beginDate"),
            (),
            (
                _ref("studentReference", "students", "studentUniqueId"),
                _ref("sectionReference", "sections", *SECTION_KEY),
            ),
            dates=("beginDate", "endDate"),
        ),
        ResourceModel(
            "staffSectionAssociations",
            "StaffSectionAssociation",
            ("staffReference.staffUniqueId", *(f"sectionReference.{p}" for p in SECTION_KEY), "beginDate"),
            ("classroomPositionDescriptor",),
            (_ref("staffReference", "staffs", "staffUniqueId"), _ref("sectionReference", "sections", *SECTION_KEY)),
            (("classroomPositionDescriptor", D("classroomPosition")),),
            ("beginDate", "endDate"),
        ),
        ResourceModel(
            "studentEducationOrganizationAssociations",
            "StudentEducationOrganizationAssociation",
            ("studentReference.studentUniqueId", "educationOrganizationReference.educationOrganizationId"),
            (),
            (_ref("studentReference", "students", "studentUniqueId"), EDORG_REFERENCE),
            (
                ("sexDescriptor", D("sex")),
                ("races[].raceDescriptor", D("race")),
                ("limitedEnglishProficiencyDescriptor", D("limitedEnglishProficiency")),
                ("studentCharacteristics[].studentCharacteristicDescriptor", D("studentCharacteristic")),
                (
                    "studentIdentificationCodes[].studentIdentificationSystemDescriptor",
                    D("studentIdentificationSystem"),
                ),
            ),
        ),
        ResourceModel(
            "studentProgramAssociations",
            "StudentProgramAssociation",
            (
                "studentReference.studentUniqueId",
                "beginDate",
                "educationOrganizationReference.educationOrganizationId",
                "programReference.educationOrganizationId",
                "programReference.programName",
                "programReference.programTypeDescriptor",
            ),
            (),
            (
                _ref("studentReference", "students", "studentUniqueId"),
                EDORG_REFERENCE,
                _ref("programReference", "programs", "educationOrganizationId", "programName", "programTypeDescriptor"),
            ),
            (("programReference.programTypeDescriptor", D("programType")),),
            ("beginDate", "endDate"),
        ),
        ResourceModel(
            "studentSchoolAttendanceEvents",
            "StudentSchoolAttendanceEvent",
            (
                "studentReference.studentUniqueId",
                "schoolReference.schoolId",
                "sessionReference.schoolYear",
                "sessionReference.sessionName",
                "eventDate",
                "attendanceEventCategoryDescriptor",
            ),
            (),
            (
                _ref("studentReference", "students", "studentUniqueId"),
                _ref("schoolReference", "schools", "schoolId"),
                _ref("sessionReference", "sessions", "schoolId", "schoolYear", "sessionName"),
            ),
            (("attendanceEventCategoryDescriptor", D("attendanceEventCategory")),),
            ("eventDate",),
        ),
        ResourceModel(
            "assessments",
            "Assessment",
            ("assessmentIdentifier", "namespace"),
            ("assessmentTitle", "academicSubjects"),
            descriptors=(
                ("academicSubjects[].academicSubjectDescriptor", D("academicSubject")),
                ("assessedGradeLevels[].gradeLevelDescriptor", D("gradeLevel")),
            ),
        ),
        ResourceModel(
            "objectiveAssessments",
            "ObjectiveAssessment",
            ("identificationCode", "assessmentReference.assessmentIdentifier", "assessmentReference.namespace"),
            (),
            (_ref("assessmentReference", "assessments", "assessmentIdentifier", "namespace"),),
            (
                ("scores[].assessmentReportingMethodDescriptor", D("assessmentReportingMethod")),
                ("scores[].resultDatatypeTypeDescriptor", D("resultDatatypeType")),
                ("performanceLevels[].assessmentReportingMethodDescriptor", D("assessmentReportingMethod")),
                ("performanceLevels[].performanceLevelDescriptor", D("performanceLevel")),
            ),
        ),
        ResourceModel(
            "studentAssessments",
            "StudentAssessment",
            (
                "studentAssessmentIdentifier",
                "assessmentReference.assessmentIdentifier",
                "assessmentReference.namespace",
                "studentReference.studentUniqueId",
            ),
            ("administrationDate",),
            (
                _ref("assessmentReference", "assessments", "assessmentIdentifier", "namespace"),
                _ref("studentReference", "students", "studentUniqueId"),
            ),
            (
                ("whenAssessedGradeLevelDescriptor", D("gradeLevel")),
                ("scoreResults[].assessmentReportingMethodDescriptor", D("assessmentReportingMethod")),
                ("scoreResults[].resultDatatypeTypeDescriptor", D("resultDatatypeType")),
                ("performanceLevels[].assessmentReportingMethodDescriptor", D("assessmentReportingMethod")),
                ("performanceLevels[].performanceLevelDescriptor", D("performanceLevel")),
            ),
            ("administrationDate",),
        ),
        *(_descriptor_model(t) for t in DESCRIPTOR_TYPES),
    )
}

# Dependency order (the ODS's /metadata/data/v3/dependencies): a resource after what it references.
LOAD_ORDER = tuple(m.name for m in RESOURCE_MODELS.values() if m.is_descriptor) + tuple(
    m.name for m in RESOURCE_MODELS.values() if not m.is_descriptor
)
META_FIELDS = ("id", "_etag", "_lastModifiedDate")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$")


class EdfiProblem(Exception):
    """An answer the ODS/API gives as RFC 9457 problem details."""

    def __init__(
        self, status: int, kind: str, title: str, detail: str, validation_errors: dict[str, list[str]] | None = None
    ):
        super().__init__(detail)
        self.status, self.kind, self.title, self.detail = status, kind, title, detail
        self.validation_errors = validation_errors

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "detail": self.detail,
            "type": f"urn:ed-fi:api:{self.kind}",
            "title": self.title,
            "status": self.status,
            "correlationId": uuid.uuid4().hex,
        }
        if self.validation_errors:
            body["validationErrors"] = self.validation_errors
        return body


def validation_failed(errors: dict[str, list[str]]) -> EdfiProblem:
    return EdfiProblem(
        400,
        "bad-request:data-validation-failed",
        "Data Validation Failed",
        "Data validation failed. See 'validationErrors' for details.",
        errors,
    )


def unresolved_reference(title: str) -> EdfiProblem:
    return EdfiProblem(
        409,
        "conflict:unresolved-reference",
        "Resolve Reference Failure",
        f"The referenced '{title}' resource does not exist.",
    )


def not_found() -> EdfiProblem:
    return EdfiProblem(404, "not-found", "Not Found", "The specified data could not be found.")


@functools.cache
def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    return tuple((step.removesuffix("[]"), step.endswith("[]")) for step in path.split("."))


def get_path(document: Any, path: str) -> Iterator[Any]:
    """Every value at a dotted path; `name[]` steps into each item of an array."""
    values = [document]
    for name, many in _steps(path):
        next_values = []
        for value in values:
            item = value.get(name) if isinstance(value, dict) else None
            if item is None:
                continue
            if many:
                next_values.extend(item if isinstance(item, list) else [])
            else:
                next_values.append(item)
        values = next_values
    return iter(values)


def _first(document: Any, path: str) -> Any:
    value = document
    for name, many in _steps(path):
        if many:
            return next(get_path(document, path), None)
        value = value.get(name) if isinstance(value, dict) else None
        if value is None:
            return None
    return value


@dataclass
class StoredRecord:
    seq: int  # insertion order: the stable order reads page through
    key: tuple
    document: dict[str, Any]  # as served: the body plus id, _etag, _lastModifiedDate
    change_version: int

    @property
    def id(self) -> str:
        return self.document["id"]


@dataclass
class _Collection:
    by_key: dict[tuple, StoredRecord] = field(default_factory=dict)
    by_id: dict[str, StoredRecord] = field(default_factory=dict)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    _ordered: list[StoredRecord] | None = None

    def ordered(self) -> list[StoredRecord]:
        if self._ordered is None:  # dict order is insertion order; an update keeps its place
            self._ordered = list(self.by_key.values())
        return self._ordered


class EdfiStore:
    """The documents an ODS holds, by resource. Thread-safe; every write bumps the change version.

    Every document is checked as a stock ODS/API checks it: against its resource's Ed-Fi JSON
    schema (edfi_standard), and every descriptor must be an Ed-Fi default or in one of the
    `district_namespaces` (e.g. `uri://district.example.org/`); either failing is a 400."""

    def __init__(self, models: dict[str, ResourceModel] | None = None, *, district_namespaces: tuple[str, ...] = ()):
        self.models = models or RESOURCE_MODELS
        self.district_namespaces = district_namespaces
        self._schema_resources = frozenset(edfi_standard.schema_resources())
        self._collections = {name: _Collection() for name in self.models}
        self._lock = threading.RLock()
        self._seq = 0
        self.change_version = 0  # the newest change version handed out

    # -- reads ------------------------------------------------------------------------------
    def model(self, resource: str) -> ResourceModel:
        if resource not in self.models:
            raise not_found()
        return self.models[resource]

    def records(self, resource: str) -> list[StoredRecord]:
        """Every record of a resource in its stable order (a snapshot list; do not mutate)."""
        self.model(resource)
        with self._lock:
            return self._collections[resource].ordered()

    def documents(self, resource: str) -> list[dict[str, Any]]:
        """What the store holds for a resource, exactly as served, in serving order."""
        return [copy.deepcopy(record.document) for record in self.records(resource)]

    def get(self, resource: str, record_id: str) -> StoredRecord:
        with self._lock:
            record = self._collections[self.model(resource).name].by_id.get(record_id)
        if record is None:
            raise not_found()
        return record

    def find(self, resource: str, key: tuple) -> StoredRecord | None:
        with self._lock:
            return self._collections[resource].by_key.get(key)

    def deletes(self, resource: str) -> list[dict[str, Any]]:
        self.model(resource)
        with self._lock:
            return list(self._collections[resource].deletes)

    def key_of(self, resource: str, document: dict[str, Any]) -> tuple:
        return tuple(_first(document, path) for path in self.model(resource).key)

    # -- writes -----------------------------------------------------------------------------
    def upsert(self, resource: str, document: dict[str, Any]) -> tuple[int, StoredRecord]:
        """POST semantics: insert (201) or update the record with the same natural key (200).
        A POST identical to what is stored changes nothing, not even the change version."""
        model = self.model(resource)
        if not isinstance(document, dict):
            raise validation_failed({"$": ["The request body must be a JSON object."]})
        if "id" in document:
            raise validation_failed({"$.id": ["Resource identifiers cannot be assigned by the client."]})
        body = {k: v for k, v in document.items() if k not in META_FIELDS}
        self._validate(model, body)
        key = self.key_of(resource, body)
        with self._lock:
            self._check_references(model, body)
            collection = self._collections[resource]
            existing = collection.by_key.get(key)
            if existing is not None:
                current = {k: v for k, v in existing.document.items() if k not in META_FIELDS}
                if current == body:
                    return 200, existing
                existing.document = self._stamp(body, existing.id)
                existing.change_version = self.change_version
                collection._ordered = None
                return 200, existing
            self._seq += 1
            record_id = uuid.uuid4().hex
            record = StoredRecord(self._seq, key, self._stamp(body, record_id), 0)
            record.change_version = self.change_version
            collection.by_key[key] = record
            collection.by_id[record_id] = record
            collection._ordered = None
            return 201, record

    def update(self, resource: str, record_id: str, changes: dict[str, Any]) -> StoredRecord:
        """Change non-key fields of a stored record (PUT semantics, used to simulate edits)."""
        with self._lock:
            record = self.get(resource, record_id)
            body = {k: v for k, v in record.document.items() if k not in META_FIELDS} | changes
            body = {k: v for k, v in body.items() if v is not None}  # None clears a property
            if self.key_of(resource, body) != record.key:
                raise validation_failed({"$": ["Key values cannot be changed by this request."]})
            status, updated = self.upsert(resource, body)
            return updated

    def delete(self, resource: str, record_id: str) -> None:
        """Remove a record, logging it for /deletes; refused (409) while others reference it."""
        model = self.model(resource)
        with self._lock:
            record = self.get(resource, record_id)
            referrer = self._referenced_by(resource, record.key)
            if referrer is not None:
                raise EdfiProblem(
                    409,
                    "conflict:dependent-item-exists",
                    "Dependent Item Exists",
                    f"The requested action cannot be performed because this item is referenced by an existing "
                    f"'{self.models[referrer].title}' item.",
                )
            collection = self._collections[resource]
            del collection.by_key[record.key]
            del collection.by_id[record.id]
            collection._ordered = None
            self.change_version += 1
            key_values = {path.rsplit(".", 1)[-1]: value for path, value in zip(model.key, record.key, strict=True)}
            collection.deletes.append({"id": record.id, "changeVersion": self.change_version, "keyValues": key_values})

    def _stamp(self, body: dict[str, Any], record_id: str) -> dict[str, Any]:
        self.change_version += 1
        now = datetime.now(UTC)
        return {
            "id": record_id,
            **json.loads(json.dumps(body)),  # a copy the caller cannot change (faster than deepcopy)
            "_etag": str(int(now.timestamp() * 10_000_000) + self.change_version),
            "_lastModifiedDate": now.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        }

    # -- validation -------------------------------------------------------------------------
    def _validate(self, model: ResourceModel, body: dict[str, Any]) -> None:
        errors: dict[str, list[str]] = {}

        def missing(path: str) -> None:
            errors.setdefault(f"$.{path}", []).append(f"{path.rsplit('.', 1)[-1]} is required.")

        for path in (*model.key, *model.required):
            value = _first(body, path)
            if value is None or value == "" or value == []:
                missing(path)
        for reference in model.references:
            value = body.get(reference.field)
            if value is None:
                if reference.required:
                    missing(reference.field)
                continue
            for prop in reference.properties:
                if not isinstance(value, dict) or value.get(prop) in (None, ""):
                    missing(f"{reference.field}.{prop}")
        for path in model.dates:
            for value in get_path(body, path):
                if not isinstance(value, str) or not _DATE.match(value) or not _valid_date(value[:10]):
                    errors.setdefault(f"$.{path}", []).append(f"{path} is not a valid date.")
        for path, _ in model.descriptors:
            for value in get_path(body, path):
                if not isinstance(value, str) or "#" not in value:
                    errors.setdefault(f"$.{path}", []).append(f"{path} must be a descriptor URI (namespace#codeValue).")
        if model.name in self._schema_resources:
            for path, problem in edfi_standard.document_problems(model.name, body, namespaces=self.district_namespaces):
                errors.setdefault(path, []).append(f"{model.title} {problem}.")
        if errors:
            raise validation_failed(errors)

    def _check_references(self, model: ResourceModel, body: dict[str, Any]) -> None:
        for reference in model.references:
            value = body.get(reference.field)
            if value is None:
                continue
            key = tuple(value[prop] for prop in reference.properties)
            if not any(self._collections[target].by_key.get(key) for target in reference.targets):
                raise unresolved_reference(self.models[reference.targets[0]].title)
        for path, descriptor in model.descriptors:
            for uri in get_path(body, path):
                namespace, _, code = uri.partition("#")
                if (namespace, code) not in self._collections[descriptor].by_key:
                    raise unresolved_reference(self.models[descriptor].title)

    def _referenced_by(self, resource: str, key: tuple) -> str | None:
        for model in self.models.values():
            for reference in model.references:
                if resource not in reference.targets:
                    continue
                for record in self._collections[model.name].by_key.values():
                    value = record.document.get(reference.field)
                    if value is not None and tuple(value.get(p) for p in reference.properties) == key:
                        return model.name
        return None


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
