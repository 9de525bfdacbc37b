"""What a declared vendor file means: the ``conformance`` section of a declaration, and the
conformed rows it lands beside the file's own rows.

A declaration says how to read a file (tabular.py); its conformance section says what the
rows are: who the student is (identifiers, names, birth date: for identity resolution), which
assessment was taken (identifier, title, subject, grade, date, school year, season), its score
results with their Ed-Fi reporting methods, its performance levels and which count as
proficient, and its objective assessments (domains, sub-scores). Every landed row is conformed
while the file streams and lands in the same batch as three system-independent entities:

``_assessment_results``
    one row per student result: the assessment, the student's id in this system, and the
    headline figures (scale score, percentile, standard error, first performance level);
``_assessment_scores``
    every score and performance level of the result and of its objectives, long;
``_student_records``
    each distinct student record the file holds (an identity record per system id).

dbt reads these for every system at once (staging/declared), so a vendor added by one YAML
file reaches the facts, identity resolution, the proficiency marts and the Ed-Fi output with
no SQL or Python of its own. Codes (subjects, reporting methods, datatypes, performance levels,
seasons) are checked against Ed-Fi's default descriptors when the declaration loads.
"""

from __future__ import annotations

import hashlib
import json
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from interop_pipeline.connectors import edfi_standard

if TYPE_CHECKING:
    from interop_pipeline.connectors.landing import EntityWriter, LandingBatch
    from interop_pipeline.connectors.tabular import FileDeclaration

RESULTS_ENTITY = "_assessment_results"
SCORES_ENTITY = "_assessment_scores"
STUDENTS_ENTITY = "_student_records"
CONFORMED_ENTITIES = (RESULTS_ENTITY, SCORES_ENTITY, STUDENTS_ENTITY)
CONFORMED_SOURCE = "declared"  # the dbt source that reads them for every system

RESULT_COLUMNS = [
    "result_id",
    "declaration",
    "entity",
    "mode",
    "student_id",
    "assessment_identifier",
    "assessment_title",
    "assessment_family",
    "assessment_version",
    "namespace",
    "vendor_name",
    "academic_subject",
    "grade_assessed",
    "administration_date",
    "school_year",
    "season",
    "scale_score",
    "percentile",
    "standard_error",
    "performance_level",
    "is_proficient",
]
SCORE_COLUMNS = [
    "result_id",
    "declaration",
    "entity",
    "mode",
    "objective",
    "kind",
    "reporting_method",
    "result_datatype",
    "result",
    "is_proficient",
]
STUDENT_COLUMNS = [
    "declaration",
    "entity",
    "mode",
    "student_id",
    "state_id",
    "district_id",
    "first_name",
    "middle_name",
    "last_name",
    "birth_date",
    "grade",
    "sex",
    "school",
    "street_address",
    "city",
    "postal_code",
    "phone",
    "guardian_name",
]
STUDENT_ROLES = STUDENT_COLUMNS[3:]
CONFORMED_COLUMNS = {RESULTS_ENTITY: RESULT_COLUMNS, SCORES_ENTITY: SCORE_COLUMNS, STUDENTS_ENTITY: STUDENT_COLUMNS}

# The headline columns of a result: the first score reported by each of these methods.
HEADLINE_METHODS = {
    "scale_score": ("Scale score", "RIT scale score", "Vertical Scale Score", "Adaptive scale score"),
    "percentile": ("Percentile", "Percentile rank", "National College-Bound Percentile"),
    "standard_error": ("Standard error measurement",),
}

# Season of a test date when the file gives none: the usual benchmark windows.
SEASON_BY_MONTH = {
    8: "Fall", 9: "Fall", 10: "Fall", 11: "Fall",
    12: "Winter", 1: "Winter", 2: "Winter",
    3: "Spring", 4: "Spring", 5: "Spring", 6: "Spring",
    7: "Summer",
}  # fmt: skip


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueRef(_Strict):
    """Where a conformed value comes from: a field, a constant, a template over fields, or a
    date field's school year or season. Written as a plain field name, or one of
    ``{value: X}``, ``{field: f, map: {raw: conformed}}``, ``{template: "MAP-{subject}"}``,
    ``{from_date: f}``."""

    field: str | None = None
    value: str | None = None
    template: str | None = None
    from_date: str | None = None
    map: dict[str, str | None] | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, raw: object) -> object:
        return {"field": raw} if isinstance(raw, str) else raw

    @model_validator(mode="after")
    def _one_source(self) -> ValueRef:
        given = [k for k in ("field", "value", "template", "from_date") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of field, value, template or from_date")
        if self.map is not None and self.field is None and self.template is None:
            raise ValueError("map applies to a field or a template")
        return self

    def fields(self) -> set[str]:
        if self.template is not None:
            return {name for _, name, _, _ in string.Formatter().parse(self.template) if name}
        return {name for name in (self.field, self.from_date) if name is not None}

    def constant(self) -> str | None:
        return self.value

    def mapped(self, raw: str | None) -> str | None:
        if raw is None or self.map is None:
            return raw
        folded = {k.strip().casefold(): v for k, v in self.map.items()}
        return folded.get(raw.strip().casefold(), raw)


Ref = Annotated[ValueRef, BeforeValidator(lambda v: {"field": v} if isinstance(v, str) else v)]


class StudentRoles(_Strict):
    """Which landed fields identify the student, and as what."""

    id: str = Field(description="this system's own student id (what the identity crosswalk keys on)")
    state_id: str | None = None
    district_id: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    last_name: str | None = None
    birth_date: str | None = None
    grade: str | None = None
    sex: str | None = None
    school: str | None = Field(default=None, description="the school's name or state id")
    # What systems share when ids are missing: identity compares each where the SIS has it too.
    street_address: str | None = None
    city: str | None = None
    postal_code: str | None = None
    phone: str | None = None
    guardian_name: str | None = Field(default=None, description="a parent's or guardian's full name")

    def role_fields(self) -> dict[str, str]:
        return {role: name for role, name in self.model_dump().items() if name is not None}


class AssessmentSpec(_Strict):
    identifier: Ref = Field(description="Ed-Fi assessmentIdentifier")
    title: Ref | None = None
    family: Ref | None = None
    version: Ref | None = None
    namespace: str = Field(pattern=r"^uri://", description="Ed-Fi namespace, e.g. uri://nwea.org/Assessment")
    vendor_name: str = Field(min_length=1, description="the publisher, e.g. NWEA")
    subject: Ref = Field(description="an Ed-Fi AcademicSubject code value, e.g. Mathematics")
    grade: Ref | None = None
    date: Ref | None = Field(default=None, description="administration date: a date field")
    school_year: Ref = Field(description="the school year's ending year, or {from_date: field}")
    season: Ref | None = None
    result_key: list[str] = Field(
        default_factory=list,
        description="fields that tell a student's results apart; default: the declaration's key",
    )

    def refs(self) -> dict[str, ValueRef]:
        names = ("identifier", "title", "family", "version", "subject", "grade", "date", "school_year", "season")
        return {name: ref for name in names if (ref := getattr(self, name)) is not None}


class ScoreSpec(_Strict):
    field: str
    method: str = Field(description="Ed-Fi AssessmentReportingMethod code value, e.g. Scale score")
    datatype: Literal["Decimal", "Integer", "Level", "Percentage", "Percentile", "Range"] = "Integer"


class LevelSpec(_Strict):
    field: str
    method: str = "Proficiency level"
    levels: dict[str, str] | None = Field(
        default=None, description="raw value -> Ed-Fi PerformanceLevel code value (else the raw value is sent)"
    )
    proficient: list[str] = Field(default_factory=list, description="raw values that count as proficient")

    def level_of(self, raw: str) -> str:
        if self.levels is None:
            return raw
        folded = {k.strip().casefold(): v for k, v in self.levels.items()}
        return folded.get(raw.strip().casefold(), raw)

    def is_proficient(self, raw: str) -> bool | None:
        if not self.proficient:
            return None
        return raw.strip().casefold() in {p.strip().casefold() for p in self.proficient}


class ObjectiveSpec(_Strict):
    """An objective assessment: a column group's members (one objective each) or plain fields."""

    group: str | None = None
    match: dict[str, str] = Field(
        default_factory=dict,
        description="group member field -> row field: only members whose value equals the row's "
        "(e.g. an unpivoted subject's own strands: {subject: subject})",
    )
    identifier: Ref
    scores: list[ScoreSpec] = Field(default_factory=list)
    performance_levels: list[LevelSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _reports_something(self) -> ObjectiveSpec:
        if not self.scores and not self.performance_levels:
            raise ValueError("an objective needs scores or performance_levels")
        return self


class Conformance(_Strict):
    student: StudentRoles
    assessment: AssessmentSpec | None = None
    scores: list[ScoreSpec] = Field(default_factory=list)
    performance_levels: list[LevelSpec] = Field(default_factory=list)
    objectives: list[ObjectiveSpec] = Field(default_factory=list)

    @model_validator(mode="after")
    def _results_need_an_assessment(self) -> Conformance:
        if (self.scores or self.performance_levels or self.objectives) and self.assessment is None:
            raise ValueError("scores, performance_levels and objectives need an assessment section")
        if self.assessment is not None and not (self.scores or self.performance_levels):
            raise ValueError("an assessment needs at least one score or performance level")
        return self


# --------------------------------------------------------------------------------------------
# Checking a conformance section against its declaration and Ed-Fi's code sets
# --------------------------------------------------------------------------------------------


@cache
def _edfi_codes(descriptor: str) -> frozenset[str]:
    return frozenset(edfi_standard.descriptor_codes(descriptor))


def check(conformance: Conformance, landed_columns: list[str], group_fields: dict[str, list[str]]) -> list[str]:
    """Problems of a conformance section: unknown fields and codes Ed-Fi does not define."""
    known = set(landed_columns)
    problems: list[str] = []

    def need(where: str, names: set[str], available: set[str] = known) -> None:
        for name in sorted(names - available):
            problems.append(f"{where}: {name!r} is not a landed field")

    def need_code(where: str, descriptor: str, code: str) -> None:
        if code not in _edfi_codes(descriptor):
            problems.append(f"{where}: {code!r} is not an Ed-Fi {descriptor} code value")

    for role, name in conformance.student.role_fields().items():
        need(f"conformance.student.{role}", {name})
    assessment = conformance.assessment
    if assessment is not None:
        for name, ref in assessment.refs().items():
            need(f"conformance.assessment.{name}", ref.fields())
        need("conformance.assessment.result_key", set(assessment.result_key))
        subjects = [assessment.subject.value] if assessment.subject.value else []
        subjects += [v for v in (assessment.subject.map or {}).values() if v is not None]
        for subject in subjects:
            need_code("conformance.assessment.subject", "AcademicSubjectDescriptor", subject)
        for season in [assessment.season.value] if assessment.season and assessment.season.value else []:
            need_code("conformance.assessment.season", "AssessmentPeriodDescriptor", season)
    for where, scores, levels, available in _reporting(conformance, known, group_fields):
        # Ed-Fi keys a result's scores, and its performance levels, by reporting method.
        for kind, specs in (("scores", scores), ("performance_levels", levels)):
            methods = [spec.method for spec in specs]
            for method in sorted({m for m in methods if methods.count(m) > 1}):
                problems.append(f"{where}{kind}: reporting method {method!r} used more than once (Ed-Fi keys by it)")
        for i, score in enumerate(scores):
            need(f"{where}scores[{i}].field", {score.field}, available)
            need_code(f"{where}scores[{i}].method", "AssessmentReportingMethodDescriptor", score.method)
        for i, level in enumerate(levels):
            need(f"{where}performance_levels[{i}].field", {level.field}, available)
            need_code(f"{where}performance_levels[{i}].method", "AssessmentReportingMethodDescriptor", level.method)
            for code in (level.levels or {}).values():
                need_code(f"{where}performance_levels[{i}].levels", "PerformanceLevelDescriptor", code)
    for i, objective in enumerate(conformance.objectives):
        if objective.group is not None and objective.group not in group_fields:
            problems.append(f"conformance.objectives[{i}].group: {objective.group!r} is not a column group")
        available = set(group_fields.get(objective.group, [])) | known if objective.group else known
        need(f"conformance.objectives[{i}].identifier", objective.identifier.fields(), available)
        if objective.match and objective.group is None:
            problems.append(f"conformance.objectives[{i}].match: applies to a group's members only")
        need(f"conformance.objectives[{i}].match", set(objective.match), set(group_fields.get(objective.group, [])))
        need(f"conformance.objectives[{i}].match", set(objective.match.values()))
    return problems


def _reporting(
    conformance: Conformance, known: set[str], group_fields: dict[str, list[str]]
) -> Iterator[tuple[str, list[ScoreSpec], list[LevelSpec], set[str]]]:
    yield "conformance.", conformance.scores, conformance.performance_levels, known
    for i, objective in enumerate(conformance.objectives):
        available = set(group_fields.get(objective.group, [])) | known if objective.group else known
        yield f"conformance.objectives[{i}].", objective.scores, objective.performance_levels, available


# --------------------------------------------------------------------------------------------
# Conforming rows while a file lands
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SchoolCalendar:
    """What a date alone says: its school year (by the district's rollover day) and season."""

    rollover_month: int = 7
    rollover_day: int = 1

    def school_year(self, day: date) -> int:
        # The school year is named by the year it ends in (Ed-Fi, OneRoster): 2024 for 2023-24.
        return day.year + 1 if (day.month, day.day) >= (self.rollover_month, self.rollover_day) else day.year

    @staticmethod
    def season(day: date) -> str:
        return SEASON_BY_MONTH[day.month]


class ConformingSinks:
    """The conformance layer's row sinks (tabular.RowSinks): one set of conformed writers per
    batch, shared by every declared file of that batch."""

    def __init__(self, calendar: SchoolCalendar | None = None):
        self.calendar = calendar or SchoolCalendar()

    def open(self, batch: LandingBatch) -> _BatchConformer:
        return _BatchConformer(batch, self.calendar)


class _BatchConformer:
    def __init__(self, batch: LandingBatch, calendar: SchoolCalendar):
        self._batch = batch
        self._calendar = calendar
        self._writers: dict[str, EntityWriter] = {}
        self._students_seen: set[bytes] = set()
        self.result_ids: dict[str, int] = {}

    def writer(self, entity: str, columns: list[str]) -> EntityWriter:
        if entity not in self._writers:
            self._writers[entity] = self._batch.entity_writer(entity, columns)
        return self._writers[entity]

    def sink(self, declaration: FileDeclaration) -> RowConformer | None:
        if declaration.conformance is None:
            return None
        return RowConformer(declaration, declaration.conformance, self, self._calendar)

    def close(self) -> None:
        for writer in self._writers.values():
            writer.close()


class RowConformer:
    """Conforms the landed rows of one declared file (a tabular.RowSink)."""

    def __init__(
        self, declaration: FileDeclaration, conformance: Conformance, batch: _BatchConformer, calendar: SchoolCalendar
    ):
        self.declaration = declaration
        self.conformance = conformance
        self.batch = batch
        self.calendar = calendar
        self.assessment = conformance.assessment
        self.lineage = [declaration.name, declaration.entity, declaration.mode]
        self.key_fields = self._key_fields()
        # Role → landed field, named as the _student_records columns are.
        roles = conformance.student.role_fields()
        self.student_roles = {("student_id" if role == "id" else role): name for role, name in roles.items()}
        # Resolved once per file, for the row loop: the landed field of each _student_records
        # column, a function per value reference (by id: the declaration outlives the file), and
        # each performance level's (level map, proficient values).
        self._student_fields = [self.student_roles.get(role) for role in STUDENT_ROLES]
        self._getters: dict[int, Callable[[dict[str, str | None]], str | None]] = {}
        self._levels: dict[int, tuple[dict[str, str] | None, frozenset[str] | None]] = {}

    def _key_fields(self) -> list[str]:
        assessment = self.assessment
        if assessment is not None and assessment.result_key:
            return [self.conformance.student.id, *assessment.result_key]
        key = self.declaration.record_key
        if key:
            return key if self.conformance.student.id in key else [self.conformance.student.id, *key]
        return []  # no key: the result's own identifying values (see add)

    def add(self, row: dict[str, str | None], source_ref: str) -> None:
        student_id = row.get(self.conformance.student.id)
        if student_id is None:
            return  # tabular rejects a null id when the field is not_null; else nothing to conform
        self._add_student(row)
        if self.assessment is not None:
            self._add_result(row, student_id, source_ref)

    def _add_student(self, row: dict[str, str | None]) -> None:
        values = [None if name is None else row.get(name) for name in self._student_fields]
        digest = hashlib.blake2b("\x1f".join(v or "" for v in values).encode(), digest_size=16).digest()
        if digest in self.batch._students_seen:
            return  # one identity record per distinct student record per batch
        self.batch._students_seen.add(digest)
        self.batch.writer(STUDENTS_ENTITY, STUDENT_COLUMNS).append([*self.lineage, *values], "")

    def _value(self, ref: ValueRef | None, row: dict[str, str | None]) -> str | None:
        if ref is None:
            return None
        getter = self._getters.get(id(ref))
        if getter is None:
            getter = self._getters[id(ref)] = _getter(ref)
        return getter(row)

    def _add_result(self, row: dict[str, str | None], student_id: str, source_ref: str) -> None:
        assessment = self.assessment
        assert assessment is not None
        administered = self._value(assessment.date, row)
        school_year = self._dated(assessment.school_year, row, self.calendar.school_year)
        season = self._dated(assessment.season, row, self.calendar.season)
        identity = {
            "assessment_identifier": self._value(assessment.identifier, row),
            "assessment_title": self._value(assessment.title, row),
            "assessment_family": self._value(assessment.family, row),
            "assessment_version": self._value(assessment.version, row),
            "namespace": assessment.namespace,
            "vendor_name": assessment.vendor_name,
            "academic_subject": self._value(assessment.subject, row),
            "grade_assessed": self._value(assessment.grade, row),
            "administration_date": administered,
            "school_year": school_year,
            "season": season,
        }
        if self.key_fields:
            natural = [row.get(name) or "" for name in self.key_fields]
        else:
            natural = [student_id, *(identity[k] or "" for k in ("assessment_identifier", "academic_subject"))]
            natural += [administered or "", school_year or "", season or ""]
        result_id = hashlib.sha256("\x1f".join([self.declaration.name, *natural]).encode()).hexdigest()[:32]
        # Rows the file does not tell apart (no key declared, or a key the rows share) stay
        # separate results: the n-th repeat in a batch gets its own id, the same on every load.
        repeats = self.batch.result_ids.get(result_id, 0)
        self.batch.result_ids[result_id] = repeats + 1
        if repeats:
            result_id = hashlib.sha256(f"{result_id}#{repeats + 1}".encode()).hexdigest()[:32]
        scores = list(self._scores(result_id, None, self.conformance.scores, self.conformance.performance_levels, row))
        headline = self._headline(scores)
        results = self.batch.writer(RESULTS_ENTITY, RESULT_COLUMNS)
        results.append(
            [result_id, *self.lineage, student_id, *identity.values(), *headline.values()],
            source_ref,
        )
        for i, objective in enumerate(self.conformance.objectives):
            for member in self._members(objective, row):
                name = self._value(objective.identifier, member) or f"objective_{i + 1}"
                scores += self._scores(result_id, name, objective.scores, objective.performance_levels, member)
        seen: set[tuple] = set()
        kept = []
        for score in scores:
            # Two objectives of a group can share an identifier: the first one's score stands.
            if (key := score[1:4]) not in seen:
                seen.add(key)
                kept.append([result_id, *self.lineage, *score[1:]])
        self.batch.writer(SCORES_ENTITY, SCORE_COLUMNS).extend(kept, source_ref)

    def _dated(self, ref: ValueRef | None, row: dict[str, str | None], rule) -> str | None:
        if ref is None or ref.from_date is None:
            return self._value(ref, row)
        raw = row.get(ref.from_date)
        if raw is None:
            return None
        try:
            return str(rule(date.fromisoformat(raw)))
        except ValueError:
            return None

    def _members(self, objective: ObjectiveSpec, row: dict[str, str | None]) -> Iterator[dict[str, str | None]]:
        if objective.group is None:
            yield row
            return
        text = row.get(objective.group)
        for member in json.loads(text) if text else []:
            if all(member.get(key) == row.get(field) for key, field in objective.match.items()):
                yield {**row, **member}

    def _scores(
        self,
        result_id: str,
        objective: str | None,
        scores: list[ScoreSpec],
        levels: list[LevelSpec],
        row: dict[str, str | None],
    ) -> Iterator[tuple]:
        for score in scores:
            value = row.get(score.field)
            if value is not None:
                yield (result_id, objective, "score", score.method, score.datatype, value, None)
        for level in levels:
            value = row.get(level.field)
            if value is not None:
                rules = self._levels.get(id(level))
                if rules is None:
                    rules = self._levels[id(level)] = _level_rules(level)
                mapped, proficient = rules
                folded = value.strip().casefold()
                flag = None if proficient is None else ("true" if folded in proficient else "false")
                shown = value if mapped is None else mapped.get(folded, value)
                yield (result_id, objective, "performance_level", level.method, "Level", shown, flag)

    @staticmethod
    def _headline(scores: list[tuple]) -> dict[str, str | None]:
        headline: dict[str, str | None] = dict.fromkeys([*HEADLINE_METHODS, "performance_level", "is_proficient"])
        for _, _, kind, method, _, value, proficient in scores:
            if kind == "performance_level":
                if headline["performance_level"] is None:
                    headline["performance_level"] = value
                if headline["is_proficient"] is None:
                    headline["is_proficient"] = proficient
                continue
            for column in _HEADLINE_COLUMNS.get(method, ()):
                if headline[column] is None:
                    headline[column] = value
        return headline


# The headline columns each reporting method fills (HEADLINE_METHODS, inverted once).
_HEADLINE_COLUMNS = {
    method: tuple(column for column, methods in HEADLINE_METHODS.items() if method in methods)
    for method in {m for methods in HEADLINE_METHODS.values() for m in methods}
}


def _getter(ref: ValueRef) -> Callable[[dict[str, str | None]], str | None]:
    """ValueRef's value in a row as one function, its template and map resolved once (what
    RowConformer._value returns: a from_date field's raw value is resolved by the caller)."""
    if ref.value is not None:
        constant = ref.value
        return lambda row: constant
    if ref.from_date is not None:
        name = ref.from_date
        return lambda row: row.get(name)
    folded = None if ref.map is None else {k.strip().casefold(): v for k, v in ref.map.items()}

    def mapped(raw: str | None) -> str | None:
        if raw is None or folded is None:
            return raw
        return folded.get(raw.strip().casefold(), raw)

    if ref.template is not None:
        template, names = ref.template, list(ref.fields())

        def templated(row: dict[str, str | None]) -> str | None:
            parts = {name: row.get(name) for name in names}
            if any(v is None for v in parts.values()):
                return None
            return mapped(template.format(**parts))

        return templated
    field = ref.field or ""
    if folded is None:
        return lambda row: row.get(field)
    return lambda row: mapped(row.get(field))


def _level_rules(level: LevelSpec) -> tuple[dict[str, str] | None, frozenset[str] | None]:
    """A performance level's casefolded level map (LevelSpec.level_of) and proficient values
    (LevelSpec.is_proficient; None: it says nothing about proficiency)."""
    mapped = None if level.levels is None else {k.strip().casefold(): v for k, v in level.levels.items()}
    proficient = frozenset(p.strip().casefold() for p in level.proficient) if level.proficient else None
    return mapped, proficient
