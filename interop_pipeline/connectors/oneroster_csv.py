"""OneRoster CSV bundle connector (1.1 and 1.2): validate a bulk or delta ZIP bundle and land
its rostering files as one batch.

Bundle-level problems (not a zip or a damaged one, unsafe member paths, too large, bad manifest,
wrong headers, unreadable text: not UTF-8, NUL bytes, quoting that is not RFC 4180, a file ending
inside a quoted field) are fatal: :class:`OneRosterBundleError` is raised and nothing lands.
Row-level problems become reject rows (rule, field, detail, raw record, source ref) and never
stop the batch. Files are validated in dependency order, so a row that points at a rejected row
is rejected too (``dangling_reference``). A row that ends with empty fields beyond its file's
header (rostering hubs write one) is read without them and counted as a
``trailing_empty_fields`` warning; an extra field holding a value still rejects the row
(``field_count``). Only id sets (and org/session types) stay in memory; every file is streamed
from the archive.

Versions: the manifest's ``oneroster.version`` picks 1.1 or 1.2. Whatever the version, every
landed file of an entity has the same canonical columns (the union of both versions' columns,
then the district's expected ``metadata.*`` extension columns, then any other ``metadata.*``
columns of the file); a column a bundle lacks lands as null. 1.1 has no roles.csv: a user's
role and orgs travel in users.csv, so the roles entity lands empty and takes users' mode.

Bulk and delta: a bulk file is the entity's full state; a delta file changes the state left by
the batches before it (the newest bulk batch of the entity, then later delta batches). The
batch record's ``details`` say the version and each entity's mode, which is how staging and
later deltas know what a batch holds. References resolve against the state this bundle leaves:
a bulk file's own rows, otherwise the ids current in the landing zone (read from the id columns
of the batches in effect) changed by this bundle's delta rows.

Privacy: reject details and exception messages never echo values of personal fields; the raw
row goes only into the reject's ``raw_record``.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

import pyarrow.parquet as pq

from interop_pipeline.connectors.archive import open_checked_zip, open_member
from interop_pipeline.connectors.landing import LandingBatch, find_landed_batch, read_batch_records, sha256_file


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
    oneroster_version: str = ""  # empty when already landed
    modes: dict[str, str] = field(default_factory=dict)  # entity -> bulk | delta | absent
    # Quirks read past without losing data: kind -> rows, over the bundle and per file (member).
    warnings: dict[str, int] = field(default_factory=dict)
    warnings_by_file: dict[str, dict[str, int]] = field(default_factory=dict)


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

# users.csv columns 1.1 and 1.2 share, in the same order (after enabledUser).
_USER_COMMON = (
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
)
_USER_PERSONAL = (frozenset(_USER_COMMON) - {"agentSourcedIds", "grades"}) | {
    "userMasterIdentifier",
    "preferredGivenName",
    "preferredMiddleName",
    "preferredFamilyName",
    "pronouns",
}

# OneRoster 1.2, in dependency order: every file only references files before it (or itself).
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
            *_USER_COMMON,
            "userMasterIdentifier",
            "preferredGivenName",
            "preferredMiddleName",
            "preferredFamilyName",
            "primaryOrgSourcedId",
            "pronouns",
        ),
        required=frozenset({"sourcedId", "enabledUser", "username", "givenName", "familyName"}),
        booleans=frozenset({"enabledUser"}),
        personal=_USER_PERSONAL,
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

# OneRoster 1.1 users.csv carries each user's role and orgs: 1.1 has no roles.csv.
_USERS_11 = FileSpec(
    "users",
    "users",
    (*_LEAD, "enabledUser", "orgSourcedIds", "role", *_USER_COMMON),
    required=frozenset({"sourcedId", "enabledUser", "orgSourcedIds", "role", "username", "givenName", "familyName"}),
    enums=(("role", ("administrator", "aide", "guardian", "parent", "proctor", "relative", "student", "teacher")),),
    booleans=frozenset({"enabledUser"}),
    personal=_USER_PERSONAL,
    refs=(Ref("orgSourcedIds", "orgs", many=True), Ref("agentSourcedIds", "users", many=True)),
    referenced=True,
)


@dataclass(frozen=True)
class OneRosterVersion:
    """What one version of the CSV binding puts in a bundle."""

    name: str
    manifest_versions: tuple[str, ...]  # accepted `manifest.version` values
    specs: tuple[FileSpec, ...]  # landed files, in dependency order
    other_files: tuple[str, ...]  # legal in a bundle, not landed
    # (entity, leader): an entity without a file of its own that takes the leader's mode.
    mode_follows: tuple[tuple[str, str], ...] = ()

    def spec_for(self, entity: str) -> FileSpec | None:
        return next((spec for spec in self.specs if spec.entity == entity), None)

    @property
    def file_names(self) -> list[str]:
        return [spec.file_name for spec in self.specs] + list(self.other_files)


VERSIONS: dict[str, OneRosterVersion] = {
    "1.2": OneRosterVersion("1.2", ("1.0",), SPECS, OTHER_FILES),
    "1.1": OneRosterVersion(
        "1.1",
        ("1.0", "1"),  # rostering hubs write "1" in real 1.1 exports
        tuple(_USERS_11 if s.entity == "users" else s for s in SPECS if s.entity not in ("roles", "user_profiles")),
        ("categories", "classResources", "courseResources", "lineItems", "resources", "results"),
        mode_follows=(("roles", "users"),),  # a 1.1 users file is also the full (or changed) set of roles
    ),
}

# Every landed entity, in dependency order. Each batch has a file for each: dbt globs them all.
ENTITIES: tuple[str, ...] = tuple(spec.entity for spec in SPECS)


def _canonical_columns() -> dict[str, tuple[str, ...]]:
    """Per entity, the 1.2 columns then those only 1.1 has, so staging can name every column
    whichever version a batch came from."""
    columns: dict[str, list[str]] = {entity: [] for entity in ENTITIES}
    for version in VERSIONS.values():
        for spec in version.specs:
            columns[spec.entity] += [c for c in spec.columns if c not in columns[spec.entity]]
    return {entity: tuple(names) for entity, names in columns.items()}


CANONICAL_COLUMNS: dict[str, tuple[str, ...]] = _canonical_columns()

# Extension columns staging names: the SIS's program flags on demographics.csv.
DEFAULT_EXTENSION_COLUMNS: dict[str, list[str]] = {
    "demographics": [
        "metadata.englishLearner",
        "metadata.idea",
        "metadata.section504",
        "metadata.economicallyDisadvantaged",
        "metadata.homeless",
    ]
}
_TYPE_FIELDS = {spec.entity: spec.type_field for spec in SPECS if spec.type_field}

MANIFEST = "manifest.csv"
_OPTIONAL_PROPERTIES = frozenset({"source.systemName", "source.systemCode"})
_FILE_MODES = ("absent", "bulk", "delta")
DELETED = "tobedeleted"
_STATUSES = ("active", DELETED)

_SOURCED_ID = re.compile(r"[0-9A-Za-z./@_-]{1,255}")
_EXT_ENUM = re.compile(r"ext:[A-Za-z0-9._-]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?Z")
_YEAR = re.compile(r"[0-9]{4}")
_METADATA_PREFIX = "metadata."

# Column names we may always quote back in a header error. Other cells are quoted only when the
# line is evidently a header: without one, the first line is a data row (maybe a student's name).
_KNOWN_COLUMN_NAMES = frozenset(
    {c for columns in CANONICAL_COLUMNS.values() for c in columns} | {"resourceSourcedIds", "gradingPeriodSourcedId"}
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
    extension_columns: Mapping[str, list[str]] | None = None,
) -> BundleLandingResult:
    """Validate a OneRoster 1.1 or 1.2 CSV bundle (bulk and/or delta files) and land its
    rostering files as one batch: one file per entity of :data:`ENTITIES`, canonical columns.

    ``extension_columns`` maps an entity to the ``metadata.*`` columns always landed for it
    (null where a file lacks them); None means :data:`DEFAULT_EXTENSION_COLUMNS`. Other
    ``metadata.*`` columns a file has land too.

    Idempotent: a bundle whose bytes were landed before (under any file name) is not landed
    again; the earlier batch id is returned with ``already_landed=True``.
    """
    extensions = _checked_extension_columns(
        DEFAULT_EXTENSION_COLUMNS if extension_columns is None else extension_columns
    )
    zip_path = Path(zip_path)
    fingerprint = sha256_file(zip_path)
    earlier = find_landed_batch(landing_root, source_system, fingerprint)
    if earlier is not None:
        return BundleLandingResult(batch_id=earlier, already_landed=True)

    archive = zip_path.name
    warnings = _Warnings()
    with open_checked_zip(zip_path, max_uncompressed_bytes, OneRosterBundleError, "a OneRoster CSV bundle") as zf:
        plan = _plan_bundle(zf, archive, warnings)
        with LandingBatch(
            landing_root,
            source_system,
            district_code,
            fingerprint,
            archive,
            extracted_at or datetime.now(UTC),
            details={"oneroster_version": plan.version.name, "modes": plan.modes},
        ) as batch:
            targets = _ReferenceTargets(Path(landing_root), source_system, batch.batch_id)
            for entity in ENTITIES:
                _land_entity(batch, zf, archive, plan, entity, extensions.get(entity, []), targets, warnings)
            if warnings.by_file:  # a clean bundle's record stays as it always was
                batch.details.update(warnings=warnings.totals(), warnings_by_file=warnings.by_file)
            batch.commit()
            counts = batch.counts
    return BundleLandingResult(
        batch_id=batch.batch_id,
        already_landed=False,
        rows_landed=counts.rows_landed,
        rows_rejected=counts.rows_rejected,
        rejects_by_rule=counts.rejects_by_rule,
        files_not_ingested=plan.files_not_ingested,
        oneroster_version=plan.version.name,
        modes=plan.modes,
        warnings=warnings.totals(),
        warnings_by_file=warnings.by_file,
    )


def _checked_extension_columns(extension_columns: Mapping[str, list[str]]) -> dict[str, list[str]]:
    for entity, names in extension_columns.items():
        if entity not in ENTITIES:
            raise ValueError(f"extension_columns: unknown entity {entity!r}; expected one of {', '.join(ENTITIES)}")
        bad = [name for name in names if not _is_extension_column(name)]
        if bad:
            raise ValueError(f"extension_columns[{entity!r}]: {', '.join(bad)} must be named metadata.<name>")
    return {entity: list(dict.fromkeys(names)) for entity, names in extension_columns.items()}


def _is_extension_column(name: str) -> bool:
    return name.startswith(_METADATA_PREFIX) and name != _METADATA_PREFIX


def _landed_columns(entity: str, header: list[str], extensions: list[str]) -> list[str]:
    """Canonical columns, then the expected extension columns, then the file's other ones."""
    expected = [*CANONICAL_COLUMNS[entity], *extensions]
    return expected + [c for c in header if _is_extension_column(c) and c not in expected]


# --------------------------------------------------------------------------------------------
# Bundle-level checks (all before anything is written)
# --------------------------------------------------------------------------------------------


@dataclass
class _BundlePlan:
    version: OneRosterVersion
    modes: dict[str, str]  # entity -> absent | bulk | delta, for every entity of ENTITIES
    headers: dict[str, list[str]]  # member -> header, for ingested files that are present
    files_not_ingested: list[str]


def _plan_bundle(zf: zipfile.ZipFile, archive: str, warnings: _Warnings) -> _BundlePlan:
    files = [i.filename for i in zf.infolist() if not i.is_dir()]
    root_files = {name for name in files if "/" not in name}
    if MANIFEST not in root_files:
        nested = [name for name in files if name.endswith("/" + MANIFEST)]
        hint = ""
        if nested:
            hint = f"; found {nested[0]!r} - the bundle's files must be at the ZIP root"
        raise OneRosterBundleError(f"{archive}: no {MANIFEST} at the root of the archive{hint}")
    manifest = _read_manifest(zf, archive, warnings)
    version, file_modes = _check_manifest(manifest, archive, root_files)
    headers: dict[str, list[str]] = {}
    for spec in version.specs:
        if file_modes[spec.file_name] != "absent":
            headers[spec.member] = _read_header(zf, archive, spec, version)
    ingested = {MANIFEST, *headers}
    not_ingested = sorted(name for name in files if name not in ingested)
    return _BundlePlan(version, _entity_modes(version, file_modes), headers, not_ingested)


def _entity_modes(version: OneRosterVersion, file_modes: dict[str, str]) -> dict[str, str]:
    modes = {spec.entity: file_modes[spec.file_name] for spec in version.specs}
    for entity, leader in version.mode_follows:
        modes[entity] = modes[leader]
    return {entity: modes.get(entity, "absent") for entity in ENTITIES}


def _read_manifest(zf: zipfile.ZipFile, archive: str, warnings: _Warnings) -> dict[str, str]:
    properties: dict[str, str] = {}
    records = _records(zf, archive, MANIFEST)
    header = next(records, None)
    if header is None or header[1] != ["propertyName", "value"]:
        found = ",".join(header[1]) if header else "nothing"
        raise OneRosterBundleError(f"{archive}: {MANIFEST} header must be 'propertyName,value'; found {found!r}")
    for line, fields in records:
        values, trimmed = _without_trailing_empty_fields(fields, 2)
        if trimmed:
            warnings.count(MANIFEST, TRAILING_EMPTY_FIELDS)
        if len(values) != 2:
            raise OneRosterBundleError(f"{archive}: {MANIFEST} line {line} has {len(values)} fields; expected 2")
        name, value = values
        if name in properties:
            raise OneRosterBundleError(f"{archive}: {MANIFEST} repeats property {name!r} (line {line})")
        properties[name] = value
    return properties


def _check_manifest(
    manifest: dict[str, str], archive: str, root_files: set[str]
) -> tuple[OneRosterVersion, dict[str, str]]:
    """Validate manifest properties against the archive; returns the version and, per file
    named in the manifest, absent|bulk|delta."""
    version = _manifest_version(manifest, archive)
    allowed = {"manifest.version", "oneroster.version", *_OPTIONAL_PROPERTIES}
    allowed |= {f"file.{name}" for name in version.file_names}
    unknown = sorted(set(manifest) - allowed)
    if unknown:
        raise OneRosterBundleError(
            f"{archive}: {MANIFEST} has unknown properties: {', '.join(unknown)} (for OneRoster {version.name})"
        )
    return version, _file_modes(manifest, archive, root_files, version)


def _manifest_version(manifest: dict[str, str], archive: str) -> OneRosterVersion:
    for name in ("manifest.version", "oneroster.version"):
        if name not in manifest:
            raise OneRosterBundleError(f"{archive}: {MANIFEST} is missing property {name}")
    version = VERSIONS.get(manifest["oneroster.version"])
    if version is None:
        known = ", ".join(repr(name) for name in sorted(VERSIONS))
        found = manifest["oneroster.version"]
        raise OneRosterBundleError(f"{archive}: {MANIFEST} oneroster.version must be one of {known}; found {found!r}")
    if manifest["manifest.version"] not in version.manifest_versions:
        accepted = " or ".join(repr(v) for v in version.manifest_versions)
        found = manifest["manifest.version"]
        raise OneRosterBundleError(f"{archive}: {MANIFEST} manifest.version must be {accepted}; found {found!r}")
    return version


def _file_modes(
    manifest: dict[str, str], archive: str, root_files: set[str], version: OneRosterVersion
) -> dict[str, str]:
    ingested = {spec.file_name for spec in version.specs}
    modes: dict[str, str] = {}
    for file_name in version.file_names:
        prop = f"file.{file_name}"
        if prop not in manifest:
            # We need to know what each landed file is; the others we leave alone.
            if file_name in ingested:
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
        modes[file_name] = mode
    return modes


def _read_header(zf: zipfile.ZipFile, archive: str, spec: FileSpec, version: OneRosterVersion) -> list[str]:
    first = next(_records(zf, archive, spec.member), None)
    if first is None:
        raise OneRosterBundleError(
            f"{archive}: {spec.member} is empty; expected a header row: {','.join(spec.columns)}"
        )
    header = first[1]
    _check_header(archive, spec, header, version)
    return header


def _check_header(archive: str, spec: FileSpec, header: list[str], version: OneRosterVersion) -> None:
    expected = list(spec.columns)
    extension = header[len(expected) :]
    bad_extension = [c for c in extension if not _is_extension_column(c)]
    duplicates = sorted({c for c in header if header.count(c) > 1})
    if header[: len(expected)] == expected and not bad_extension and not duplicates:
        return
    # A first line without "sourcedId" is probably a data row (header missing): mask it. So is a
    # header holding a line break: a stray quote ran it on into the data rows. Past the spec's
    # columns only metadata.* names are shown: a header that lost its line break carries the
    # first row's values there.
    is_header = "sourcedId" in header and not any("\n" in c or "\r" in c for c in header)
    showable = [is_header and (i < len(expected) or _is_extension_column(c)) for i, c in enumerate(header)]
    shown = [_safe_column_name(c, i, showable[i - 1]) for i, c in enumerate(header, start=1)]
    problems = _other_version_hint(spec, header, version)
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
        names = ", ".join(_safe_column_name(c, 0, showable[header.index(c)]) for c in duplicates)
        problems.append(f"duplicate columns: {names}")
    raise OneRosterBundleError(
        f"{archive}: {spec.member} header does not match OneRoster {version.name} ({'; '.join(problems)}). "
        f"Expected, in this order: {','.join(expected)} (then optional metadata.* columns). "
        f"Found: {','.join(shown)}"
    )


def _other_version_hint(spec: FileSpec, header: list[str], version: OneRosterVersion) -> list[str]:
    """A file of the other version (a 1.1 users.csv in a bundle marked 1.2) is worth naming."""
    for other in VERSIONS.values():
        theirs = other.spec_for(spec.entity)
        if other is not version and theirs is not None and header[: len(theirs.columns)] == list(theirs.columns):
            return [f"this is the OneRoster {other.name} header, but {MANIFEST} says oneroster.version {version.name}"]
    return []


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
    the previous record ended; this stays right across quoted embedded newlines. Quoting is read
    strictly (RFC 4180, as the CSV binding says), which also tells a file that ends inside a
    quoted field (truncated: its last value would land cut short) from a complete one. NUL bytes
    are never text (binary content, or UTF-16 without a byte-order mark): the bundle is refused.
    """
    line = start = 0
    ended = False

    def physical_lines(text: io.TextIOWrapper) -> Iterator[str]:
        nonlocal ended
        for number, physical in enumerate(text, start=1):
            if "\x00" in physical:
                raise OneRosterBundleError(
                    f"{archive}: {member} has NUL bytes at line {number}; expected UTF-8 text "
                    "(binary content, or UTF-16 without a byte-order mark)"
                )
            yield physical
        ended = True

    try:
        # Damaged archive bytes (header, CRC, stream) raise OneRosterBundleError naming the member.
        with open_member(zf, member, f"{archive}: {member}", OneRosterBundleError) as raw:
            # utf-8-sig drops a BOM; newline="" lets csv see CRLF and quoted newlines intact.
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = csv.reader(physical_lines(text), strict=True)
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
        if ended:
            raise OneRosterBundleError(
                f"{archive}: {member} is truncated: the record starting at line {start} is still inside a "
                "quoted field at the end of the file (an incomplete download, or an unbalanced quote)"
            ) from None
        raise OneRosterBundleError(f"{archive}: {member} is not valid CSV after line {line}: {exc}") from None


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


@dataclass(frozen=True)
class _DataFile:
    """One data file of the bundle being landed, with its checked header."""

    zf: zipfile.ZipFile
    archive: str
    spec: FileSpec
    header: list[str]
    delta: bool

    def rows(self) -> Iterator[tuple[int, list[str], bool]]:
        """(line, fields, whether empty fields beyond the header were dropped) per data row."""
        rows = _records(self.zf, self.archive, self.spec.member)
        next(rows)  # the header, already checked
        width = len(self.header)
        for line, fields in rows:
            values, trimmed = _without_trailing_empty_fields(fields, width)
            yield line, values, trimmed

    def source_ref(self, line: int) -> str:
        return f"{self.archive}!{self.spec.member}:{line}"


def _is_deletion(values: list[str]) -> bool:
    return values[1] == DELETED


TRAILING_EMPTY_FIELDS = "trailing_empty_fields"


def _without_trailing_empty_fields(values: list[str], width: int) -> tuple[list[str], bool]:
    """The row without empty fields beyond the header's ``width``, and whether there were any.

    Rostering hubs end some rows with one empty field more than the header has: it carries no
    data, so the row is read without it. A row whose extra field holds a value is left as it is
    (the field-count rule rejects it: which column the value belongs to is unknown).
    """
    if len(values) > width and not any(value.strip() for value in values[width:]):
        return values[:width], True
    return values, False


@dataclass
class _Warnings:
    """Rows read past a harmless quirk, per file and kind: reported, never rejected."""

    by_file: dict[str, dict[str, int]] = field(default_factory=dict)

    def count(self, member: str, kind: str) -> None:
        kinds = self.by_file.setdefault(member, {})
        kinds[kind] = kinds.get(kind, 0) + 1

    def totals(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for kinds in self.by_file.values():
            for kind, rows in kinds.items():
                totals[kind] = totals.get(kind, 0) + rows
        return totals


class _RowChecker:
    """Applies one file's row rules. Holds only ids: seen sourcedIds of this file and the valid
    ids (with types) of the files it references. Column positions are resolved once, because
    this runs for every row of every file."""

    def __init__(self, file: _DataFile, targets: _ReferenceTargets):
        spec = file.spec
        at = {name: i for i, name in enumerate(spec.columns)}
        self.spec = spec
        self.delta = file.delta
        self.width = len(file.header)
        self.required = [(at[c], c) for c in spec.columns if c in spec.required]
        self.dates = [(at[c], c) for c in spec.columns if c in spec.dates]
        self.school_year = at.get("schoolYear")
        self.enums = [(at[c], c, frozenset(values), values) for c, values in spec.enums]
        self.booleans = [(at[c], c) for c in spec.columns if c in spec.booleans]
        self.external = [(at[r.field], r, targets.ids(r.target)) for r in spec.refs if r.target != spec.entity]
        self.internal = [(at[r.field], r) for r in spec.refs if r.target == spec.entity]
        self.seen: set[str] = set()

    def problems(self, values: list[str], same_file: dict[str, str] | None) -> list[Problem]:
        """All rule failures, most basic first. ``same_file`` holds the valid ids of this file
        for self references; None skips them (first pass)."""
        if len(values) != self.width:
            return [Problem("field_count", None, f"expected {self.width} fields as in the header, found {len(values)}")]
        found = self._change(values) if self.delta else []
        if self.delta and _is_deletion(values):
            # A deletion needs only its id: the rest may be blank or point at rows deleted with it.
            return found + self._blank(values, [(0, "sourcedId")]) + self._sourced_id(values) + self._duplicate(values)
        found += self._blank(values, self.required)
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

    def _blank(self, values: list[str], required: list[tuple[int, str]]) -> list[Problem]:
        return [Problem("required", c, f"{c} is required but blank") for i, c in required if not values[i].strip()]

    def _change(self, values: list[str]) -> list[Problem]:
        """A delta row says what happened and when: status and dateLastModified are required."""
        status, modified = values[1], values[2]
        found = self._blank(values, [(1, "status"), (2, "dateLastModified")])
        if status.strip() and status not in _STATUSES:
            found.append(Problem("enum", "status", f"status {status[:40]!r} is not one of {', '.join(_STATUSES)}"))
        if modified.strip() and not _is_date_time(modified):
            found.append(
                Problem("date_format", "dateLastModified", "dateLastModified is not a YYYY-MM-DDTHH:MM:SS.sssZ time")
            )
        return found

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
    return _parses(value, _DATE, date.fromisoformat)


def _is_date_time(value: str) -> bool:
    return _parses(value, _DATE_TIME, datetime.fromisoformat)


def _parses(value: str, shape: re.Pattern[str], parse: Callable[[str], object]) -> bool:
    """The value has the shape and is a real calendar value (no February 30th)."""
    if not shape.fullmatch(value):
        return False
    try:
        parse(value)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Landing one file
# --------------------------------------------------------------------------------------------


def _land_entity(
    batch: LandingBatch,
    zf: zipfile.ZipFile,
    archive: str,
    plan: _BundlePlan,
    entity: str,
    extensions: list[str],
    targets: _ReferenceTargets,
    warnings: _Warnings,
) -> None:
    spec = plan.version.spec_for(entity)
    header = plan.headers.get(spec.member) if spec is not None else None
    columns = _landed_columns(entity, header or [], extensions)
    if spec is None or header is None:  # absent, or no such file in this version: land it empty
        batch.entity_writer(entity, columns).close()
        return
    file = _DataFile(zf, archive, spec, header, plan.modes[entity] == "delta")
    _land_file(batch, file, columns, targets, warnings)


def _land_file(
    batch: LandingBatch, file: _DataFile, columns: list[str], targets: _ReferenceTargets, warnings: _Warnings
) -> None:
    spec = file.spec
    # A delta changes the landed state; a bulk file replaces it.
    state = dict(targets.ids(spec.entity)) if file.delta and spec.referenced else {}
    same_file: dict[str, str] | None = None
    if any(ref.target == spec.entity for ref in spec.refs):
        same_file = _valid_ids_with_self_references(file, targets, state)
    checker = _RowChecker(file, targets)
    writer = batch.entity_writer(spec.entity, columns)
    at = {name: i for i, name in enumerate(file.header)}
    positions = [at.get(name) for name in columns]  # None: a column this file lacks
    type_at = spec.columns.index(spec.type_field) if spec.type_field else None
    for line, values, trimmed in file.rows():
        if trimmed:
            warnings.count(spec.member, TRAILING_EMPTY_FIELDS)
        source_ref = file.source_ref(line)
        problems = checker.problems(values, same_file)
        if problems:
            first = problems[0]
            detail = "; ".join(p.detail for p in problems)
            batch.reject(spec.entity, source_ref, first.rule, first.field, detail, _raw(file.header, values))
            continue
        writer.append([values[i] if i is not None else None for i in positions], source_ref)
        if not spec.referenced:
            continue
        if _is_deletion(values):
            state.pop(values[0], None)
        else:
            state[values[0]] = values[type_at] if type_at is not None else ""
    writer.close()
    if spec.referenced:
        targets.settle(spec.entity, state)


def _valid_ids_with_self_references(
    file: _DataFile, targets: _ReferenceTargets, landed: dict[str, str]
) -> dict[str, str]:
    """First pass for files that reference themselves (parents, agents).

    Collects the ids of rows that pass every other rule, with their same-file targets, then
    drops rows whose targets are missing or dropped, until stable: a child of a rejected parent
    is rejected too, wherever in the file either appears. In a delta file, ``landed`` (the
    entity's current ids) stay valid targets unless this file deletes them: a rejected new
    version leaves the landed one in place.
    """
    checker = _RowChecker(file, targets)
    spec = file.spec
    type_at = spec.columns.index(spec.type_field) if spec.type_field else None
    candidates: dict[str, str] = {}
    deleted: set[str] = set()
    edges: dict[str, list[str]] = {}
    for _, values, _ in file.rows():
        if checker.problems(values, None):
            continue
        sid = values[0]
        if _is_deletion(values):
            deleted.add(sid)
            continue
        candidates[sid] = values[type_at] if type_at is not None else ""
        found = checker.self_reference_targets(values)
        if found:
            edges[sid] = found
    standing = {sid: kind for sid, kind in landed.items() if sid not in deleted}
    referrers: dict[str, list[str]] = {}
    for sid, found in edges.items():
        for target in found:
            referrers.setdefault(target, []).append(sid)
    queue = [sid for sid, found in edges.items() if any(t not in candidates and t not in standing for t in found)]
    while queue:
        sid = queue.pop()
        if sid not in candidates:
            continue
        del candidates[sid]
        if sid not in standing:
            queue.extend(referrers.get(sid, ()))
    return {**standing, **candidates}


def _raw(header: list[str], values: list[str]) -> dict[str, str]:
    raw = dict(zip(header, values, strict=False))
    for i, extra in enumerate(values[len(header) :], start=1):
        raw[f"_extra_{i}"] = extra
    return raw


# --------------------------------------------------------------------------------------------
# What the landing zone holds already (for deltas and files a bundle leaves out)
# --------------------------------------------------------------------------------------------


class _ReferenceTargets:
    """Valid ids (with their type) of each entity as this bundle leaves it: a bulk file's own
    valid rows; otherwise the ids current in the landing zone before this batch, changed by
    this bundle's delta rows. The landing zone is read only for entities something references,
    and only their id, status and type columns."""

    def __init__(self, landing_root: Path, source_system: str, batch_id: str):
        self._landing_root = landing_root
        self._source_system = source_system
        self._batch_id = batch_id
        self._ids: dict[str, dict[str, str]] = {}
        self._earlier: list[tuple[str, dict[str, str]]] | None = None

    def ids(self, entity: str) -> dict[str, str]:
        if entity not in self._ids:
            self._ids[entity] = self._landed_ids(entity)
        return self._ids[entity]

    def settle(self, entity: str, ids: dict[str, str]) -> None:
        """This bundle's file for the entity is landed: these are its valid ids from now on."""
        self._ids[entity] = ids

    def _landed_ids(self, entity: str) -> dict[str, str]:
        type_field = _TYPE_FIELDS.get(entity)
        columns = ["sourcedId", "status", *([type_field] if type_field else [])]
        ids: dict[str, str] = {}
        for batch_id in batches_in_effect(self._earlier_batches(), entity):
            path = self._landing_root / self._source_system / entity / f"{batch_id}.parquet"
            for sid, status, *kind in _scan_columns(path, columns):
                if status == DELETED:
                    ids.pop(sid, None)
                else:
                    ids[sid] = (kind[0] or "") if kind else ""
        return ids

    def _earlier_batches(self) -> list[tuple[str, dict[str, str]]]:
        if self._earlier is None:  # only batches with a record count
            records = read_batch_records(self._landing_root, self._source_system)
            self._earlier = [
                (r["batch_id"], r["details"].get("modes", {})) for r in records if r["batch_id"] < self._batch_id
            ]
        return self._earlier


def batches_in_effect(batches: list[tuple[str, dict[str, str]]], entity: str) -> list[str]:
    """Batch ids that make up an entity's current state, oldest first: the newest bulk batch
    that has the entity, then every delta batch after it (every delta batch while no bulk one
    has landed). ``batches`` holds (batch id, entity -> mode). The dbt macro
    ``oneroster_batches_in_effect`` applies the same rule."""
    chain: list[str] = []
    for batch_id, modes in sorted(batches, key=lambda batch: batch[0]):
        mode = modes.get(entity, "bulk")  # batches landed before modes were recorded were all bulk
        if mode == "bulk":
            chain = [batch_id]
        elif mode == "delta":
            chain.append(batch_id)
    return chain


def _scan_columns(path: Path, columns: list[str]) -> Iterator[tuple]:
    """Stream some columns of a landed Parquet file, one record batch at a time; columns the
    file lacks (an older layout) read as null."""
    if not path.exists():  # nothing landed there: staging reads nothing from it either
        return
    with pq.ParquetFile(path) as parquet:
        present = [name for name in columns if name in parquet.schema_arrow.names]
        for chunk in parquet.iter_batches(columns=present):
            values = {name: chunk.column(name).to_pylist() for name in present}
            blank = [None] * chunk.num_rows
            yield from zip(*(values.get(name, blank) for name in columns), strict=True)
