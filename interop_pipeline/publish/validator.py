"""The built-in OneRoster CSV validator: every rule of the CSV binding we rely on (see
/shared/reference/standards.md and the README), checked before a bundle reaches a delivery folder.

A report names the file, the row (the CSV line; the header is row 1) and the rule of each
problem, never the value: values may be personal data. The file specifications (columns, required
fields, enumerations, booleans, dates, references) are the connector's (connectors/oneroster_csv.py)
plus the gradebook files, so publishing and ingestion agree on one reading of the standard.

Rules (the `rule` of an Issue):
  package.not_zip, package.nested_path, package.unknown_file
  manifest.missing, manifest.header, manifest.unknown_property, manifest.duplicate_property,
  manifest.missing_property, manifest.version, manifest.file_mode, manifest.absent_but_present,
  manifest.missing_file
  csv.encoding, csv.malformed, header.columns, header.extension, file.no_rows, row.field_count
  field.required, field.sourced_id, field.date, field.datetime, field.boolean, field.school_year,
  field.enum, field.user_ids, field.grades, field.number, field.list_pairing
  status.bulk_not_blank, status.delta_required
  unique.sourced_id, ref.missing, ref.type
  roles.one_primary, users.primary_org_role, enrollments.primary_not_teacher, results.not_enrolled
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path

from interop_pipeline.connectors.oneroster_csv import _LEAD, VERSIONS, FileSpec, Ref

MANIFEST = "manifest.csv"
MAX_ISSUES = 1000  # kept in a report; the rest are counted
SOURCED_ID = re.compile(r"[0-9A-Za-z./@_-]{1,255}")
EXT_ENUM = re.compile(r"ext:[A-Za-z0-9._-]+")
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
YEAR = re.compile(r"[0-9]{4}")
USER_ID = re.compile(r"\{[^{}:]+:[^{}]+\}")
METADATA = re.compile(r"metadata\.[A-Za-z0-9._-]+")
NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
GRADES = frozenset(["IT", "PR", "PK", "TK", "KG", *(f"{n:02d}" for n in range(1, 14)), "PS", "UG", "Other"])
STATUSES = ("active", "tobedeleted")
FILE_MODES = ("absent", "bulk", "delta")

# Gradebook files (the connector does not land them).
_SCORE_STATUS = ("exempt", "fully graded", "not submitted", "partially graded", "submitted")
_GRADEBOOK_12 = (
    FileSpec("categories", "categories", (*_LEAD, "title", "weight"), required=frozenset({"sourcedId", "title"})),
    FileSpec(
        "lineItems",
        "line_items",
        (
            *_LEAD,
            "title",
            "description",
            "assignDate",
            "dueDate",
            "classSourcedId",
            "categorySourcedId",
            "academicSessionSourcedId",
            "resultValueMin",
            "resultValueMax",
            "schoolSourcedId",
        ),
        required=frozenset(
            {
                "sourcedId",
                "title",
                "assignDate",
                "dueDate",
                "classSourcedId",
                "categorySourcedId",
                "academicSessionSourcedId",
                "schoolSourcedId",
            }
        ),
        dates=frozenset({"assignDate", "dueDate"}),
        refs=(
            Ref("classSourcedId", "classes"),
            Ref("categorySourcedId", "categories"),
            Ref("academicSessionSourcedId", "academic_sessions"),
            Ref("schoolSourcedId", "orgs", target_type="school"),
        ),
    ),
    FileSpec(
        "results",
        "results",
        (
            *_LEAD,
            "lineItemSourcedId",
            "studentSourcedId",
            "scoreStatus",
            "score",
            "scoreDate",
            "comment",
            "textScore",
            "classSourcedId",
            "inProgress",
            "incomplete",
            "late",
            "missing",
        ),
        required=frozenset({"sourcedId", "lineItemSourcedId", "studentSourcedId", "scoreStatus", "scoreDate"}),
        enums=(("scoreStatus", _SCORE_STATUS),),
        booleans=frozenset({"inProgress", "incomplete", "late", "missing"}),
        dates=frozenset({"scoreDate"}),
        refs=(
            Ref("lineItemSourcedId", "line_items"),
            Ref("studentSourcedId", "users"),
            Ref("classSourcedId", "classes"),
        ),
    ),
)
_GRADEBOOK_11 = (
    replace(_GRADEBOOK_12[0], columns=(*_LEAD, "title")),
    replace(
        _GRADEBOOK_12[1],
        columns=(
            *_LEAD,
            "title",
            "description",
            "assignDate",
            "dueDate",
            "classSourcedId",
            "categorySourcedId",
            "gradingPeriodSourcedId",
            "resultValueMin",
            "resultValueMax",
        ),
        required=frozenset(
            {
                "sourcedId",
                "title",
                "assignDate",
                "dueDate",
                "classSourcedId",
                "categorySourcedId",
                "gradingPeriodSourcedId",
            }
        ),
        refs=(
            Ref("classSourcedId", "classes"),
            Ref("categorySourcedId", "categories"),
            Ref("gradingPeriodSourcedId", "academic_sessions"),
        ),
    ),
    replace(
        _GRADEBOOK_12[2],
        columns=(*_LEAD, "lineItemSourcedId", "studentSourcedId", "scoreStatus", "score", "scoreDate", "comment"),
        booleans=frozenset(),
        refs=(Ref("lineItemSourcedId", "line_items"), Ref("studentSourcedId", "users")),
    ),
)
SPECS: dict[str, dict[str, FileSpec]] = {
    "1.2": {s.file_name: s for s in (*VERSIONS["1.2"].specs, *_GRADEBOOK_12)},
    "1.1": {s.file_name: s for s in (*VERSIONS["1.1"].specs, *_GRADEBOOK_11)},
}
FILE_NAMES = {v: [s.file_name for s in VERSIONS[v].specs] + list(VERSIONS[v].other_files) for v in VERSIONS}
# Columns holding one sourcedId or a list of them (beyond the references).
_LIST_COLUMNS = frozenset({"termSourcedIds", "agentSourcedIds", "orgSourcedIds"})
_NUMBERS = frozenset({"weight", "resultValueMin", "resultValueMax", "score"})


@dataclass(frozen=True)
class Issue:
    file: str
    row: int | None  # CSV line (header = 1); None for the package or manifest as a whole
    rule: str
    detail: str

    def __str__(self) -> str:
        where = self.file + (f" row {self.row}" if self.row is not None else "")
        return f"{where}: {self.rule}: {self.detail}"


@dataclass
class Report:
    issues: list[Issue] = field(default_factory=list)
    more: int = 0  # issues beyond MAX_ISSUES, counted only
    rows_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.issues

    def add(self, file: str, row: int | None, rule: str, detail: str) -> None:
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(Issue(file, row, rule, detail))
        else:
            self.more += 1

    def rules(self) -> set[str]:
        return {i.rule for i in self.issues}

    def summary(self, limit: int = 20) -> str:
        lines = [str(i) for i in self.issues[:limit]]
        hidden = len(self.issues) - limit + self.more
        if hidden > 0:
            lines.append(f"... and {hidden} more")
        return "\n".join(lines)


def validate_bundle(path: Path) -> Report:
    report = Report()
    if not zipfile.is_zipfile(path):
        report.add(path.name, None, "package.not_zip", "not a zip archive")
        return report
    with zipfile.ZipFile(path) as zf:
        members = [m for m in zf.namelist() if not m.endswith("/")]
        for m in members:
            if "/" in m or "\\" in m:
                report.add(m, None, "package.nested_path", "every file must sit at the root of the package")
        names = {m for m in members if "/" not in m and "\\" not in m}
        if MANIFEST not in names:
            report.add(MANIFEST, None, "manifest.missing", "the package has no manifest.csv")
            return report
        version, modes = _check_manifest(zf, names, report)
        if version is None:
            return report
        present = {
            f"{file_name}.csv": (spec, modes[file_name])
            for file_name, spec in SPECS[version].items()
            if f"{file_name}.csv" in names and modes.get(file_name) in ("bulk", "delta")
        }
        # Two passes, each streaming the CSVs row by row: the first keeps only what references
        # and cross-file rules need (id sets, org and session types, role and enrolment pairs),
        # the second checks every row against its file's rules and those indexes.
        indexes = {
            spec.entity: index
            for member, (spec, mode) in present.items()
            if (index := _index_table(zf, member, spec, mode, present)) is not None
        }
        cross = _CrossFileRules(indexes)
        for member, (spec, mode) in present.items():
            report.rows_checked += _check_table(zf, member, spec, mode, report, indexes, SPECS[version], cross)
    return report


def _check_manifest(zf: zipfile.ZipFile, names: set[str], report: Report) -> tuple[str | None, dict[str, str]]:
    rows = list(csv.reader(io.StringIO(zf.read(MANIFEST).decode("utf-8-sig", errors="replace"))))
    if not rows or rows[0] != ["propertyName", "value"]:
        report.add(MANIFEST, 1, "manifest.header", "header must be propertyName,value")
        return None, {}
    props: dict[str, str] = {}
    for line, row in enumerate(rows[1:], start=2):
        if len(row) != 2:
            report.add(MANIFEST, line, "row.field_count", "expected 2 fields")
            continue
        if row[0] in props:
            report.add(MANIFEST, line, "manifest.duplicate_property", f"{row[0]} appears twice")
        props[row[0]] = row[1]
    version = props.get("oneroster.version")
    if version not in SPECS:
        report.add(MANIFEST, None, "manifest.version", "oneroster.version must be 1.2 or 1.1")
        return None, {}
    if props.get("manifest.version") != "1.0":
        report.add(MANIFEST, None, "manifest.version", "manifest.version must be 1.0")
    known = {"manifest.version", "oneroster.version", "source.systemName", "source.systemCode"}
    known |= {f"file.{n}" for n in FILE_NAMES[version]}
    for prop in props:
        if prop not in known:
            report.add(MANIFEST, None, "manifest.unknown_property", f"{prop} is not a OneRoster {version} property")
    modes: dict[str, str] = {}
    for name in FILE_NAMES[version]:
        mode = props.get(f"file.{name}")
        if mode is None:
            report.add(MANIFEST, None, "manifest.missing_property", f"file.{name} is missing")
            continue
        if mode not in FILE_MODES:
            report.add(MANIFEST, None, "manifest.file_mode", f"file.{name} must be absent, bulk or delta")
            continue
        modes[name] = mode
        present = f"{name}.csv" in names
        if mode == "absent" and present:
            report.add(f"{name}.csv", None, "manifest.absent_but_present", "marked absent in the manifest")
        if mode != "absent" and not present:
            report.add(f"{name}.csv", None, "manifest.missing_file", f"marked {mode} in the manifest")
    for member in sorted(names - {MANIFEST} - {f"{n}.csv" for n in FILE_NAMES[version]}):
        report.add(member, None, "package.unknown_file", f"not a OneRoster {version} file")
    return version, modes


@dataclass
class _Index:
    """What other files need of one file, kept while it streams past: never its rows."""

    mode: str
    ids: set[str] = field(default_factory=set)  # sourcedIds of rows not marked tobedeleted
    types: dict[str, str] = field(default_factory=dict)  # orgs, academic sessions: sourcedId → type
    pairs: set[tuple[str, str]] = field(default_factory=set)  # roles (user, org); enrollments (user, class)
    classes: dict[str, str] = field(default_factory=dict)  # line items: sourcedId → class


def _rows(zf: zipfile.ZipFile, member: str) -> Iterator[tuple[int, list[str]]]:
    """(CSV line, values) of a member, decoded and parsed as it is read (BOM dropped)."""
    with zf.open(member) as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
        reader = csv.reader(text, strict=True)
        for row in reader:
            yield reader.line_num, row


def _index_table(
    zf: zipfile.ZipFile, member: str, spec: FileSpec, mode: str, present: dict[str, tuple[FileSpec, str]]
) -> _Index | None:
    """The first pass: silent (the second reports); None when the file cannot be read as a table."""
    wants_pairs = spec.entity == "roles" or (spec.entity == "enrollments" and "results.csv" in present)
    index = _Index(mode)
    try:
        rows = _rows(zf, member)
        first = next(rows, None)
        if first is None or not _header_ok(spec, first[1]):
            return None
        header = first[1]
        for _, values in rows:
            if len(values) != len(header):
                continue
            record = dict(zip(header, values, strict=True))
            if record["status"] == "tobedeleted":
                continue
            index.ids.add(record["sourcedId"])
            if spec.entity in ("orgs", "academic_sessions"):
                index.types[record["sourcedId"]] = record.get("type", "")
            elif wants_pairs and spec.entity == "roles":
                index.pairs.add((record["userSourcedId"], record["orgSourcedId"]))
            elif wants_pairs:
                index.pairs.add((record["userSourcedId"], record["classSourcedId"]))
            elif spec.entity == "line_items":
                index.classes[record["sourcedId"]] = record["classSourcedId"]
    except (csv.Error, UnicodeDecodeError):
        return None
    return index


def _check_table(
    zf: zipfile.ZipFile,
    member: str,
    spec: FileSpec,
    mode: str,
    report: Report,
    indexes: dict[str, _Index],
    specs: dict[str, FileSpec],
    cross: _CrossFileRules,
) -> int:
    """The second pass over one file; returns the rows checked (not marked tobedeleted)."""
    checked = 0
    try:
        rows = _rows(zf, member)
        first = next(rows, None)
        if first is None:
            report.add(member, 1, "header.columns", "the file is empty")
            return 0
        header = first[1]
        if not _check_header(member, spec, header, report):
            return 0
        checker = _RowChecker(member, spec, mode, header, report)
        data_rows = 0
        for line, values in rows:
            data_rows += 1
            record = checker.check(line, values)
            if record is not None:
                checked += 1
                _check_row_references(member, line, record, spec, indexes, specs, report)
                cross.check(spec.entity, line, record, report)
        if not data_rows:
            # Strict consumers refuse a header-only file: one with nothing to say is absent.
            report.add(member, None, "file.no_rows", "no data rows (the manifest should list it as absent)")
    except UnicodeDecodeError:
        report.add(member, None, "csv.encoding", "not UTF-8")
    except csv.Error:
        report.add(member, None, "csv.malformed", "not RFC 4180 CSV (unbalanced quotes)")
    return checked


def _header_ok(spec: FileSpec, header: list[str]) -> bool:
    expected = list(spec.columns)
    extra = header[len(expected) :]
    return header[: len(expected)] == expected and all(METADATA.fullmatch(name) for name in extra)


def _check_header(member: str, spec: FileSpec, header: list[str], report: Report) -> bool:
    expected = list(spec.columns)
    if header[: len(expected)] != expected:
        report.add(member, 1, "header.columns", f"columns must be exactly, in order: {','.join(expected)}")
        return False
    extra = header[len(expected) :]
    if any(not METADATA.fullmatch(name) for name in extra):
        report.add(member, 1, "header.extension", "extra columns must be metadata.* after the standard columns")
        return False
    return True


class _RowChecker:
    def __init__(self, member: str, spec: FileSpec, mode: str, header: list[str], report: Report):
        self.member, self.spec, self.mode, self.header, self.report = member, spec, mode, header, report
        self.enums = dict(spec.enums)
        self.seen: set[str] = set()

    def problem(self, line: int, rule: str, detail: str) -> None:
        self.report.add(self.member, line, rule, detail)

    def check(self, line: int, values: list[str]) -> dict[str, str] | None:
        if len(values) != len(self.header):
            self.problem(line, "row.field_count", f"{len(values)} fields, header has {len(self.header)}")
            return None
        record = dict(zip(self.header, values, strict=True))
        self._status(line, record)
        sourced_id = record["sourcedId"]
        if sourced_id in self.seen:
            self.problem(line, "unique.sourced_id", "sourcedId appears earlier in the file")
        self.seen.add(sourced_id)
        if record["status"] == "tobedeleted":
            return None  # a deletion need carry only its sourcedId
        for column in self.spec.columns:
            self._field(line, column, record[column])
        # Read strictly, as consumers do: subjectCodes may be left out only with subjects, and
        # the two lists pair item by item.
        subjects, codes = record.get("subjects"), record.get("subjectCodes")
        if subjects and not codes and "subjectCodes" in record:
            self.problem(line, "field.list_pairing", "subjects without subjectCodes (they pair by position)")
        elif (subjects or codes) and len((subjects or "").split(",")) != len((codes or "").split(",")):
            self.problem(line, "field.list_pairing", "subjects and subjectCodes must hold the same number of items")
        return record

    def _status(self, line: int, record: dict[str, str]) -> None:
        status, modified = record["status"], record["dateLastModified"]
        if self.mode == "bulk":
            if status or modified:
                self.problem(line, "status.bulk_not_blank", "status and dateLastModified are blank in a bulk file")
            return
        if status not in STATUSES or not modified:
            self.problem(line, "status.delta_required", "delta rows need status active|tobedeleted and a date")
        elif not _is_datetime(modified):
            self.problem(line, "field.datetime", "dateLastModified must be YYYY-MM-DDTHH:MM:SS.sssZ")

    def _field(self, line: int, column: str, value: str) -> None:
        spec = self.spec
        if not value:
            if column in spec.required:
                self.problem(line, "field.required", f"{column} is required")
            return
        if column in ("status", "dateLastModified"):
            return
        ref_columns = {r.field: r for r in spec.refs}
        if column == "sourcedId" or column in ref_columns or column in _LIST_COLUMNS or column.endswith("SourcedId"):
            many = column in _LIST_COLUMNS or (column in ref_columns and ref_columns[column].many)
            if any(not SOURCED_ID.fullmatch(item) for item in (value.split(",") if many else [value])):
                self.problem(line, "field.sourced_id", f"{column} must be 1-255 characters of [0-9A-Za-z./@_-]")
        if column in spec.dates and not _is_date(value):
            self.problem(line, "field.date", f"{column} must be a YYYY-MM-DD date")
        if column in spec.booleans and value not in ("true", "false"):
            self.problem(line, "field.boolean", f"{column} must be true or false")
        if column == "schoolYear" and not YEAR.fullmatch(value):
            self.problem(line, "field.school_year", "schoolYear must be a four-digit year")
        if column in self.enums and value not in self.enums[column] and not EXT_ENUM.fullmatch(value):
            self.problem(line, "field.enum", f"{column} must be one of {', '.join(self.enums[column])} or ext:…")
        if column == "userIds" and any(not USER_ID.fullmatch(item) for item in value.split(",")):
            self.problem(line, "field.user_ids", "userIds items look like {type:identifier}")
        if column == "grades" and any(item not in GRADES for item in value.split(",")):
            self.problem(line, "field.grades", "grades must be CEDS grade level codes")
        if column in _NUMBERS and not NUMBER.fullmatch(value):
            self.problem(line, "field.number", f"{column} must be a number")


def _is_date(value: str) -> bool:
    if not DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    if not DATE_TIME.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_row_references(
    member: str,
    line: int,
    record: dict[str, str],
    spec: FileSpec,
    indexes: dict[str, _Index],
    specs: dict[str, FileSpec],
    report: Report,
) -> None:
    """A reference must resolve within the bundle; references into a file delivered as a delta or
    absent are not checked (their targets are in the recipient's earlier deliveries)."""
    for ref in spec.refs:
        target = indexes.get(ref.target)
        value = record[ref.field]
        if target is None or target.mode != "bulk" or not value:
            continue
        for item in value.split(",") if ref.many else [value]:
            if item not in target.ids:
                target_file = next(s.file_name for s in specs.values() if s.entity == ref.target)
                report.add(member, line, "ref.missing", f"{ref.field} has no row in {target_file}.csv")
            elif ref.target_type and target.types.get(item) != ref.target_type:
                report.add(member, line, "ref.type", f"{ref.field} must point to a {ref.target_type}")


class _CrossFileRules:
    """Rules across files, checked row by row against the first pass's indexes."""

    def __init__(self, indexes: dict[str, _Index]):
        self.indexes = indexes
        self.primaries: set[tuple[str, str]] = set()
        roles = indexes.get("roles")
        self.held_roles = roles.pairs if roles is not None and roles.mode == "bulk" else None
        enrollments = indexes.get("enrollments")
        self.enrolled = enrollments.pairs if enrollments is not None and enrollments.mode == "bulk" else None
        line_items = indexes.get("line_items")
        self.line_item_class = line_items.classes if line_items is not None else {}

    def check(self, entity: str, line: int, r: dict[str, str], report: Report) -> None:
        if entity == "roles" and r["roleType"] == "primary":
            key = (r["userSourcedId"], r["orgSourcedId"])
            if key in self.primaries:
                report.add("roles.csv", line, "roles.one_primary", "a second primary role for this user and org")
            self.primaries.add(key)
        elif entity == "users" and self.held_roles is not None and r.get("primaryOrgSourcedId"):
            if (r["sourcedId"], r["primaryOrgSourcedId"]) not in self.held_roles:
                report.add("users.csv", line, "users.primary_org_role", "primaryOrgSourcedId has no matching role")
        elif entity == "enrollments" and r["primary"] and r["role"] != "teacher":
            report.add("enrollments.csv", line, "enrollments.primary_not_teacher", "primary is for teachers only")
        elif entity == "results" and self.enrolled is not None:
            klass = r.get("classSourcedId") or self.line_item_class.get(r["lineItemSourcedId"], "")
            if klass and (r["studentSourcedId"], klass) not in self.enrolled:
                report.add("results.csv", line, "results.not_enrolled", "the student is not enrolled in the class")
