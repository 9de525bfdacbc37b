"""Canvas LMS REST connector: account courses and users, and per course its sections,
enrollments (with grades), assignments and submissions.

Paging follows the `Link` header's rel="next" URL exactly as given (absolute and opaque; Canvas
may switch a collection to bookmarks at any time, so page URLs are never built here). Canvas
throttles with 403 "Rate Limit Exceeded" rather than 429; the client's `is_throttled` hook turns
that into a wait and a retry. Submissions are the one incremental entity: with a stored cursor a
walk asks each course for work submitted since it (`submitted_since`) and graded since it
(`graded_since`), so new work and new grades both arrive; every other entity has no change
filter in the Canvas API and is walked in full. A deleted course or enrollment (asked for with
`state[]`) lands as a tombstone.

Options (`sources.<name>.options`): `account_id` (default "1", the root account).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Any

import urllib3
from requests.utils import parse_header_links

from interop_pipeline.config import ApiSource
from interop_pipeline.connectors.api_landing import ApiRecord, Page
from interop_pipeline.connectors.api_sources import ApiConnector, Credentials
from interop_pipeline.connectors.http import ApiClient, ClientCredentialsToken, ContractError, HttpSettings

SYSTEM = "Canvas"
MAX_PER_PAGE = 100  # Canvas caps per_page (100 on most collections)
COURSE_STATES = ("created", "claimed", "available", "completed", "deleted")
ENROLLMENT_STATES = ("active", "invited", "creation_pending", "deleted", "rejected", "completed", "inactive")


def is_rate_limited(response: urllib3.BaseHTTPResponse) -> bool:
    """Canvas's throttle answer: 403 with "403 Forbidden (Rate Limit Exceeded)"."""
    return response.status == 403 and b"Rate Limit Exceeded" in response.data


def follow_links(
    client: ApiClient, path: str, params: list[tuple[str, Any]], *, on_response: Callable[[Mapping], None] | None = None
) -> Iterator[tuple[int, list[dict[str, Any]], str]]:
    """(page number, records, endpoint) for every page of a collection, following rel=next."""
    url: str | None = path
    query: list[tuple[str, Any]] | None = params
    number = 0
    while url is not None:
        number += 1
        response = client.get_json(url, query, page=number)
        if on_response is not None:
            on_response(response.headers)
        if not isinstance(response.body, list):
            raise ContractError(SYSTEM, path, number, "expected a JSON array of records")
        yield number, response.body, path
        url, query = _next_link(response.headers.get("Link")), None  # the next URL carries its query


def server_time(headers: Mapping) -> str | None:
    """The server's clock from the HTTP Date header, as Canvas writes timestamps."""
    try:
        return parsedate_to_datetime(headers["Date"]).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (KeyError, TypeError, ValueError):
        return None


def _next_link(header: str | None) -> str | None:
    if not header:
        return None
    for link in parse_header_links(header):
        if link.get("rel") == "next" and link.get("url"):
            return link["url"]
    return None


def _require(record: Any, field: str, endpoint: str, page: int) -> str:
    if not isinstance(record, dict) or record.get(field) in (None, ""):
        raise ContractError(SYSTEM, endpoint, page, f"record without {field}")
    return str(record[field])


def _plain(record: dict, endpoint: str, page: int) -> ApiRecord:
    return ApiRecord(key=_require(record, "id", endpoint, page), payload=record, changed_at=record.get("updated_at"))


def _course(record: dict, endpoint: str, page: int) -> ApiRecord:
    key = _require(record, "id", endpoint, page)
    if record.get("workflow_state") == "deleted":
        return ApiRecord.tombstone(key, record, record.get("updated_at"))
    return ApiRecord(key=key, payload=record)


def _enrollment(record: dict, endpoint: str, page: int) -> ApiRecord:
    key = _require(record, "id", endpoint, page)
    if record.get("enrollment_state") == "deleted":
        return ApiRecord.tombstone(key, record, record.get("updated_at"))
    return ApiRecord(key=key, payload=record, changed_at=record.get("updated_at"))


def _submission(record: dict, endpoint: str, page: int) -> ApiRecord:
    key = _require(record, "id", endpoint, page)
    _require(record, "assignment_id", endpoint, page)
    _require(record, "user_id", endpoint, page)
    # Canvas timestamps are ISO-8601 UTC ("...Z"), so the newer of the two compares as text.
    stamps = [s for s in (record.get("submitted_at"), record.get("graded_at")) if s]
    return ApiRecord(key=key, payload=record, changed_at=max(stamps) if stamps else None)


Convert = Callable[[dict, str, int], ApiRecord]


@dataclass
class AccountWalk:
    """A collection of the account: /api/v1/accounts/:id/<collection>."""

    entity: str
    collection: str
    params: list[tuple[str, Any]]
    convert: Convert
    account_id: str
    per_page: int
    supports_incremental: bool = False

    @property
    def endpoint(self) -> str:
        return f"/api/v1/accounts/:id/{self.collection}"

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        path = f"/api/v1/accounts/{self.account_id}/{self.collection}"
        params = [*self.params, ("per_page", self.per_page)]
        for number, body, endpoint in follow_links(client, path, params):
            yield Page([self.convert(r, endpoint, number) for r in body], ref=f"{path} page {number}")


@dataclass
class CourseWalk:
    """A collection of every course: /api/v1/courses/:id/<collection>, course by course."""

    entity: str
    collection: str
    params: list[tuple[str, Any]]
    convert: Convert
    account_id: str
    per_page: int
    incremental_filters: tuple[str, ...] = ()  # e.g. submitted_since, graded_since

    @property
    def endpoint(self) -> str:
        return f"/api/v1/courses/:id/{self.collection}"

    @property
    def supports_incremental(self) -> bool:
        return bool(self.incremental_filters)

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        # The course list is read whole first (ids only): a course added while walking waits
        # for the next walk instead of shifting the pages of this one. The server's time at
        # the start is the next walk's cursor: work graded after a course was read, while this
        # walk went on, still counts as new next time (the newest timestamp seen would skip it).
        started: list[str | None] = []
        course_ids = list(account_course_ids(client, self.account_id, self.per_page, started))
        walk_cursor = started[0] if self.incremental_filters and started else None
        passes: list[list[tuple[str, Any]]] = (
            [[(name, cursor)] for name in self.incremental_filters] if cursor is not None else [[]]
        )
        for course_id in course_ids:
            path = f"/api/v1/courses/{course_id}/{self.collection}"
            for extra in passes:
                params = [*self.params, *extra, ("per_page", self.per_page)]
                for number, body, endpoint in follow_links(client, path, params):
                    records = [self.convert(r, endpoint, number) for r in body]
                    yield Page(records, ref=f"{path} page {number}", cursor=walk_cursor)


def account_course_ids(
    client: ApiClient, account_id: str, per_page: int, started: list[str | None] | None = None
) -> Iterator[str]:
    """Ids of the account's courses; `started` receives the server's time of the first page."""
    path = f"/api/v1/accounts/{account_id}/courses"
    params = [*[("state[]", s) for s in COURSE_STATES if s != "deleted"], ("per_page", per_page)]

    def first_time(headers: Mapping) -> None:
        if started is not None and not started:
            started.append(server_time(headers))

    for number, body, endpoint in follow_links(client, path, params, on_response=first_time):
        for record in body:
            yield _require(record, "id", endpoint, number)


def entity_walks(source: ApiSource) -> list[AccountWalk | CourseWalk]:
    account = source.options.get("account_id", "1")
    per_page = min(source.page_size, MAX_PER_PAGE)
    course_states = [("state[]", s) for s in COURSE_STATES]
    return [
        AccountWalk("courses", "courses", course_states, _course, account, per_page),
        AccountWalk("users", "users", [], _plain, account, per_page),
        CourseWalk("sections", "sections", [], _plain, account, per_page),
        CourseWalk(
            "enrollments",
            "enrollments",
            [("state[]", s) for s in ENROLLMENT_STATES],
            _enrollment,
            account,
            per_page,
        ),
        CourseWalk("assignments", "assignments", [], _plain, account, per_page),
        CourseWalk(
            "submissions",
            "students/submissions",
            [("student_ids[]", "all")],
            _submission,
            account,
            per_page,
            incremental_filters=("submitted_since", "graded_since"),
        ),
    ]


def make_client(base_url: str, source: ApiSource, credentials: Credentials, settings: HttpSettings) -> ApiClient:
    """Bearer tokens from the OAuth2 token endpoint (client credentials), renewed on expiry."""
    token = ClientCredentialsToken(
        f"{base_url.rstrip('/')}/login/oauth2/token",
        credentials.client_id,
        credentials.client_secret,
        timeout=(settings.connect_timeout, settings.read_timeout),
    )
    return ApiClient(SYSTEM, base_url, auth=token, settings=settings, is_throttled=is_rate_limited)


CONNECTOR = ApiConnector(system=SYSTEM, entity_walks=entity_walks, make_client=make_client)
