"""OneRoster 1.2 CSV bundle connector: validate a bulk ZIP bundle and land its rostering files.

Bundle-level problems (not a zip, unsafe member paths, too large, bad manifest, wrong headers,
unreadable text) are fatal: :class:`OneRosterBundleError` is raised and nothing lands.
Row-level problems become reject rows (rule, field, detail, raw record, source ref) and never
stop the batch. Files are validated in dependency order, so a row that points at a rejected row
is rejected too (``dangling_reference``). Only id sets (and org/session types) stay in memory;
every file is streamed from the archive.

Privacy: reject details and exception messages never echo values of personal fields; the raw
row goes only into the reject's ``raw_record``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

from interop_pipeline.connectors.archive import open_checked_zip
from interop_pipeline.connectors.landing import LandingBatch, find_landed_batch, sha256_file


class OneRosterBundleError(ValueError):
    """The bundle as a whole is unusable; nothing from it was landed."""


@dataclass
class BundleLandingResult:
    batch_id: str
    already_landed: bool
    rows_landed: dict[str, int] = field(default_factory=dict)
    rows_rejected: dict[str, int] = field(default_factory=dict)
    rejects_by_rule: dict[str, int] = field(default_factory=dict)
    files_not_ingested: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# The standard (OneRoster 1.2 CSV, corrected binding 1.2.1)
# --------------------------------------------------------------------------------------------


class Ref(NamedTuple):
    """A column that must point at a valid row of another (or the same) landed entity."""

    field: str
    target: str  # entity folder name
    many: bool = False  # comma-separated list inside one field
    target_type: str | None = None  # required `type` of the target org / academic session


@dataclass(frozen=True)
class FileSpec:
    file_name: str
    entity: str
    columns: tuple[str, ...]
    required: frozenset[str]
    enums: tuple[tuple[str, tuple[str, ...]], ...] = ()  # extensible with ext:...
    booleans: frozenset[str] = frozenset()
    dates: frozenset[str] = frozenset()
    personal: frozenset[str] = frozenset()  # values never echoed in details or errors
    refs: tuple[Ref, ...] = ()
    type_field: str | None = None  # kept with the ids, for typed references
    referenced: bool = False  # later files point here, so keep its valid ids

    @property
    def member(self) -> str:
        return f"{self.file_name}.csv"


_LEAD = ("sourcedId", "status", "dateLastModified")
_BOOL = ("true", "false")
_RACE_FLAGS = (
    "americanIndianOrAlaskaNative",
    "asian",
    "blackOrAfricanAmerican",
    "nativeHawaiianOrOtherPacificIslander",
    "white",
    "demographicRaceTwoOrMoreRaces",
    "hispanicOrLatinoEthnicity",
)
_DEMOGRAPHIC_FIELDS = (
    "birthDate",
    "sex",
    *_RACE_FLAGS,
    "countryOfBirthCode",
    "stateOfBirthAbbreviation",
    "cityOfBirth",
    "publicSchoolResidenceStatus",
)

# Dependency order: every file only references files before it (or itself).
SPECS: tuple[FileSpec, ...] = (
    FileSpec(
        "orgs",
        "orgs",
        (*_LEAD, "name", "type", "identifier", "parentSourcedId"),
        required=frozenset({"sourcedId", "name", "type"}),
        enums=(("type", ("department", "school", "district", "local", "state", "national")),),
        refs=(Ref("parentSourcedId", "orgs"),),
        type_field="type",
        referenced=True,
    ),
    FileSpec(
        "academicSessions",
        "academic_sessions",
        (*_LEAD, "title", "type", "startDate", "endDate", "parentSourcedId", "schoolYear"),
        required=frozenset({"sourcedId", "title", "type", "startDate", "endDate", "schoolYear"}),
        enums=(("type", ("gradingPeriod", "semester", "schoolYear", "term")),),
        dates=frozenset({"startDate", "endDate"}),
        refs=(Ref("parentSourcedId", "academic_sessions"),),
        type_field="type",
        referenced=True,
    ),
    FileSpec(
        "courses",
        "courses",
        (*_LEAD, "schoolYearSourcedId", "title", "courseCode", "grades", "orgSourcedId", "subjects", "subjectCodes"),
        required=frozenset({"sourcedId", "title", "orgSourcedId"}),
        refs=(
            Ref("schoolYearSourcedId", "academic_sessions", target_type="schoolYear"),
            Ref("orgSourcedId", "orgs"),
        ),
        referenced=True,
    ),
    FileSpec(
        "classes",
        "classes",
        (
            *_LEAD,
            "title",
            "grades",
            "courseSourcedId",
            "classCode",
            "classType",
            "location",
            "schoolSourcedId",
            "termSourcedIds",
            "subjects",
            "subjectCodes",
            "periods",
        ),
        required=frozenset({"sourcedId", "title", "courseSourcedId", "classType", "schoolSourcedId", "termSourcedIds"}),
        enums=(("classType", ("homeroom", "scheduled")),),
        refs=(
            Ref("courseSourcedId", "courses"),
            Ref("schoolSourcedId", "orgs", target_type="school"),
            Ref("termSourcedIds", "academic_sessions", many=True),
        ),
        referenced=True,
    ),
    FileSpec(
        "users",
        "users",
        (
            *_LEAD,
            "enabledUser",
            "username",
            "userIds",
            "givenName",
            "familyName",
            "middleName",
            "identifier",
            "email",
            "sms",
            "phone",
            "agentSourcedIds",
            "grades",
            "password",
            "userMasterIdentifier",
            "preferredGivenName",
            "preferredMiddleName",
            "preferredFamilyName",
            "primaryOrgSourcedId",
            "pronouns",
        ),
        required=frozenset({"sourcedId", "enabledUser", "username", "givenName", "familyName"}),
        booleans=frozenset({"enabledUser"}),
        personal=frozenset(
            {
                "username",
                "userIds",
                "givenName",
                "familyName",
                "middleName",
                "identifier",
                "email",
                "sms",
                "phone",
                "password",
                "userMasterIdentifier",
                "preferredGivenName",
                "preferredMiddleName",
                "preferredFamilyName",
                "pronouns",
            }
        ),
        refs=(
            Ref("agentSourcedIds", "users", many=True),
            Ref("primaryOrgSourcedId", "orgs"),
        ),
        referenced=True,
    ),
    FileSpec(
        "roles",
        "roles",
        (*_LEAD, "userSourcedId", "roleType", "role", "beginDate", "endDate", "orgSourcedId", "userProfileSourcedId"),
        required=frozenset({"sourcedId", "userSourcedId", "roleType", "role", "orgSourcedId"}),
        enums=(
            ("roleType", ("primary", "secondary")),
            (
                "role",
                (
                    "aide",
                    "counselor",
                    "districtAdministrator",
                    "guardian",
                    "parent",
                    "principal",
                    "proctor",
                    "relative",
                    "siteAdministrator",
                    "student",
                    "systemAdministrator",
                    "teacher",
                ),
            ),
        ),
        dates=frozenset({"beginDate", "endDate"}),
        refs=(Ref("userSourcedId", "users"), Ref("orgSourcedId", "orgs")),
    ),
    FileSpec(
        "enrollments",
        "enrollments",
        (*_LEAD, "classSourcedId", "schoolSourcedId", "userSourcedId", "role", "primary", "beginDate", "endDate"),
        required=frozenset({"sourcedId", "classSourcedId", "schoolSourcedId", "userSourcedId", "role"}),
        enums=(("role", ("administrator", "proctor", "student", "teacher")),),
        booleans=frozenset({"primary"}),
        dates=frozenset({"beginDate", "endDate"}),
        refs=(
            Ref("classSourcedId", "classes"),
            Ref("userSourcedId", "users"),
            Ref("schoolSourcedId", "orgs", target_type="school"),
        ),
    ),
    FileSpec(
        "demographics",
        "demographics",
        (*_LEAD, *_DEMOGRAPHIC_FIELDS),
        required=frozenset({"sourcedId"}),
        enums=(("sex", ("male", "female", "unspecified", "other")),),
        booleans=frozenset(_RACE_FLAGS),
        dates=frozenset({"birthDate"}),
        personal=frozenset(_DEMOGRAPHIC_FIELDS),
        refs=(Ref("sourcedId", "users"),),
    ),
    FileSpec(
        "userProfiles",
        "user_profiles",
        (
            *_LEAD,
            "userSourcedId",
            "profileType",
            "vendorId",
            "applicationId",
            "description",
            "credentialType",
            "username",
            "password",
        ),
        required=frozenset({"sourcedId", "userSourcedId", "profileType", "vendorId", "credentialType", "username"}),
        personal=frozenset({"username", "password"}),
        refs=(Ref("userSourcedId", "users"),),
    ),
)
SPEC_BY_MEMBER = {spec.member: spec for spec in SPECS}

# Gradebook, resource and score-scale files: legal in a bundle, not landed (yet).
OTHER_FILES: tuple[str, ...] = (
    "categories",
    "lineItems",
    "results",
    "resources",
    "classResources",
    "courseResources",
    "userResources",
    "scoreScales",
    "lineItemScoreScales",
    "resultScoreScales",
    "lineItemLearningObjectiveIds",
    "resultLearningObjectiveIds",
)
MANIFEST = "manifest.csv"
_REQUIRED_PROPERTIES = {"manifest.version": "1.0", "oneroster.version": "1.2"}
_OPTIONAL_PROPERTIES = frozenset({"source.systemName", "source.systemCode"})
_FILE_MODES = ("absent", "bulk", "delta")

_SOURCED_ID = re.compile(r"[0-9A-Za-z./@_-]{1,255}")
_EXT_ENUM = re.compile(r"ext:[A-Za-z0-9._-]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_YEAR = re.compile(r"[0-9]{4}")
_METADATA_PREFIX = "metadata."

# Column names we may always quote back in a header error. Other cells are quoted only when the
# line is evidently a header: without one, the first line is a data row (maybe a student's name).
_KNOWN_COLUMN_NAMES = frozenset(
    {c for spec in SPECS for c in spec.columns}
    | {"resourceSourcedIds", "orgSourcedIds", "role", "gradingPeriodSourcedId"}
)


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


def land_oneroster_bundle(
    zip_path: Path,
    landing_root: Path,
    *,
    source_system: str,
    district_code: str,
    max_uncompressed_bytes: int,
    extracted_at: datetime | None = None,
) -> BundleLandingResult:
    """Validate a OneRoster 1.2 bulk CSV bundle and land its 9 rostering files as one batch.

    Idempotent: a bundle whose bytes were landed before (under any file name) is not landed
    again; the earlier batch id is returned with ``already_landed=True``.
    """
    zip_path = Path(zip_path)
    fingerprint = sha256_file(zip_path)
    earlier = find_landed_batch(landing_root, source_system, fingerprint)
    if earlier is not None:
        return BundleLandingResult(batch_id=earlier, already_landed=True)

    archive = zip_path.name
    with open_checked_zip(zip_path, max_uncompressed_bytes, OneRosterBundleError, "a OneRoster CSV bundle") as zf:
        plan = _plan_bundle(zf, archive)
        with LandingBatch(
            landing_root,
            source_system,
            district_code,
            fingerprint,
            archive,
            extracted_at or datetime.now(UTC),
        ) as batch:
            known: dict[str, dict[str, str]] = {}
            for spec in SPECS:
                header = plan.headers.get(spec.member)
                if header is None:  # marked absent: empty file with the spec columns
                    batch.entity_writer(spec.entity, list(spec.columns)).close()
                    known[spec.entity] = {}
                    continue
                _land_file(batch, zf, archive, spec, header, known)
            batch.commit()
            counts = batch.counts
    return BundleLandingResult(
        batch_id=batch.batch_id,
        already_landed=False,
        rows_landed=counts.rows_landed,
        rows_rejected=counts.rows_rejected,
        rejects_by_rule=counts.rejects_by_rule,
        files_not_ingested=plan.files_not_ingested,
    )


# --------------------------------------------------------------------------------------------
# Bundle-level checks (all before anything is written)
# --------------------------------------------------------------------------------------------


@dataclass
class _BundlePlan:
    headers: dict[str, list[str]]  # member -> header, for ingested files that are present
    files_not_ingested: list[str]


def _plan_bundle(zf: zipfile.ZipFile, archive: str) -> _BundlePlan:
    files = [i.filename for i in zf.infolist() if not i.is_dir()]
    root_files = {name for name in files if "/" not in name}
    if MANIFEST not in root_files:
        nested = [name for name in files if name.endswith("/" + MANIFEST)]
        hint = ""
        if nested:
            hint = f"; found {nested[0]!r} - the bundle's files must be at the ZIP root"
        raise OneRosterBundleError(f"{archive}: no {MANIFEST} at the root of the archive{hint}")
    manifest = _read_manifest(zf, archive)
    modes = _check_manifest(manifest, archive, root_files)
    headers: dict[str, list[str]] = {}
    for spec in SPECS:
        if modes[spec.file_name] == "bulk":
            headers[spec.member] = _read_header(zf, archive, spec)
    ingested = {MANIFEST, *headers}
    return _BundlePlan(headers, sorted(name for name in files if name not in ingested))


def _read_manifest(zf: zipfile.ZipFile, archive: str) -> dict[str, str]:
    properties: dict[str, str] = {}
    records = _records(zf, archive, MANIFEST)
    header = next(records, None)
    if header is None or header[1] != ["propertyName", "value"]:
        found = ",".join(header[1]) if header else "nothing"
        raise OneRosterBundleError(f"{archive}: {MANIFEST} header must be 'propertyName,value'; found {found!r}")
    for line, values in records:
        if len(values) != 2:
            raise OneRosterBundleError(f"{archive}: {MANIFEST} line {line} has {len(values)} fields; expected 2")
        name, value = values
        if name in properties:
            raise OneRosterBundleError(f"{archive}: {MANIFEST} repeats property {name!r} (line {line})")
        properties[name] = value
    return properties


def _check_manifest(manifest: dict[str, str], archive: str, root_files: set[str]) -> dict[str, str]:
    """Validate manifest properties against the archive; returns file name -> absent|bulk."""
    known_files = [spec.file_name for spec in SPECS] + list(OTHER_FILES)
    allowed = {*_REQUIRED_PROPERTIES, *_OPTIONAL_PROPERTIES, *(f"file.{f}" for f in known_files)}
    unknown = sorted(set(manifest) - allowed)
    if unknown:
        raise OneRosterBundleError(f"{archive}: {MANIFEST} has unknown properties: {', '.join(unknown)}")
    for name, expected in _REQUIRED_PROPERTIES.items():
        if name not in manifest:
            raise OneRosterBundleError(f"{archive}: {MANIFEST} is missing property {name}")
        if manifest[name] != expected:
            raise OneRosterBundleError(f"{archive}: {MANIFEST} {name} must be {expected!r}; found {manifest[name]!r}")
    modes: dict[str, str] = {}
    for file_name in known_files:
        prop = f"file.{file_name}"
        ingested = file_name in {spec.file_name for spec in SPECS}
        if prop not in manifest:
            # We need to know what each landed file is; the others we leave alone.
            if ingested:
                raise OneRosterBundleError(f"{archive}: {MANIFEST} is missing property {prop}")
            continue
        mode = manifest[prop]
        if mode not in _FILE_MODES:
            raise OneRosterBundleError(
                f"{archive}: {MANIFEST} {prop} must be one of {', '.join(_FILE_MODES)}; found {mode!r}"
            )
        present = f"{file_name}.csv" in root_files
        if mode == "absent" and present:
            raise OneRosterBundleError(f"{archive}: {file_name}.csv is in the archive but {MANIFEST} marks it absent")
        if mode != "absent" and not present:
            raise OneRosterBundleError(
                f"{archive}: {MANIFEST} marks {file_name}.csv {mode} but the archive has no such member"
            )
        if mode == "delta" and ingested:
            raise OneRosterBundleError(
                f"{archive}: {file_name}.csv is a delta file; delta bundles are not supported yet (bulk only)"
            )
        modes[file_name] = mode
    return modes


def _read_header(zf: zipfile.ZipFile, archive: str, spec: FileSpec) -> list[str]:
    first = next(_records(zf, archive, spec.member), None)
    if first is None:
        raise OneRosterBundleError(
            f"{archive}: {spec.member} is empty; expected a header row: {','.join(spec.columns)}"
        )
    header = first[1]
    _check_header(archive, spec, header)
    return header


def _check_header(archive: str, spec: FileSpec, header: list[str]) -> None:
    expected = list(spec.columns)
    extension = header[len(expected) :]
    bad_extension = [c for c in extension if not c.startswith(_METADATA_PREFIX) or c == _METADATA_PREFIX]
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if header[: len(expected)] == expected and not bad_extension and not duplicates:
        return
    # A first line without "sourcedId" is probably a data row (header missing): mask it.
    is_header = "sourcedId" in header
    shown = [_safe_column_name(c, i, is_header) for i, c in enumerate(header, start=1)]
    problems: list[str] = []
    missing = [c for c in expected if c not in header]
    if missing:
        problems.append(f"missing columns: {', '.join(missing)}")
    if "resourceSourcedIds" in header and spec.file_name == "users":
        problems.append("resourceSourcedIds is a OneRoster 1.2.0 column removed in 1.2.1")
    if is_header:
        for i, (want, got) in enumerate(zip(expected, header, strict=False), start=1):
            if want != got:
                problems.append(f"wrong order or name at column {i}: expected {want}, found {shown[i - 1]}")
                break
    if bad_extension and not missing:
        problems.append("extra columns after the spec columns must be named metadata.*")
    if duplicates:
        names = ", ".join(_safe_column_name(c, 0, is_header) for c in duplicates)
        problems.append(f"duplicate columns: {names}")
    raise OneRosterBundleError(
        f"{archive}: {spec.member} header does not match OneRoster 1.2 ({'; '.join(problems)}). "
        f"Expected, in this order: {','.join(expected)} (then optional metadata.* columns). "
        f"Found: {','.join(shown)}"
    )


def _safe_column_name(name: str, position: int, is_header: bool) -> str:
    if name in _KNOWN_COLUMN_NAMES or (is_header and len(name) <= 80):
        return name
    lowered = {c.lower(): c for c in _KNOWN_COLUMN_NAMES}
    if name.lower() in lowered:  # a case slip is worth showing exactly
        return f"{name} (case differs from {lowered[name.lower()]})"
    return f"<unrecognised column {position}>" if position else "<unrecognised column>"


# --------------------------------------------------------------------------------------------
# Streaming records
# --------------------------------------------------------------------------------------------


def _records(zf: zipfile.ZipFile, archive: str, member: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (physical line where the record starts, fields) for every non-blank record.

    csv.reader's line_num is the last physical line consumed, so a record starts one line after
    the previous record ended; this stays right across quoted embedded newlines.
    """
    line = 0
    try:
        with zf.open(member) as raw:
            # utf-8-sig drops a BOM; newline="" lets csv see CRLF and quoted newlines intact.
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(text)
            while True:
                start = reader.line_num + 1
                try:
                    values = next(reader)
                except StopIteration:
                    return
                line = start
                if values:  # a blank line carries no data
                    yield start, values
    except UnicodeDecodeError:
        raise OneRosterBundleError(f"{archive}: {member} is not valid UTF-8 (after line {line})") from None
    except csv.Error as exc:
        raise OneRosterBundleError(f"{archive}: {member} is not valid CSV after line {line}: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise OneRosterBundleError(f"{archive}: {member} could not be decompressed: {exc}") from None


# --------------------------------------------------------------------------------------------
# Row rules
# --------------------------------------------------------------------------------------------


class Problem(NamedTuple):
    rule: str
    field: str | None
    detail: str


_NOUNS = {
    "orgs": "org",
    "academic_sessions": "academic session",
    "courses": "course",
    "classes": "class",
    "users": "user",
}


class _RowChecker:
    """Applies one file's row rules. Holds only ids: seen sourcedIds of this file and the valid
    ids (with types) of the files it references. Column positions are resolved once, because
    this runs for every row of every file."""

    def __init__(self, spec: FileSpec, header: list[str], known: dict[str, dict[str, str]]):
        at = {name: i for i, name in enumerate(spec.columns)}
        self.spec = spec
        self.width = len(header)
        self.required = [(at[c], c) for c in spec.columns if c in spec.required]
        self.dates = [(at[c], c) for c in spec.columns if c in spec.dates]
        self.school_year = at.get("schoolYear")
        self.enums = [(at[c], c, frozenset(values), values) for c, values in spec.enums]
        self.booleans = [(at[c], c) for c in spec.columns if c in spec.booleans]
        self.external = [(at[r.field], r, known.get(r.target, {})) for r in spec.refs if r.target != spec.entity]
        self.internal = [(at[r.field], r) for r in spec.refs if r.target == spec.entity]
        self.seen: set[str] = set()

    def problems(self, values: list[str], same_file: dict[str, str] | None) -> list[Problem]:
        """All rule failures, most basic first. ``same_file`` holds the valid ids of this file
        for self references; None skips them (first pass)."""
        if len(values) != self.width:
            return [Problem("field_count", None, f"expected {self.width} fields as in the header, found {len(values)}")]
        found = self._required(values)
        found += self._sourced_id(values)
        found += self._dates(values)
        found += self._enums(values)
        found += self._duplicate(values)
        found += self._references(values, same_file)
        return found

    def self_reference_targets(self, values: list[str]) -> list[str]:
        targets: list[str] = []
        for i, ref in self.internal:
            targets += _ref_items(values[i], ref.many)
        return targets

    def _required(self, values: list[str]) -> list[Problem]:
        return [Problem("required", c, f"{c} is required but blank") for i, c in self.required if not values[i].strip()]

    def _sourced_id(self, values: list[str]) -> list[Problem]:
        sid = values[0]
        if sid and not _SOURCED_ID.fullmatch(sid):
            return [
                Problem(
                    "sourced_id_format",
                    "sourcedId",
                    f"sourcedId must be 1-255 characters of [0-9A-Za-z./@_-] (found {len(sid)} characters)",
                )
            ]
        return []

    def _dates(self, values: list[str]) -> list[Problem]:
        found = [
            Problem("date_format", c, f"{c} is not a YYYY-MM-DD date")
            for i, c in self.dates
            if values[i] and not _is_date(values[i])
        ]
        if self.school_year is not None:
            value = values[self.school_year]
            if value and not _YEAR.fullmatch(value):
                found.append(Problem("date_format", "schoolYear", "schoolYear is not a four-digit year"))
        return found

    def _enums(self, values: list[str]) -> list[Problem]:
        found = []
        for i, name, allowed, ordered in self.enums:
            value = values[i]
            if value and value not in allowed and not _EXT_ENUM.fullmatch(value):
                shown = self._shown(name, value)
                found.append(Problem("enum", name, f"{name}{shown} is not one of {', '.join(ordered)} or ext:*"))
        for i, name in self.booleans:
            value = values[i]
            if value and value not in _BOOL:
                shown = self._shown(name, value)
                found.append(Problem("enum", name, f"{name}{shown} is not lowercase true/false"))
        return found

    def _duplicate(self, values: list[str]) -> list[Problem]:
        sid = values[0]
        if not sid:
            return []
        if sid in self.seen:
            return [
                Problem(
                    "duplicate_sourced_id",
                    "sourcedId",
                    f"sourcedId already used by an earlier row of {self.spec.member}",
                )
            ]
        self.seen.add(sid)
        return []

    def _references(self, values: list[str], same_file: dict[str, str] | None) -> list[Problem]:
        checks = [(i, ref, targets) for i, ref, targets in self.external]
        if same_file is not None:
            checks += [(i, ref, same_file) for i, ref in self.internal]
        found = []
        for i, ref, targets in checks:
            value = values[i]
            if not value:
                continue  # blank is the `required` rule's business
            if not ref.many:  # fast path for the common case: one id, present, right type
                kind = targets.get(value)
                if kind is not None and ref.target_type in (None, kind):
                    continue
            problem = _check_ref(ref, value, targets, self.spec)
            if problem:
                found.append(problem)
        return found

    def _shown(self, name: str, value: str) -> str:
        # Non-personal codes are worth quoting; personal values never are.
        if name in self.spec.personal:
            return ""
        return f" {value[:40]!r}"


def _ref_items(value: str, many: bool) -> list[str]:
    if not value:
        return []
    return [item.strip() for item in value.split(",")] if many else [value]


def _check_ref(ref: Ref, value: str, targets: dict[str, str], spec: FileSpec) -> Problem | None:
    items = _ref_items(value, ref.many)
    if not items:
        return None
    noun = _NOUNS.get(ref.target, ref.target)
    where = f"in {spec.member}" if ref.target == spec.entity else "in this bundle"
    if "" in items:
        return Problem("dangling_reference", ref.field, f"{ref.field} has an empty list item")
    missing = [item for item in items if item not in targets]
    if missing:
        count = f"{len(missing)} of {len(items)} ids " if ref.many else ""
        return Problem(
            "dangling_reference",
            ref.field,
            f"{ref.field} {count}does not match a valid {noun} {where} (absent, or itself rejected)",
        )
    if ref.target_type:
        wrong = sorted({targets[item] for item in items if targets[item] != ref.target_type})
        if wrong:
            return Problem(
                "dangling_reference",
                ref.field,
                f"{ref.field} points at a {noun} of type {', '.join(wrong)}; expected {ref.target_type}",
            )
    return None


def _is_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Landing one file
# --------------------------------------------------------------------------------------------


def _land_file(
    batch: LandingBatch,
    zf: zipfile.ZipFile,
    archive: str,
    spec: FileSpec,
    header: list[str],
    known: dict[str, dict[str, str]],
) -> None:
    same_file: dict[str, str] | None = None
    if any(ref.target == spec.entity for ref in spec.refs):
        same_file = _valid_ids_with_self_references(zf, archive, spec, header, known)
    checker = _RowChecker(spec, header, known)
    writer = batch.entity_writer(spec.entity, header)
    kept: dict[str, str] = {}
    type_at = spec.columns.index(spec.type_field) if spec.type_field else None
    rows = _records(zf, archive, spec.member)
    next(rows)  # header, already checked
    for line, values in rows:
        source_ref = f"{archive}!{spec.member}:{line}"
        problems = checker.problems(values, same_file)
        if problems:
            first = problems[0]
            detail = "; ".join(p.detail for p in problems)
            raw = _raw(header, values)
            batch.reject(spec.entity, source_ref, first.rule, first.field, detail, raw)
            continue
        writer.append(values, source_ref)
        if spec.referenced:
            kept[values[0]] = values[type_at] if type_at is not None else ""
    writer.close()
    if spec.referenced:
        known[spec.entity] = kept


def _valid_ids_with_self_references(
    zf: zipfile.ZipFile,
    archive: str,
    spec: FileSpec,
    header: list[str],
    known: dict[str, dict[str, str]],
) -> dict[str, str]:
    """First pass for files that reference themselves (parents, agents).

    Collects the ids of rows that pass every other rule, with their same-file targets, then
    drops rows whose targets are missing or dropped, until stable: a child of a rejected parent
    is rejected too, wherever in the file either appears.
    """
    checker = _RowChecker(spec, header, known)
    type_at = spec.columns.index(spec.type_field) if spec.type_field else None
    candidates: dict[str, str] = {}
    edges: dict[str, list[str]] = {}
    rows = _records(zf, archive, spec.member)
    next(rows)
    for _, values in rows:
        if checker.problems(values, None):
            continue
        sid = values[0]
        candidates[sid] = values[type_at] if type_at is not None else ""
        targets = checker.self_reference_targets(values)
        if targets:
            edges[sid] = targets
    referrers: dict[str, list[str]] = {}
    for sid, targets in edges.items():
        for target in targets:
            referrers.setdefault(target, []).append(sid)
    queue = [sid for sid, targets in edges.items() if any(t not in candidates for t in targets)]
    while queue:
        sid = queue.pop()
        if sid not in candidates:
            continue
        del candidates[sid]
        queue.extend(referrers.get(sid, ()))
    return candidates


def _raw(header: list[str], values: list[str]) -> dict[str, str]:
    raw = dict(zip(header, values, strict=False))
    for i, extra in enumerate(values[len(header) :], start=1):
        raw[f"_extra_{i}"] = extra
    return raw
