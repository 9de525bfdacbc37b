"""The SIS as a OneRoster 1.2 REST rostering provider, the way Infinite Campus serves it.

It serves the very records the SIS's CSV bundle carries (simulators/sis_oneroster.py builds
both), as OneRoster 1.2 JSON: references are `{href, sourcedId, type}` objects, a user's roles
are `user.roles[]`, collections are wrapped (`{"users": [...]}`) and single records too
(`{"user": {...}}`). Mechanics of the real API: OAuth 2 client credentials at the SIS's token
path with expiring tokens and scopes (demographics need their own), `limit`/`offset` paging with
`X-Total-Count` and a `Link` header, `sort`/`orderBy`, `fields`, `filter` (two clauses at most)
and `imsx_*` error bodies. Deleted records stay, with status `tobedeleted`, as a delta feed
needs them to.

Records keep one order (the SIS's), whatever changes: a changed record keeps its place, an
added one goes last, a deleted one stays. So offset paging is coherent while records change,
and a filtered collection only grows during a walk (a walk may see a record twice, never skip
one).
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyarrow as pa

from interop_pipeline.config import ApiSource, DistrictConfig
from interop_pipeline.simulators.calendar import SchoolCalendar
from interop_pipeline.simulators.district import DistrictTruth
from interop_pipeline.simulators.http_server import Faults, Request, Response, SimulatedApi, int_arg
from interop_pipeline.simulators.sis_oneroster import sis_roster_tables

SCOPE_ROOT = "https://purl.imsglobal.org/spec/or/v1p2/scope/"
SCOPE_CORE = SCOPE_ROOT + "roster-core.readonly"
SCOPE_ROSTER = SCOPE_ROOT + "roster.readonly"
SCOPE_DEMOGRAPHICS = SCOPE_ROOT + "roster-demographics.readonly"
ALL_SCOPES = frozenset({SCOPE_CORE, SCOPE_ROSTER, SCOPE_DEMOGRAPHICS})
# Which scopes open an entity: core rostering excludes demographics; roster.readonly opens all.
ENTITY_SCOPES = {
    "demographics": {SCOPE_ROSTER, SCOPE_DEMOGRAPHICS},
}
CORE_SCOPES = {SCOPE_CORE, SCOPE_ROSTER}

DEFAULT_BASE_PATH = "/campus/api/oneroster/v1p2/demo/ims/oneroster/rostering/v1p2"
DEFAULT_TOKEN_PATH = "/campus/oauth2/token"
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

# Collections as the API names them: (entity served, which of its records).
Predicate = Callable[[dict[str, Any]], bool]


def _always(record: dict[str, Any]) -> bool:
    return True


def _has_role(record: dict[str, Any], role: str, org: str | None = None) -> bool:
    return any(r["role"] == role and (org is None or r["org"]["sourcedId"] == org) for r in record.get("roles", []))


COLLECTIONS: dict[str, tuple[str, Predicate]] = {
    **{entity: (entity, _always) for entity in ENTITIES},
    "schools": ("orgs", lambda r: r["type"] == "school"),
    # 1.2 terms are sessions of type term; SISes serve their semesters there too.
    "terms": ("academicSessions", lambda r: r["type"] in ("term", "semester")),
    "gradingPeriods": ("academicSessions", lambda r: r["type"] == "gradingPeriod"),
    "students": ("users", lambda r: _has_role(r, "student")),
    "teachers": ("users", lambda r: _has_role(r, "teacher")),
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


def field_values(record: dict[str, Any], path: str) -> list[Any]:
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


def clause_matches(record: dict[str, Any], clause: Clause) -> bool:
    values = field_values(record, clause.field) or [None]
    if clause.op == "!=":
        return all(_compare(v, "!=", clause.value) for v in values)
    return any(_compare(v, clause.op, clause.value) for v in values)


# -- records -------------------------------------------------------------------------------
def district_truth(tables: dict[str, pa.Table]) -> DistrictTruth:
    """The generator's truth tables (truth/*.parquet) as the DistrictTruth the SIS views read."""
    days = tables["calendar"]
    instructional = days.filter(days["is_instructional"])["calendar_date"].to_numpy()
    calendar = SchoolCalendar(days=days, sessions=tables["sessions"], instructional_days=instructional)
    empty = pa.table({})
    names = [
        "schools",
        "students",
        "staff",
        "school_enrollments",
        "courses",
        "sections",
        "section_enrollments",
        "staff_assignments",
        "attendance_events",
        "map_results",
        "iready_results",
        "state_results",
        "system_students",
        "system_staff",
    ]
    return DistrictTruth(calendar=calendar, **{name: tables.get(name, empty) for name in names})


def _rows(table: pa.Table) -> Iterable[dict[str, Any]]:
    for batch in table.to_batches(max_chunksize=10_000):
        yield from batch.to_pylist()


def _list(value: str | None) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()] if value else []


def _bool(value: str | None) -> bool | None:
    return None if value is None else value == "true"


class RecordBuilder:
    """OneRoster 1.2 JSON records from the SIS's bulk-file rows; references carry absolute hrefs."""

    def __init__(self, root_url: str, stamp: str):
        self.root_url = root_url
        self.stamp = stamp

    def ref(self, collection: str, sourced_id: str | None, ref_type: str) -> dict[str, str] | None:
        if sourced_id is None:
            return None
        return {"href": f"{self.root_url}/{collection}/{sourced_id}", "sourcedId": sourced_id, "type": ref_type}

    def base(self, row: dict[str, Any]) -> dict[str, Any]:
        return {"sourcedId": row["sourcedId"], "status": "active", "dateLastModified": self.stamp}

    def org(self, row: dict[str, Any], children: list[str]) -> dict[str, Any]:
        return {
            **self.base(row),
            "name": row["name"],
            "type": row["type"],
            "identifier": row["identifier"],
            "parent": self.ref("orgs", row["parentSourcedId"], "org"),
            "children": [self.ref("orgs", child, "org") for child in children],
        }

    def academic_session(self, row: dict[str, Any], children: list[str]) -> dict[str, Any]:
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

    def course(self, row: dict[str, Any]) -> dict[str, Any]:
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

    def class_(self, row: dict[str, Any]) -> dict[str, Any]:
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

    def role(self, row: dict[str, Any]) -> dict[str, Any]:
        return {
            "roleType": row["roleType"],
            "role": row["role"],
            "org": self.ref("orgs", row["orgSourcedId"], "org"),
            "userProfile": row["userProfileSourcedId"],
            "beginDate": row["beginDate"],
            "endDate": row["endDate"],
        }

    def user(self, row: dict[str, Any], roles: list[dict[str, Any]]) -> dict[str, Any]:
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

    def enrollment(self, row: dict[str, Any]) -> dict[str, Any]:
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

    def demographics(self, row: dict[str, Any]) -> dict[str, Any]:
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
            # Program flags the standard has no field for travel as the SIS's extensions.
            "metadata": extensions,
        }


def _children(table: pa.Table) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {}
    for row in _rows(table.select(["sourcedId", "parentSourcedId"])):
        if row["parentSourcedId"] is not None:
            children.setdefault(row["parentSourcedId"], []).append(row["sourcedId"])
    return children


def build_records(tables: dict[str, pa.Table], builder: RecordBuilder) -> dict[str, dict[str, dict[str, Any]]]:
    """entity → sourcedId → OneRoster 1.2 JSON record, in the SIS's order."""
    org_children, session_children = _children(tables["orgs"]), _children(tables["academicSessions"])
    roles: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(tables["roles"]):
        roles.setdefault(row["userSourcedId"], []).append(builder.role(row))
    shapes: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
        "orgs": lambda row: builder.org(row, org_children.get(row["sourcedId"], [])),
        "academicSessions": lambda row: builder.academic_session(row, session_children.get(row["sourcedId"], [])),
        "courses": builder.course,
        "classes": builder.class_,
        "users": lambda row: builder.user(row, roles.get(row["sourcedId"], [])),
        "enrollments": builder.enrollment,
        "demographics": builder.demographics,
    }
    return {entity: {row["sourcedId"]: shapes[entity](row) for row in _rows(tables[entity])} for entity in ENTITIES}


# -- the API ---------------------------------------------------------------------------------
class OneRosterApi(SimulatedApi):
    """OneRoster 1.2 rostering REST provider on 127.0.0.1 (Infinite Campus paths by default)."""

    system = "OneRoster"

    def __init__(
        self,
        tables: dict[str, pa.Table],
        *,
        base_path: str = DEFAULT_BASE_PATH,
        token_path: str = DEFAULT_TOKEN_PATH,
        modified_at: datetime | None = None,
        client_scopes: dict[str, frozenset[str]] | None = None,
        **kwargs: Any,
    ):
        self.token_path = token_path  # read by SimulatedApi.__init__ to route the token endpoint
        super().__init__(**kwargs)
        self.base_path = "/" + base_path.strip("/")
        self.client_scopes = client_scopes or {}
        self._tables = tables
        self._modified_at = modified_at or datetime(2025, 7, 1, tzinfo=UTC)
        self._records: dict[str, dict[str, dict[str, Any]]] = {}
        self._token_scopes: dict[str, frozenset[str]] = {}
        self._data_lock = threading.RLock()
        self._version = 0
        self._last_stamp = self._modified_at
        self._views: dict[tuple, list[dict[str, Any]]] = {}
        self._changes = 0
        self._add_routes()

    # -- lifecycle: records carry absolute hrefs, so they are built once the port is known --
    def start(self) -> OneRosterApi:
        super().start()
        with self._data_lock:
            if not self._records:
                builder = RecordBuilder(self.root_url, iso_timestamp(self._modified_at))
                self._records = build_records(self._tables, builder)
        return self

    @property
    def root_url(self) -> str:
        return self.base_url + self.base_path

    # -- how OneRoster words things --------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        return Response(status, imsx_body(status, message))

    def throttled(self) -> Response:
        return Response(429, imsx_body(429, "Too many requests: slow down", "server_busy"))

    def _token_endpoint(self, request: Request) -> Response:
        client_id = self.tokens.authenticate(request)
        if client_id is None:
            return Response(401, {"error": "invalid_client"})
        form = request.form() if request.body else {}
        allowed = self.client_scopes.get(client_id, ALL_SCOPES)
        requested = set(form.get("scope", "").split()) or set(allowed)
        granted = frozenset(requested & allowed)
        if not granted:
            return Response(400, {"error": "invalid_scope"})
        body = self.tokens.issue()
        with self._data_lock:
            self._token_scopes[body["access_token"]] = granted
        return Response(200, {**body, "scope": " ".join(sorted(granted))})

    def _require_scope(self, request: Request, entity: str) -> None:
        token = request.headers.get("authorization", "")[7:]
        needed = ENTITY_SCOPES.get(entity, CORE_SCOPES)
        if not self._token_scopes.get(token, frozenset()) & needed:
            raise ImsxError(403, "forbidden", f"the token's scopes do not grant {entity}")

    # -- routes ----------------------------------------------------------------------------
    def _add_routes(self) -> None:
        root = re.escape(self.base_path)
        ident = r"(?P<{}>[^/]+)"
        names = "|".join(COLLECTIONS)
        self.route("GET", rf"{root}/(?P<collection>{names})", self._wrap(self._collection))
        self.route("GET", rf"{root}/(?P<collection>{names})/{ident.format('id')}", self._wrap(self._single))
        nested = {
            ("schools", "classes"): ("classes", lambda p: lambda r: r["school"]["sourcedId"] == p),
            ("schools", "courses"): ("courses", lambda p: lambda r: r["org"]["sourcedId"] == p),
            ("schools", "enrollments"): ("enrollments", lambda p: lambda r: r["school"]["sourcedId"] == p),
            ("schools", "students"): ("users", lambda p: lambda r: _has_role(r, "student", p)),
            ("schools", "teachers"): ("users", lambda p: lambda r: _has_role(r, "teacher", p)),
            ("schools", "terms"): ("academicSessions", lambda p: COLLECTIONS["terms"][1]),
            ("courses", "classes"): ("classes", lambda p: lambda r: r["course"]["sourcedId"] == p),
            ("terms", "classes"): ("classes", lambda p: lambda r: p in field_values(r, "terms.sourcedId")),
            ("classes", "students"): ("users", lambda p: self._enrolled_in(p, "student")),
            ("classes", "teachers"): ("users", lambda p: self._enrolled_in(p, "teacher")),
            ("users", "classes"): ("classes", lambda p: self._classes_of(p)),
            ("students", "classes"): ("classes", lambda p: self._classes_of(p)),
            ("teachers", "classes"): ("classes", lambda p: self._classes_of(p)),
        }
        for (parent, child), (entity, relation) in nested.items():
            pattern = rf"{root}/{parent}/{ident.format('id')}/{child}"
            self.route("GET", pattern, self._wrap(self._nested_handler(parent, entity, relation)))
        for child in ("enrollments", "students", "teachers"):
            pattern = rf"{root}/schools/{ident.format('school')}/classes/{ident.format('cls')}/{child}"
            self.route("GET", pattern, self._wrap(self._school_class_handler(child)))

    def _wrap(self, handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def serve(request: Request) -> Response:
            try:
                return handler(request)
            except ImsxError as error:
                return Response(error.status, imsx_body(error.status, error.description, error.code_minor))

        return serve

    def _collection(self, request: Request) -> Response:
        entity, predicate = COLLECTIONS[request.match["collection"]]
        return self._page(request, entity, ("collection", request.match["collection"]), predicate)

    def _single(self, request: Request) -> Response:
        entity, predicate = COLLECTIONS[request.match["collection"]]
        self._require_scope(request, entity)
        record = self._records[entity].get(request.match["id"])
        if record is None or not predicate(record):
            raise ImsxError(404, "unknownobject", f"no {SINGULAR[entity]} with that sourcedId")
        return Response(200, {SINGULAR[entity]: self._project(request, entity, [record])[0]})

    def _nested_handler(
        self, parent: str, entity: str, relation: Callable[[str], Predicate]
    ) -> Callable[[Request], Response]:
        parent_entity, parent_predicate = COLLECTIONS[parent]

        def handler(request: Request) -> Response:
            self._require_scope(request, parent_entity)
            parent_id = request.match["id"]
            found = self._records[parent_entity].get(parent_id)
            if found is None or not parent_predicate(found):
                raise ImsxError(404, "unknownobject", f"no {parent} record with that sourcedId")
            return self._page(request, entity, (parent, parent_id, entity), relation(parent_id))

        return handler

    def _school_class_handler(self, child: str) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            self._require_scope(request, "classes")
            school, cls = request.match["school"], request.match["cls"]
            found = self._records["classes"].get(cls)
            if found is None or found["school"]["sourcedId"] != school:
                raise ImsxError(404, "unknownobject", "no class with that sourcedId at that school")
            if child == "enrollments":
                return self._page(request, "enrollments", ("sc", school, cls), lambda r: r["class"]["sourcedId"] == cls)
            role = "student" if child == "students" else "teacher"
            return self._page(request, "users", ("sc", school, cls, role), self._enrolled_in(cls, role))

        return handler

    def _enrolled_in(self, class_id: str, role: str) -> Predicate:
        users = {
            e["user"]["sourcedId"]
            for e in self._records["enrollments"].values()
            if e["class"]["sourcedId"] == class_id and e["role"] == role and e["status"] == "active"
        }
        return lambda r: r["sourcedId"] in users

    def _classes_of(self, user_id: str) -> Predicate:
        classes = {
            e["class"]["sourcedId"]
            for e in self._records["enrollments"].values()
            if e["user"]["sourcedId"] == user_id and e["status"] == "active"
        }
        return lambda r: r["sourcedId"] in classes

    # -- collection reads: filter, sort, page, select fields ---------------------------------
    def _page(self, request: Request, entity: str, view: tuple, predicate: Predicate) -> Response:
        self._require_scope(request, entity)
        limit = int_arg(request, "limit", DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
        offset = int_arg(request, "offset", 0)
        items = self._view(entity, view, predicate, request.arg("filter"), request.arg("sort"), request.arg("orderBy"))
        total = len(items)
        page = self._project(request, entity, items[offset : offset + limit])
        headers = {"X-Total-Count": str(total), "Link": self._links(request, offset, limit, total)}
        return Response(200, {entity: page}, headers)

    def _view(
        self,
        entity: str,
        view: tuple,
        predicate: Predicate,
        filter_text: str | None,
        sort: str | None,
        order: str | None,
    ) -> list[dict[str, Any]]:
        """The records a read sees, in order. Cached per data version, so a walk of many pages
        filters and sorts once, not once per page."""
        if order not in (None, "", "asc", "desc"):
            raise ImsxError(400, "invalid_sort_field", "orderBy must be asc or desc")
        clauses, joiner = parse_filter(filter_text) if filter_text else ([], None)
        known = self._fields(entity)
        for clause in clauses:
            if clause.field.split(".")[0] not in known:
                raise ImsxError(400, "invalid_filter_field", f"{entity} has no field {clause.field}")
        if sort and sort not in known:
            raise ImsxError(400, "invalid_sort_field", f"{entity} has no field {sort}")
        with self._data_lock:
            key = (self._version, entity, view, filter_text, sort, order)
            cached = self._views.get(key)
            if cached is not None:
                return cached
            items = [r for r in self._records[entity].values() if predicate(r)]
            if clauses:
                combine = any if joiner == "OR" else all
                items = [r for r in items if combine(clause_matches(r, c) for c in clauses)]
            if sort:
                # Python's sort is stable: ties keep the SIS's order, so paging stays coherent.
                items.sort(key=lambda r: _as_text((field_values(r, sort) or [None])[0]), reverse=order == "desc")
            if len(self._views) > 32:
                self._views.clear()
            self._views[key] = items
            return items

    def _fields(self, entity: str) -> set[str]:
        first = next(iter(self._records[entity].values()), None)
        return set(first) if first else {"sourcedId", "status", "dateLastModified"}

    def _project(self, request: Request, entity: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        wanted = [f.strip() for f in (request.arg("fields") or "").split(",") if f.strip()]
        if not wanted:
            return records
        unknown = set(wanted) - self._fields(entity)
        if unknown:
            raise ImsxError(400, "invalid_selection_field", f"{entity} has no field(s) {', '.join(sorted(unknown))}")
        return [{f: r[f] for f in wanted if f in r} for r in records]

    def _links(self, request: Request, offset: int, limit: int, total: int) -> str:
        def url(at: int) -> str:
            query = {k: v[0] for k, v in request.query.items()}
            query.update(offset=str(at), limit=str(limit))
            return f"{self.base_url}{request.path}?{urlencode(query)}"

        last = max((total - 1) // limit * limit, 0)
        links = [(url(0), "first")]
        if offset > 0:
            links.append((url(max(offset - limit, 0)), "prev"))
        if offset + limit < total:
            links.append((url(offset + limit), "next"))
        links.append((url(last), "last"))
        return ", ".join(f'<{target}>; rel="{rel}"' for target, rel in links)

    # -- changes: the mutation hook, and helpers tests use between runs ----------------------
    def _stamp(self) -> str:
        """Now, strictly after every earlier change, so `dateLastModified>'…'` never misses one."""
        moment = max(datetime.now(UTC), self._last_stamp + timedelta(milliseconds=1))
        self._last_stamp = moment
        return iso_timestamp(moment)

    def _put(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        with self._data_lock:
            record = {**record, "dateLastModified": self._stamp()}
            self._records[entity][record["sourcedId"]] = record  # an existing key keeps its place
            self._version += 1
            return record

    def change_record(self, entity: str, sourced_id: str, **changes: Any) -> dict[str, Any]:
        with self._data_lock:
            current = self._records[entity][sourced_id]
            return self._put(entity, {**copy.deepcopy(current), **changes})

    def add_record(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        with self._data_lock:
            if record["sourcedId"] in self._records[entity]:
                raise ValueError(f"{entity} already has that sourcedId")
            return self._put(entity, {"status": "active", **record})

    def delete_record(self, entity: str, sourced_id: str) -> dict[str, Any]:
        """Deleted as SISes delete for a delta feed: kept, with status tobedeleted."""
        return self.change_record(entity, sourced_id, status="tobedeleted")

    def records(self, entity: str, *, include_deleted: bool = False) -> dict[str, dict[str, Any]]:
        """sourcedId → record as the API serves it now (active records unless asked)."""
        with self._data_lock:
            return {
                key: copy.deepcopy(r)
                for key, r in self._records[entity].items()
                if include_deleted or r["status"] == "active"
            }

    def changed_since(self, entity: str, moment: str) -> set[str]:
        with self._data_lock:
            return {key for key, r in self._records[entity].items() if r["dateLastModified"] > moment}

    def on_change(self) -> None:
        """A record changes while a client walks (the change fault): in turn, a user gets a
        preferred first name, a class moves room, an enrollment is re-saved."""
        with self._data_lock:
            self._changes += 1
            entity = ("users", "classes", "enrollments")[self._changes % 3]
            keys = list(self._records[entity])
            if not keys:
                return
            key = keys[(self._changes * 7919) % len(keys)]
            record = self._records[entity][key]
            if entity == "users":
                self.change_record(entity, key, preferredFirstName=record["givenName"])
            elif entity == "classes":
                self.change_record(entity, key, location=f"{record['location'] or 'Room'} (moved)")
            else:
                self.change_record(entity, key)


def _source_paths(config: DistrictConfig) -> tuple[str, str]:
    """The API and token paths the district's oneroster_api source is configured with."""
    for source in config.sources.values():
        if isinstance(source, ApiSource) and source.kind == "oneroster_api":
            token = source.options.get("token_path", DEFAULT_TOKEN_PATH)
            return urlsplit(source.base_url).path or DEFAULT_BASE_PATH, urlsplit(token).path
    return DEFAULT_BASE_PATH, DEFAULT_TOKEN_PATH


def modified_at(config: DistrictConfig) -> datetime:
    """When the SIS last saved the initial records: before the school year, and in the past."""
    before_school = datetime.combine(config.school_year.start - timedelta(days=30), time(6), tzinfo=UTC)
    return min(before_school, datetime.now(UTC) - timedelta(days=1))


def build_simulator(
    truth: dict[str, pa.Table],
    config: DistrictConfig,
    clients: dict[str, str],
    *,
    faults: Faults | None = None,
    port: int = 0,
    client_scopes: dict[str, frozenset[str]] | None = None,
) -> OneRosterApi:
    base_path, token_path = _source_paths(config)
    tables = sis_roster_tables(district_truth(truth), district_name=config.district.name, lea_id=config.district.lea_id)
    return OneRosterApi(
        tables,
        base_path=base_path,
        token_path=token_path,
        modified_at=modified_at(config),
        client_scopes=client_scopes,
        clients=clients,
        faults=faults,
        port=port,
    )
