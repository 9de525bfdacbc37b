"""The read side of OneRoster 1.2 rostering REST, over records held in memory.

Records are OneRoster 1.2 JSON: references are `{href, sourcedId, type}` objects, a user's roles
are `user.roles[]`, collections are wrapped (`{"users": [...]}`) and single records too
(`{"user": {...}}`). `RosterReader.read` answers one GET below the rostering root: the
collections, single records and nested school/class paths, with `limit`/`offset` paging,
`X-Total-Count` and a `Link` header, `sort`/`orderBy`, `fields`, `filter` (two clauses at most)
and `imsx_*` error bodies, each checked against the token's scopes. Both the simulated SIS
(simulators/oneroster_api.py) and the district's own server (server.py) answer through it, so
what we test our connector against is what we serve.

Records keep one order (the source's): a changed record keeps its place, an added one goes last,
a deleted one stays (status `tobedeleted`). So offset paging is coherent while records change,
and a filtered collection only grows during a walk (a walk may see a record twice, never skip one).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

SCOPE_ROOT = "https://purl.imsglobal.org/spec/or/v1p2/scope/"
SCOPE_CORE = SCOPE_ROOT + "roster-core.readonly"
SCOPE_ROSTER = SCOPE_ROOT + "roster.readonly"
SCOPE_DEMOGRAPHICS = SCOPE_ROOT + "roster-demographics.readonly"
ALL_SCOPES = frozenset({SCOPE_CORE, SCOPE_ROSTER, SCOPE_DEMOGRAPHICS})
# Which scopes open an entity: core rostering excludes demographics; roster.readonly opens all.
ENTITY_SCOPES = {"demographics": {SCOPE_ROSTER, SCOPE_DEMOGRAPHICS}}
CORE_SCOPES = {SCOPE_CORE, SCOPE_ROSTER}

DEFAULT_LIMIT = 100
MAX_LIMIT = 5000

ENTITIES = ("academicSessions", "orgs", "courses", "classes", "users", "enrollments", "demographics")
SINGULAR = {
    "academicSessions": "academicSession",
    "orgs": "org",
    "courses": "course",
    "classes": "class",
    "users": "user",
    "enrollments": "enrollment",
    "demographics": "demographics",
}

Record = dict[str, Any]
Predicate = Callable[[Record], bool]


def _always(record: Record) -> bool:
    return True


def has_role(record: Record, role: str, org: str | None = None) -> bool:
    return any(r["role"] == role and (org is None or ref_id(r, "org") == org) for r in record.get("roles", []))


def ref_id(record: Record, reference: str) -> str | None:
    """The sourcedId a record's reference points to; None when it has none (a deleted record may
    carry only its sourcedId, status and dateLastModified)."""
    return (record.get(reference) or {}).get("sourcedId")


# Collections as the API names them: (entity served, which of its records).
COLLECTIONS: dict[str, tuple[str, Predicate]] = {
    **{entity: (entity, _always) for entity in ENTITIES},
    "schools": ("orgs", lambda r: r.get("type") == "school"),
    # 1.2 terms are sessions of type term; SISes serve their semesters there too.
    "terms": ("academicSessions", lambda r: r.get("type") in ("term", "semester")),
    "gradingPeriods": ("academicSessions", lambda r: r.get("type") == "gradingPeriod"),
    "students": ("users", lambda r: has_role(r, "student")),
    "teachers": ("users", lambda r: has_role(r, "teacher")),
}


class ImsxError(Exception):
    """An answer in the OneRoster error shape (imsx_codeMajor, imsx_severity, imsx_description)."""

    def __init__(self, status: int, code_minor: str, description: str):
        super().__init__(description)
        self.status, self.code_minor, self.description = status, code_minor, description


CODE_MINOR = {
    400: "invalid_selection_field",
    401: "unauthorisedrequest",
    403: "forbidden",
    404: "unknownobject",
    422: "invalid_data",
    429: "server_busy",
    500: "internal_server_error",
    503: "server_busy",
}


def imsx_body(status: int, description: str, code_minor: str | None = None) -> dict[str, Any]:
    return {
        "imsx_codeMajor": "failure",
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_CodeMinor": {
            "imsx_codeMinorField": [
                {
                    "imsx_codeMinorFieldName": "TargetEndSystem",
                    "imsx_codeMinorFieldValue": code_minor or CODE_MINOR.get(status, "invalid_data"),
                }
            ]
        },
    }


def iso_timestamp(moment: datetime) -> str:
    """OneRoster DateTime: UTC with milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


# -- filter grammar ----------------------------------------------------------------------------
_CLAUSE = re.compile(r"\s*([A-Za-z][A-Za-z0-9_.]*)\s*(!=|>=|<=|=|>|<|~)\s*'((?:[^']|'')*)'\s*")
_JOIN = re.compile(r"\s+(AND|OR)\s+")


@dataclass(frozen=True)
class Clause:
    field: str
    op: str
    value: str


def parse_filter(text: str) -> tuple[list[Clause], str | None]:
    """`field op 'value'` [AND|OR `field op 'value'`]; quotes inside values are doubled."""
    clauses: list[Clause] = []
    joiner: str | None = None
    position = 0
    while True:
        match = _CLAUSE.match(text, position)
        if match is None:
            raise ImsxError(400, "invalid_filter_field", f"filter is not field<op>'value' at character {position}")
        clauses.append(Clause(match[1], match[2], match[3].replace("''", "'")))
        position = match.end()
        if position == len(text):
            return clauses, joiner
        join = _JOIN.match(text, position - 1) or _JOIN.match(text, position)
        if join is None or len(clauses) == 2:
            raise ImsxError(400, "invalid_filter_field", "filter allows at most two clauses joined by AND or OR")
        joiner, position = join[1], join.end()


def field_values(record: Record, path: str) -> list[Any]:
    """Every leaf value at a dotted path; lists (of values or of objects) are flattened."""
    values: list[Any] = [record]
    for part in path.split("."):
        found: list[Any] = []
        for value in values:
            items = value if isinstance(value, list) else [value]
            found += [item[part] for item in items if isinstance(item, dict) and part in item]
        values = found
    flat: list[Any] = []
    for value in values:
        flat += value if isinstance(value, list) else [value]
    return flat


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _compare(value: Any, op: str, wanted: str) -> bool:
    text = _as_text(value)
    if op == "~":
        return wanted.lower() in text.lower()
    if op == "=":
        return text == wanted
    if op == "!=":
        return text != wanted
    if value is None:  # a missing value is neither before nor after anything
        return False
    return {">": text > wanted, ">=": text >= wanted, "<": text < wanted, "<=": text <= wanted}[op]


def clause_matches(record: Record, clause: Clause) -> bool:
    values = field_values(record, clause.field) or [None]
    if clause.op == "!=":
        return all(_compare(v, "!=", clause.value) for v in values)
    return any(_compare(v, clause.op, clause.value) for v in values)


# -- records from bulk-file rows ---------------------------------------------------------------
def table_rows(table: pa.Table) -> Iterable[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=10_000):
        yield from batch.to_pylist()


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()] if value else []


def _bool(value: str | None) -> bool | None:
    return None if value is None else value == "true"


class RecordBuilder:
    """OneRoster 1.2 JSON records from CSV-binding rows (text values, None for empty);
    references carry absolute hrefs below `root_url`."""

    def __init__(self, root_url: str, stamp: str):
        self.root_url = root_url
        self.stamp = stamp

    def ref(self, collection: str, sourced_id: str | None, ref_type: str) -> dict[str, str] | None:
        if sourced_id is None:
            return None
        return {"href": f"{self.root_url}/{collection}/{sourced_id}", "sourcedId": sourced_id, "type": ref_type}

    def base(self, row: dict[str, Any]) -> Record:
        return {"sourcedId": row["sourcedId"], "status": "active", "dateLastModified": self.stamp}

    def org(self, row: dict[str, Any], children: list[str]) -> Record:
        return {
            **self.base(row),
            "name": row["name"],
            "type": row["type"],
            "identifier": row["identifier"],
            "parent": self.ref("orgs", row["parentSourcedId"], "org"),
            "children": [self.ref("orgs", child, "org") for child in children],
        }

    def academic_session(self, row: dict[str, Any], children: list[str]) -> Record:
        return {
            **self.base(row),
            "title": row["title"],
            "type": row["type"],
            "startDate": row["startDate"],
            "endDate": row["endDate"],
            "parent": self.ref("academicSessions", row["parentSourcedId"], "academicSession"),
            "children": [self.ref("academicSessions", child, "academicSession") for child in children],
            "schoolYear": row["schoolYear"],
        }

    def course(self, row: dict[str, Any]) -> Record:
        return {
            **self.base(row),
            "title": row["title"],
            "schoolYear": self.ref("academicSessions", row["schoolYearSourcedId"], "academicSession"),
            "courseCode": row["courseCode"],
            "grades": _list(row["grades"]),
            "subjects": _list(row["subjects"]),
            "org": self.ref("orgs", row["orgSourcedId"], "org"),
            "subjectCodes": _list(row["subjectCodes"]),
        }

    def class_(self, row: dict[str, Any]) -> Record:
        return {
            **self.base(row),
            "title": row["title"],
            "classCode": row["classCode"],
            "classType": row["classType"],
            "location": row["location"],
            "grades": _list(row["grades"]),
            "subjects": _list(row["subjects"]),
            "course": self.ref("courses", row["courseSourcedId"], "course"),
            "school": self.ref("orgs", row["schoolSourcedId"], "org"),
            "terms": [self.ref("academicSessions", t, "academicSession") for t in _list(row["termSourcedIds"])],
            "subjectCodes": _list(row["subjectCodes"]),
            "periods": _list(row["periods"]),
        }

    def role(self, row: dict[str, Any]) -> Record:
        return {
            "roleType": row["roleType"],
            "role": row["role"],
            "org": self.ref("orgs", row["orgSourcedId"], "org"),
            "userProfile": row["userProfileSourcedId"],
            "beginDate": row["beginDate"],
            "endDate": row["endDate"],
        }

    def user(self, row: dict[str, Any], roles: list[Record]) -> Record:
        user_ids = []
        for item in _list(row["userIds"]):  # {SIS:123} → {"type": "SIS", "identifier": "123"}
            kind, _, identifier = item.strip("{}").partition(":")
            user_ids.append({"type": kind, "identifier": identifier})
        return {
            **self.base(row),
            "userMasterIdentifier": row["userMasterIdentifier"],
            "username": row["username"],
            "userIds": user_ids,
            "enabledUser": _bool(row["enabledUser"]),
            "givenName": row["givenName"],
            "familyName": row["familyName"],
            "middleName": row["middleName"],
            "preferredFirstName": row["preferredGivenName"],
            "preferredMiddleName": row["preferredMiddleName"],
            "preferredLastName": row["preferredFamilyName"],
            "pronouns": row["pronouns"],
            "roles": roles,
            "userProfiles": [],
            "primaryOrg": self.ref("orgs", row["primaryOrgSourcedId"], "org"),
            "identifier": row["identifier"],
            "email": row["email"],
            "sms": row["sms"],
            "phone": row["phone"],
            "agents": [self.ref("users", agent, "user") for agent in _list(row["agentSourcedIds"])],
            "grades": _list(row["grades"]),
        }

    def enrollment(self, row: dict[str, Any]) -> Record:
        return {
            **self.base(row),
            "user": self.ref("users", row["userSourcedId"], "user"),
            "class": self.ref("classes", row["classSourcedId"], "class"),
            "school": self.ref("orgs", row["schoolSourcedId"], "org"),
            "role": row["role"],
            "primary": _bool(row["primary"]),
            "beginDate": row["beginDate"],
            "endDate": row["endDate"],
        }

    def demographics(self, row: dict[str, Any]) -> Record:
        flags = (
            "americanIndianOrAlaskaNative asian blackOrAfricanAmerican nativeHawaiianOrOtherPacificIslander white "
            "demographicRaceTwoOrMoreRaces hispanicOrLatinoEthnicity"
        ).split()
        extensions = {k.removeprefix("metadata."): _bool(v) for k, v in row.items() if k.startswith("metadata.")}
        return {
            **self.base(row),
            "birthDate": row["birthDate"],
            "sex": row["sex"],
            **{flag: _bool(row[flag]) for flag in flags},
            "countryOfBirthCode": row["countryOfBirthCode"],
            "stateOfBirthAbbreviation": row["stateOfBirthAbbreviation"],
            "cityOfBirth": row["cityOfBirth"],
            "publicSchoolResidenceStatus": row["publicSchoolResidenceStatus"],
            # Program flags the standard has no field for travel as extensions.
            "metadata": extensions,
        }


def _children(rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for row in rows:
        if row["parentSourcedId"] is not None:
            children.setdefault(row["parentSourcedId"], []).append(row["sourcedId"])
    return children


def build_records(
    files: Mapping[str, Iterable[dict[str, Any]]], builder: RecordBuilder
) -> dict[str, dict[str, Record]]:
    """entity → sourcedId → OneRoster 1.2 JSON record, in the files' order. `files` holds the
    CSV binding's files (orgs, academicSessions, courses, classes, users, roles, enrollments,
    demographics) as rows of text; a file left out serves an empty collection."""
    orgs, sessions = list(files.get("orgs", ())), list(files.get("academicSessions", ()))
    org_children, session_children = _children(orgs), _children(sessions)
    roles: dict[str, list[Record]] = {}
    for row in files.get("roles", ()):
        roles.setdefault(row["userSourcedId"], []).append(builder.role(row))
    shapes: dict[str, Callable[[dict[str, Any]], Record]] = {
        "orgs": lambda row: builder.org(row, org_children.get(row["sourcedId"], [])),
        "academicSessions": lambda row: builder.academic_session(row, session_children.get(row["sourcedId"], [])),
        "courses": builder.course,
        "classes": builder.class_,
        "users": lambda row: builder.user(row, roles.get(row["sourcedId"], [])),
        "enrollments": builder.enrollment,
        "demographics": builder.demographics,
    }
    rows = {**files, "orgs": orgs, "academicSessions": sessions}
    return {entity: {row["sourcedId"]: shapes[entity](row) for row in rows.get(entity, ())} for entity in ENTITIES}


# -- the read protocol -------------------------------------------------------------------------
@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


def int_param(query: Mapping[str, str], name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    raw = query.get(name)
    try:
        value = default if raw in (None, "") else int(raw)
    except ValueError:
        raise ImsxError(400, "invalid_data", f"{name} must be an integer") from None
    if value < low:
        raise ImsxError(400, "invalid_data", f"{name} must be >= {low}")
    return min(value, high) if high is not None else value


class RosterReader:
    """Answers rostering GETs over `records` (entity → sourcedId → record, in source order).

    A writer changing `records` holds `lock` and calls `changed()`, so cached views (a walk of
    many pages filters and sorts once per data version, not once per page) are dropped.
    """

    def __init__(self, records: dict[str, dict[str, Record]]):
        self.records = records
        self.lock = threading.RLock()
        self.version = 0
        self._views: dict[tuple, list[Record]] = {}
        self._fields = {entity: self._known_fields(entity) for entity in ENTITIES}
        self._paths = self._path_table()

    def changed(self) -> None:
        with self.lock:
            self.version += 1
            self._fields = {entity: self._known_fields(entity) for entity in ENTITIES}

    # -- routing ---------------------------------------------------------------------------
    def _path_table(self) -> list[tuple[re.Pattern[str], Callable[..., Answer]]]:
        ident = r"(?P<{}>[^/]+)"
        names = "|".join(COLLECTIONS)
        table: list[tuple[re.Pattern[str], Callable[..., Answer]]] = [
            (re.compile(rf"(?P<collection>{names})/?"), self._collection),
            (re.compile(rf"(?P<collection>{names})/{ident.format('id')}/?"), self._single),
        ]
        for parent, child in NESTED:
            pattern = re.compile(rf"(?P<parent>{parent})/{ident.format('id')}/(?P<child>{child})/?")
            table.append((pattern, self._nested))
        table.append(
            (
                re.compile(
                    rf"schools/{ident.format('school')}/classes/{ident.format('cls')}/"
                    r"(?P<child>enrollments|students|teachers)/?"
                ),
                self._school_class,
            )
        )
        return table

    def read(
        self, tail: str, query: Mapping[str, str], scopes: frozenset[str], page_url: Callable[[dict], str]
    ) -> Answer:
        """One GET of `tail` (the path below the rostering root) with its query parameters, under
        a token granted `scopes`. `page_url(query)` is the absolute URL of this path with `query`."""
        try:
            for pattern, handler in self._paths:
                match = pattern.fullmatch(tail)
                if match is not None:
                    return handler(match, query, scopes, page_url)
            raise ImsxError(404, "unknownobject", "no such rostering endpoint")
        except ImsxError as error:
            return Answer(error.status, imsx_body(error.status, error.description, error.code_minor))

    @staticmethod
    def _require_scope(scopes: frozenset[str], entity: str) -> None:
        if not scopes & ENTITY_SCOPES.get(entity, CORE_SCOPES):
            raise ImsxError(403, "forbidden", f"the token's scopes do not grant {entity}")

    def _collection(self, match: re.Match[str], query, scopes, page_url) -> Answer:
        collection = match["collection"]
        entity, predicate = COLLECTIONS[collection]
        return self._page(entity, ("collection", collection), predicate, query, scopes, page_url)

    def _single(self, match: re.Match[str], query, scopes, page_url) -> Answer:
        entity, predicate = COLLECTIONS[match["collection"]]
        self._require_scope(scopes, entity)
        record = self.records[entity].get(match["id"])
        if record is None or not predicate(record):
            raise ImsxError(404, "unknownobject", f"no {SINGULAR[entity]} with that sourcedId")
        return Answer(200, {SINGULAR[entity]: self._project(query, entity, [record])[0]})

    def _nested(self, match: re.Match[str], query, scopes, page_url) -> Answer:
        parent, child, parent_id = match["parent"], match["child"], match["id"]
        parent_entity, parent_predicate = COLLECTIONS[parent]
        self._require_scope(scopes, parent_entity)
        found = self.records[parent_entity].get(parent_id)
        if found is None or not parent_predicate(found):
            raise ImsxError(404, "unknownobject", f"no {parent} record with that sourcedId")
        entity = COLLECTIONS[child][0]
        relation = self._relation(parent, child, parent_id)
        return self._page(entity, (parent, parent_id, child), relation, query, scopes, page_url)

    def _relation(self, parent: str, child: str, parent_id: str) -> Predicate:
        if child == "terms":
            return COLLECTIONS["terms"][1]
        if parent == "schools":
            if child in ("students", "teachers"):
                return lambda r: has_role(r, child[:-1], parent_id)
            at = {"classes": "school", "courses": "org", "enrollments": "school"}[child]
            return lambda r: ref_id(r, at) == parent_id
        if parent == "courses":
            return lambda r: ref_id(r, "course") == parent_id
        if parent == "terms":
            return lambda r: parent_id in field_values(r, "terms.sourcedId")
        if parent == "classes":
            return self._enrolled_in(parent_id, child[:-1])
        return self._classes_of(parent_id)  # users, students, teachers → classes

    def _school_class(self, match: re.Match[str], query, scopes, page_url) -> Answer:
        self._require_scope(scopes, "classes")
        school, cls, child = match["school"], match["cls"], match["child"]
        found = self.records["classes"].get(cls)
        if found is None or ref_id(found, "school") != school:
            raise ImsxError(404, "unknownobject", "no class with that sourcedId at that school")
        if child == "enrollments":
            view = ("sc", school, cls)
            return self._page("enrollments", view, lambda r: ref_id(r, "class") == cls, query, scopes, page_url)
        role = child[:-1]
        return self._page("users", ("sc", school, cls, role), self._enrolled_in(cls, role), query, scopes, page_url)

    def _enrolled_in(self, class_id: str, role: str) -> Predicate:
        users = {
            ref_id(e, "user")
            for e in self.records["enrollments"].values()
            if ref_id(e, "class") == class_id and e.get("role") == role and e["status"] == "active"
        }
        return lambda r: r["sourcedId"] in users

    def _classes_of(self, user_id: str) -> Predicate:
        classes = {
            ref_id(e, "class")
            for e in self.records["enrollments"].values()
            if ref_id(e, "user") == user_id and e["status"] == "active"
        }
        return lambda r: r["sourcedId"] in classes

    # -- collection reads: filter, sort, page, select fields ---------------------------------
    def _page(self, entity: str, view: tuple, predicate: Predicate, query, scopes, page_url) -> Answer:
        self._require_scope(scopes, entity)
        limit = int_param(query, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        offset = int_param(query, "offset", 0)
        items = self._view(entity, view, predicate, query.get("filter"), query.get("sort"), query.get("orderBy"))
        total = len(items)
        page = self._project(query, entity, items[offset : offset + limit])
        headers = {"X-Total-Count": str(total), "Link": self._links(query, page_url, offset, limit, total)}
        return Answer(200, {entity: page}, headers)

    def _view(
        self,
        entity: str,
        view: tuple,
        predicate: Predicate,
        filter_text: str | None,
        sort: str | None,
        order: str | None,
    ) -> list[Record]:
        if order not in (None, "", "asc", "desc"):
            raise ImsxError(400, "invalid_sort_field", "orderBy must be asc or desc")
        clauses, joiner = parse_filter(filter_text) if filter_text else ([], None)
        known = self._fields[entity]
        for clause in clauses:
            if clause.field.split(".")[0] not in known:
                raise ImsxError(400, "invalid_filter_field", f"{entity} has no field {clause.field}")
        if sort and sort not in known:
            raise ImsxError(400, "invalid_sort_field", f"{entity} has no field {sort}")
        with self.lock:
            key = (self.version, entity, view, filter_text, sort, order)
            cached = self._views.get(key)
            if cached is not None:
                return cached
            items = [r for r in self.records[entity].values() if predicate(r)]
            if clauses:
                combine = any if joiner == "OR" else all
                items = [r for r in items if combine(clause_matches(r, c) for c in clauses)]
            if sort:
                # Python's sort is stable: ties keep the source's order, so paging stays coherent.
                items.sort(key=lambda r: _as_text((field_values(r, sort) or [None])[0]), reverse=order == "desc")
            if len(self._views) > 32:
                self._views.clear()
            self._views[key] = items
            return items

    def _known_fields(self, entity: str) -> set[str]:
        first = next(iter(self.records.get(entity, {}).values()), None)
        return set(first) if first else {"sourcedId", "status", "dateLastModified"}

    def _project(self, query: Mapping[str, str], entity: str, records: list[Record]) -> list[Record]:
        wanted = [f.strip() for f in (query.get("fields") or "").split(",") if f.strip()]
        if not wanted:
            return records
        unknown = set(wanted) - self._fields[entity]
        if unknown:
            raise ImsxError(400, "invalid_selection_field", f"{entity} has no field(s) {', '.join(sorted(unknown))}")
        return [{f: r[f] for f in wanted if f in r} for r in records]

    @staticmethod
    def _links(query: Mapping[str, str], page_url: Callable[[dict], str], offset: int, limit: int, total: int) -> str:
        def url(at: int) -> str:
            return page_url({**query, "offset": str(at), "limit": str(limit)})

        last = max((total - 1) // limit * limit, 0)
        links = [(url(0), "first")]
        if offset > 0:
            links.append((url(max(offset - limit, 0)), "prev"))
        if offset + limit < total:
            links.append((url(offset + limit), "next"))
        links.append((url(last), "last"))
        return ", ".join(f'<{target}>; rel="{rel}"' for target, rel in links)


# Nested collections: (parent collection, child collection).
NESTED = (
    ("schools", "classes"),
    ("schools", "courses"),
    ("schools", "enrollments"),
    ("schools", "students"),
    ("schools", "teachers"),
    ("schools", "terms"),
    ("courses", "classes"),
    ("terms", "classes"),
    ("classes", "students"),
    ("classes", "teachers"),
    ("users", "classes"),
    ("students", "classes"),
    ("teachers", "classes"),
)
