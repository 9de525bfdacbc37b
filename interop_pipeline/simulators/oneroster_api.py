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
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pyarrow as pa

from interop_pipeline.config import ApiSource, DistrictConfig
from interop_pipeline.rostering.protocol import (
    ALL_SCOPES,
    SCOPE_CORE,
    RecordBuilder,
    RosterReader,
    build_records,
    imsx_body,
    iso_timestamp,
    parse_filter,
    table_rows,
)
from interop_pipeline.simulators.calendar import SchoolCalendar
from interop_pipeline.simulators.district import DistrictTruth
from interop_pipeline.simulators.http_server import Faults, Request, Response, SimulatedApi
from interop_pipeline.simulators.sis_oneroster import sis_roster_tables

__all__ = ["SCOPE_CORE", "OneRosterApi", "build_simulator", "parse_filter"]

DEFAULT_BASE_PATH = "/campus/api/oneroster/v1p2/demo/ims/oneroster/rostering/v1p2"
DEFAULT_TOKEN_PATH = "/campus/oauth2/token"


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
        self._token_scopes: dict[str, frozenset[str]] = {}
        self._reader: RosterReader | None = None
        self._last_stamp = self._modified_at
        self._changes = 0
        self.route("GET", rf"{re.escape(self.base_path)}/(?P<tail>.+)", self._read)

    # -- lifecycle: records carry absolute hrefs, so they are built once the port is known --
    def start(self) -> OneRosterApi:
        super().start()
        if self._reader is None:
            builder = RecordBuilder(self.root_url, iso_timestamp(self._modified_at))
            files = {name: table_rows(table) for name, table in self._tables.items()}
            self._reader = RosterReader(build_records(files, builder))
        return self

    @property
    def root_url(self) -> str:
        return self.base_url + self.base_path

    @property
    def reader(self) -> RosterReader:
        if self._reader is None:
            raise RuntimeError("OneRoster simulator is not running")
        return self._reader

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
        with self.reader.lock:
            self._token_scopes[body["access_token"]] = granted
        return Response(200, {**body, "scope": " ".join(sorted(granted))})

    def _read(self, request: Request) -> Response:
        token = request.headers.get("authorization", "")[7:]
        query = {name: values[0] for name, values in request.query.items()}

        def page_url(params: dict) -> str:
            return f"{self.base_url}{request.path}?{urlencode(params)}"

        answer = self.reader.read(request.match["tail"], query, self._token_scopes.get(token, frozenset()), page_url)
        return Response(answer.status, answer.body, answer.headers)

    # -- changes: the mutation hook, and helpers tests use between runs ----------------------
    def _stamp(self) -> str:
        """Now, strictly after every earlier change, so `dateLastModified>'…'` never misses one."""
        moment = max(datetime.now(UTC), self._last_stamp + timedelta(milliseconds=1))
        self._last_stamp = moment
        return iso_timestamp(moment)

    def _put(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.reader.lock:
            record = {**record, "dateLastModified": self._stamp()}
            self.reader.records[entity][record["sourcedId"]] = record  # an existing key keeps its place
            self.reader.changed()
            return record

    def change_record(self, entity: str, sourced_id: str, **changes: Any) -> dict[str, Any]:
        with self.reader.lock:
            current = self.reader.records[entity][sourced_id]
            return self._put(entity, {**copy.deepcopy(current), **changes})

    def add_record(self, entity: str, record: dict[str, Any]) -> dict[str, Any]:
        with self.reader.lock:
            if record["sourcedId"] in self.reader.records[entity]:
                raise ValueError(f"{entity} already has that sourcedId")
            return self._put(entity, {"status": "active", **record})

    def delete_record(self, entity: str, sourced_id: str) -> dict[str, Any]:
        """Deleted as SISes delete for a delta feed: kept, with status tobedeleted."""
        return self.change_record(entity, sourced_id, status="tobedeleted")

    def records(self, entity: str, *, include_deleted: bool = False) -> dict[str, dict[str, Any]]:
        """sourcedId → record as the API serves it now (active records unless asked)."""
        with self.reader.lock:
            return {
                key: copy.deepcopy(r)
                for key, r in self.reader.records[entity].items()
                if include_deleted or r["status"] == "active"
            }

    def changed_since(self, entity: str, moment: str) -> set[str]:
        with self.reader.lock:
            return {key for key, r in self.reader.records[entity].items() if r["dateLastModified"] > moment}

    def on_change(self) -> None:
        """A record changes while a client walks (the change fault): in turn, a user gets a
        preferred first name, a class moves room, an enrollment is re-saved."""
        with self.reader.lock:
            self._changes += 1
            entity = ("users", "classes", "enrollments")[self._changes % 3]
            keys = list(self.reader.records[entity])
            if not keys:
                return
            key = keys[(self._changes * 7919) % len(keys)]
            record = self.reader.records[entity][key]
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
