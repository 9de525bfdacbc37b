"""Google Classroom API (v1) connector: courses, and per course its students, teachers,
courseWork and studentSubmissions (`/v1/courses/{id}/courseWork/-/studentSubmissions`).

Every list pages with `pageSize`/`pageToken` until `nextPageToken` is absent or empty; the
server may return fewer items than asked and leaves the list key out of an empty page. Students
are known by their Google profile (userId, profile.emailAddress); identity resolution links them
to the SIS by email.

Classroom has no change feed for these lists and no way to ask for what changed since a time,
so every entity is walked in full each run (`supports_incremental` is False): each full walk
replaces the previous one, and a student removed from a course, or work deleted, is simply
absent from the next walk rather than landing as a tombstone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from interop_pipeline.config import ApiSource
from interop_pipeline.connectors.api_landing import ApiRecord, Page
from interop_pipeline.connectors.api_sources import ApiConnector, Credentials
from interop_pipeline.connectors.http import ApiClient, ClientCredentialsToken, ContractError, HttpSettings

SYSTEM = "Google Classroom"
SCOPE = (
    "https://www.googleapis.com/auth/classroom.courses.readonly "
    "https://www.googleapis.com/auth/classroom.rosters.readonly "
    "https://www.googleapis.com/auth/classroom.coursework.students.readonly "
    "https://www.googleapis.com/auth/classroom.profile.emails"
)


def list_pages(
    client: ApiClient, path: str, item_key: str, page_size: int
) -> Iterator[tuple[int, list[dict[str, Any]]]]:
    """(page number, items) for every page of a list, following nextPageToken."""
    token: str | None = None
    number = 0
    while True:
        number += 1
        params: dict[str, Any] = {"pageSize": page_size}
        if token:
            params["pageToken"] = token
        body = client.get_json(path, params, page=number).body
        if not isinstance(body, dict):
            raise ContractError(SYSTEM, path, number, "expected a JSON object")
        items = body.get(item_key, [])  # left out when the page is empty
        if not isinstance(items, list):
            raise ContractError(SYSTEM, path, number, f"{item_key} is not a list")
        yield number, items
        token = body.get("nextPageToken")
        if not token:
            return


def _field(record: Any, field: str, path: str, page: int) -> str:
    if not isinstance(record, dict) or record.get(field) in (None, ""):
        raise ContractError(SYSTEM, path, page, f"record without {field}")
    return str(record[field])


def _course(record: dict, path: str, page: int) -> ApiRecord:
    return ApiRecord(_field(record, "id", path, page), record, changed_at=record.get("updateTime"))


def _member(record: dict, path: str, page: int) -> ApiRecord:
    return ApiRecord(f"{_field(record, 'courseId', path, page)}:{_field(record, 'userId', path, page)}", record)


def _course_work(record: dict, path: str, page: int) -> ApiRecord:
    key = f"{_field(record, 'courseId', path, page)}:{_field(record, 'id', path, page)}"
    return ApiRecord(key, record, changed_at=record.get("updateTime"))


def _submission(record: dict, path: str, page: int) -> ApiRecord:
    parts = [_field(record, f, path, page) for f in ("courseId", "courseWorkId", "id")]
    _field(record, "userId", path, page)
    return ApiRecord(":".join(parts), record, changed_at=record.get("updateTime"))


Convert = Callable[[dict, str, int], ApiRecord]


def course_ids(client: ApiClient, page_size: int) -> Iterator[str]:
    for number, items in list_pages(client, "/v1/courses", "courses", page_size):
        for record in items:
            yield _field(record, "id", "/v1/courses", number)


@dataclass
class CoursesWalk:
    page_size: int
    entity: str = "courses"
    endpoint: str = "/v1/courses"
    supports_incremental: bool = False

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        for number, items in list_pages(client, self.endpoint, "courses", self.page_size):
            yield Page([_course(r, self.endpoint, number) for r in items], ref=f"{self.endpoint} page {number}")


@dataclass
class PerCourseWalk:
    """A list under every course, e.g. /v1/courses/{id}/students."""

    entity: str
    collection: str  # path under the course
    item_key: str
    convert: Convert
    page_size: int
    supports_incremental: bool = False

    @property
    def endpoint(self) -> str:
        return f"/v1/courses/{{courseId}}/{self.collection}"

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        # Course ids first (a short list), then each course's pages.
        for course_id in list(course_ids(client, self.page_size)):
            path = f"/v1/courses/{course_id}/{self.collection}"
            for number, items in list_pages(client, path, self.item_key, self.page_size):
                yield Page([self.convert(r, path, number) for r in items], ref=f"{path} page {number}")


def entity_walks(source: ApiSource) -> list[CoursesWalk | PerCourseWalk]:
    size = source.page_size
    return [
        CoursesWalk(size),
        PerCourseWalk("students", "students", "students", _member, size),
        PerCourseWalk("teachers", "teachers", "teachers", _member, size),
        PerCourseWalk("course_work", "courseWork", "courseWork", _course_work, size),
        PerCourseWalk(
            "student_submissions", "courseWork/-/studentSubmissions", "studentSubmissions", _submission, size
        ),
    ]


def make_client(base_url: str, source: ApiSource, credentials: Credentials, settings: HttpSettings) -> ApiClient:
    """OAuth 2 bearer tokens from the token endpoint (`options.token_url`, default
    <base_url>/token), fetched by client credentials and renewed on expiry."""
    token_url = source.options.get("token_url") or f"{base_url.rstrip('/')}/token"
    token = ClientCredentialsToken(
        token_url,
        credentials.client_id,
        credentials.client_secret,
        scope=SCOPE,
        timeout=(settings.connect_timeout, settings.read_timeout),
    )
    return ApiClient(SYSTEM, base_url, auth=token, settings=settings)


CONNECTOR = ApiConnector(system=SYSTEM, entity_walks=entity_walks, make_client=make_client)
