"""Ed-Fi ODS/API 7.x connector: every resource walked by change-version window.

A walk reads the root document (where the data and change-query APIs live: tenant and school
year segments may sit in those URLs), then `availableChangeVersions`, and walks the window
(previous cursor, newest]: records with `minChangeVersion`/`maxChangeVersion` and, when
incremental, `/deletes` in the same window as tombstones. The newest change version becomes the
cursor (`Page.cursor`: change versions are numbers, which do not compare as text).

A record updated mid-walk gets a change version above the window, so it leaves the window and
comes back in the next one. Leaving must not make the pages shift and skip an unchanged
record: cursor paging (`Next-Page-Token`, ODS/API 7.3+) continues after the last record seen,
and offset paging walks from the highest offset down, where a shift repeats a record instead
of skipping one. Either way records are duplicated, never lost; landing keeps the later copy.

`post_resource` is the one write primitive (POST upsert by natural key) a loader builds on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from interop_pipeline.config import ApiSource
from interop_pipeline.connectors.api_landing import ApiRecord, EntityWalk, Page
from interop_pipeline.connectors.api_sources import ApiConnector, Credentials
from interop_pipeline.connectors.http import (
    ApiClient,
    ClientCredentialsToken,
    ContractError,
    HttpSettings,
    JsonResponse,
)

SYSTEM = "Ed-Fi"
MAX_PAGE_SIZE = 500
AVAILABLE_CHANGE_VERSIONS = "availableChangeVersions"

# Landing entity → ODS resource. Order follows the ODS's dependency order.
RESOURCES = {
    "schools": "schools",
    "sessions": "sessions",
    "courses": "courses",
    "course_offerings": "courseOfferings",
    "sections": "sections",
    "staffs": "staffs",
    "students": "students",
    "student_school_associations": "studentSchoolAssociations",
    "student_section_associations": "studentSectionAssociations",
    "staff_section_associations": "staffSectionAssociations",
    "student_education_organization_associations": "studentEducationOrganizationAssociations",
    "student_program_associations": "studentProgramAssociations",
    "student_school_attendance_events": "studentSchoolAttendanceEvents",
    "assessments": "assessments",
    "student_assessments": "studentAssessments",
}
# The descriptors those resources use, landed together as one entity (a descriptor's namespace
# names its type).
DESCRIPTORS = tuple(
    f"{name}Descriptors"
    for name in (
        "academicSubject",
        "assessmentReportingMethod",
        "attendanceEventCategory",
        "classroomPosition",
        "courseIdentificationSystem",
        "educationOrganizationCategory",
        "entryType",
        "exitWithdrawType",
        "gradeLevel",
        "limitedEnglishProficiency",
        "performanceLevel",
        "programType",
        "race",
        "resultDatatypeType",
        "sex",
        "studentCharacteristic",
        "studentIdentificationSystem",
        "term",
    )
)


@dataclass(frozen=True)
class EdfiUrls:
    data: str  # .../data/v3/ed-fi
    change_queries: str  # .../changeQueries/v1


def discover(client: ApiClient) -> EdfiUrls:
    """The data and change-query URLs from the root document, defaulting to the standard paths."""
    root = client.get_json("/", page="root").body
    urls = root.get("urls") if isinstance(root, dict) else None
    if not isinstance(urls, dict) or not urls.get("dataManagementApi"):
        raise ContractError(SYSTEM, "/", None, "root document without urls.dataManagementApi")
    data = str(urls["dataManagementApi"]).rstrip("/") + "/ed-fi"
    change_queries = str(urls.get("changeQueries") or client.url("/changeQueries/v1")).rstrip("/")
    return EdfiUrls(data=data, change_queries=change_queries)


def newest_change_version(client: ApiClient, urls: EdfiUrls) -> int:
    response = client.get_json(f"{urls.change_queries}/{AVAILABLE_CHANGE_VERSIONS}", page=1)
    body = response.body if isinstance(response.body, dict) else {}
    # Key casing varied across ODS/API versions (NewestChangeVersion, newestChangeVersion).
    value = next((v for k, v in body.items() if k.lower() == "newestchangeversion"), None)
    if not isinstance(value, int):
        raise ContractError(SYSTEM, f"/changeQueries/v1/{AVAILABLE_CHANGE_VERSIONS}", 1, "no newestChangeVersion")
    return value


@dataclass(frozen=True)
class EdfiWalk:
    """One landing entity: a resource, or several descriptor resources walked one after another."""

    entity: str
    resources: tuple[str, ...]
    page_size: int = 100
    paging: str = "cursor"  # "cursor" (Next-Page-Token) or "offset" (highest offset first)
    supports_incremental: bool = True

    @property
    def endpoint(self) -> str:
        if len(self.resources) == 1:
            return f"/data/v3/ed-fi/{self.resources[0]}"
        return "/data/v3/ed-fi/{descriptor}Descriptors"

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        urls = discover(client)
        newest = newest_change_version(client, urls)
        since = int(cursor) if cursor is not None else None
        if since is not None and since > newest:
            since = None  # the ODS was rebuilt and counts from scratch: walk everything again
        window = {"maxChangeVersion": newest}
        if since is not None:
            window["minChangeVersion"] = since + 1
        walked = False
        for resource in self.resources:
            url = f"{urls.data}/{resource}"
            for page in self._record_pages(client, url, window, str(newest)):
                walked = True
                yield page
            if since is not None:
                for page in self._delete_pages(client, f"{url}/deletes", window, str(newest)):
                    walked = True
                    yield page
        if not walked:  # nothing changed: an empty walk still moves the cursor
            yield Page([], f"{self.endpoint} (no changes)", cursor=str(newest))

    def _size(self) -> int:
        return max(1, min(self.page_size, MAX_PAGE_SIZE))

    def _record_pages(self, client: ApiClient, url: str, window: dict[str, int], cursor: str) -> Iterator[Page]:
        endpoint = _path(url)
        if self.paging == "offset":
            yield from self._offset_pages(client, url, window, cursor, records_of=_records)
            return
        size, token, number = self._size(), None, 0
        while True:
            number += 1
            params: dict[str, Any] = {**window, "pageSize": size}
            if token is not None:
                params["pageToken"] = token
            response = client.get_json(url, params, page=number)
            records = _records(response.body, endpoint, number)
            if records:
                yield Page(records, f"{endpoint} page {number}", cursor=cursor)
            token = response.headers.get("Next-Page-Token")
            if not token:
                return

    def _delete_pages(self, client: ApiClient, url: str, window: dict[str, int], cursor: str) -> Iterator[Page]:
        yield from self._offset_pages(client, url, window, cursor, records_of=_tombstones)

    def _offset_pages(
        self,
        client: ApiClient,
        url: str,
        window: dict[str, int],
        cursor: str,
        records_of: Callable[[Any, str, int], list[ApiRecord]],
    ) -> Iterator[Page]:
        """Offset paging from the highest offset down: the window only loses records while it
        is walked (an update moves one above it), and a loss below shifts only pages already read."""
        endpoint, size = _path(url), self._size()
        total = _total_count(
            client.get_json(url, {**window, "offset": 0, "limit": 1, "totalCount": "true"}, page=0), endpoint
        )
        for offset in range(((total - 1) // size) * size if total else -1, -1, -size):
            number = offset // size + 1
            response = client.get_json(url, {**window, "offset": offset, "limit": size}, page=number)
            records = records_of(response.body, endpoint, number)
            if records:
                yield Page(records, f"{endpoint}?offset={offset}", cursor=cursor)


def _path(url: str) -> str:
    return urlsplit(url).path


def _total_count(response: JsonResponse, endpoint: str) -> int:
    value = response.headers.get("Total-Count")
    if value is None or not value.isdigit():
        raise ContractError(SYSTEM, endpoint, 0, "totalCount=true answered without a Total-Count header")
    return int(value)


def _items(body: Any, endpoint: str, page: int) -> list[dict[str, Any]]:
    if not isinstance(body, list):
        raise ContractError(SYSTEM, endpoint, page, f"expected a JSON array, got {type(body).__name__}")
    for item in body:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str) or not item["id"]:
            raise ContractError(SYSTEM, endpoint, page, "record without its id")
    return body


def _records(body: Any, endpoint: str, page: int) -> list[ApiRecord]:
    return [ApiRecord(item["id"], item, item.get("_lastModifiedDate")) for item in _items(body, endpoint, page)]


def _tombstones(body: Any, endpoint: str, page: int) -> list[ApiRecord]:
    return [ApiRecord.tombstone(item["id"], item) for item in _items(body, endpoint, page)]


def post_resource(client: ApiClient, resource: str, document: dict[str, Any]) -> tuple[int, Any]:
    """POST (upsert by natural key) one document: (201 created | 200 updated | 400 | 409, body).
    Validation answers come back for the caller to report; anything else raises ApiError."""
    response = client.request(
        "POST",
        f"/data/v3/ed-fi/{resource}",
        json_body=document,
        page=resource,
        ok_statuses=(200, 201, 400, 409),
    )
    return response.status, response.body


def entity_walks(source: ApiSource) -> list[EntityWalk]:
    paging = source.options.get("paging", "cursor")
    if paging not in ("cursor", "offset"):
        raise ValueError(f"{SYSTEM} option paging must be 'cursor' or 'offset', not {paging!r}")
    walks = [EdfiWalk(entity, (resource,), source.page_size, paging) for entity, resource in RESOURCES.items()]
    walks.append(EdfiWalk("descriptors", DESCRIPTORS, source.page_size, paging))
    return walks


def make_client(base_url: str, source: ApiSource, credentials: Credentials, settings: HttpSettings) -> ApiClient:
    token = ClientCredentialsToken(
        f"{base_url.rstrip('/')}/oauth/token",
        credentials.client_id,
        credentials.client_secret,
        timeout=(settings.connect_timeout, settings.read_timeout),
    )
    return ApiClient(SYSTEM, base_url, auth=token, settings=settings)


CONNECTOR = ApiConnector(system=SYSTEM, entity_walks=entity_walks, make_client=make_client)
