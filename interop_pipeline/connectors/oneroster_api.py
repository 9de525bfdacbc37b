"""OneRoster 1.2 REST rostering connector (an SIS such as Infinite Campus serving the API).

Each entity is one collection walked with `limit`/`offset`, following the `Link` header's next
page (or `X-Total-Count` when a provider sends no Link). Records land as they are served, keyed
by sourcedId; a record with status `tobedeleted` lands as a tombstone.

Incremental walks ask for `filter=dateLastModified>'<cursor>'`. The cursor is the time the walk
began by the provider's clock (the first response's Date header) less a safety margin, not the
newest dateLastModified seen: a record that changes after the walk has passed its page is
missing from this walk and may carry an older timestamp than a record changed later and seen on
a later page, so "newest seen" could skip it for good. Starting the next walk from before this
one began fetches such records next time; the margin also covers clock skew and an SIS that
stamps a change when its transaction began. The price is re-fetching the last few minutes'
changes, which landing absorbs (the newest fetch of a key wins). Walks sort by sourcedId, a
stable order, so pages stay coherent while records change: a change or an added record can
only make a later page repeat a record, never skip one (deleted records stay, tobedeleted).
A periodic full walk (the source's full_refresh_days) catches anything a delta feed never said.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

from requests.utils import parse_header_links

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

SYSTEM = "OneRoster"
SCOPE_ROOT = "https://purl.imsglobal.org/spec/or/v1p2/scope/"
DEFAULT_SCOPES = "roster-core.readonly roster-demographics.readonly"
DEFAULT_CURSOR_MARGIN_SECONDS = 300
DELETED_STATUS = "tobedeleted"

# Landed entity (snake case, as the CSV source names them) → collection the API serves it at.
ENTITY_COLLECTIONS = {
    "academic_sessions": "academicSessions",
    "orgs": "orgs",
    "courses": "courses",
    "classes": "classes",
    "users": "users",
    "enrollments": "enrollments",
    "demographics": "demographics",
}


def oneroster_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass
class OneRosterWalk:
    """One collection, page by page; from `cursor` on when given (a dateLastModified)."""

    entity: str
    collection: str
    page_size: int = 100
    sort: str = "sourcedId"
    cursor_margin: timedelta = timedelta(seconds=DEFAULT_CURSOR_MARGIN_SECONDS)
    supports_incremental: bool = True

    @property
    def endpoint(self) -> str:
        return f"/{self.collection}"

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        params: dict[str, Any] | None = {"limit": self.page_size, "offset": 0}
        if self.sort:
            params |= {"sort": self.sort, "orderBy": "asc"}
        if cursor is not None:
            params["filter"] = f"dateLastModified>'{cursor.replace(chr(39), chr(39) * 2)}'"
        target, offset, number = self.collection, 0, 1
        next_cursor: str | None = None
        while True:
            response = client.get_json(target, params, page=number)
            if next_cursor is None:  # the walk began when its first page was answered
                next_cursor = self._next_cursor(response)
            records = self._records(response, number)
            yield Page(records, ref=f"{self.endpoint} page {number} (offset {offset})", cursor=next_cursor)
            following = self._next_url(response, offset, len(records))
            if following is None or not records:
                return
            target, params = following, None
            offset, number = offset + len(records), number + 1

    def _records(self, response: JsonResponse, number: int) -> list[ApiRecord]:
        body = response.body
        items = body.get(self.collection) if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise ContractError(SYSTEM, self.endpoint, number, f"response has no '{self.collection}' list")
        records = []
        for position, item in enumerate(items, start=1):
            key = item.get("sourcedId") if isinstance(item, dict) else None
            if not isinstance(key, str) or not key:
                raise ContractError(SYSTEM, self.endpoint, number, f"record {position} has no sourcedId")
            changed = item.get("dateLastModified")
            if item.get("status") == DELETED_STATUS:
                records.append(ApiRecord.tombstone(key, item, changed))
            else:
                records.append(ApiRecord(key, item, changed))
        return records

    def _next_url(self, response: JsonResponse, offset: int, count: int) -> str | None:
        """The Link header's next page; without a Link header, X-Total-Count says if one is left."""
        link = response.headers.get("Link")
        if link:
            for item in parse_header_links(link):
                if item.get("rel") == "next":
                    return item["url"]
            return None
        total = response.headers.get("X-Total-Count")
        if total is not None and total.isdigit() and offset + count < int(total):
            parts = urlsplit(response.url)
            query = [p for p in parts.query.split("&") if p and not p.startswith("offset=")]
            return f"{parts.scheme}://{parts.netloc}{parts.path}?{'&'.join([*query, f'offset={offset + count}'])}"
        return None

    def _next_cursor(self, response: JsonResponse) -> str:
        """The provider's time at the walk's start (its Date header), less the safety margin."""
        started = datetime.now(UTC)
        date_header = response.headers.get("Date")
        if date_header:
            try:
                started = parsedate_to_datetime(date_header).astimezone(UTC)
            except (TypeError, ValueError):
                pass
        return oneroster_timestamp(started - self.cursor_margin)


def _option_list(source: ApiSource, name: str) -> list[str] | None:
    value = source.options.get(name)
    return [item.strip() for item in value.split(",") if item.strip()] if value else None


def entity_walks(source: ApiSource) -> list[EntityWalk]:
    """Every entity, or the `entities` option's (comma-separated) when a district leaves some
    out, for example demographics it has no agreement for."""
    chosen = _option_list(source, "entities") or list(ENTITY_COLLECTIONS)
    unknown = set(chosen) - set(ENTITY_COLLECTIONS)
    if unknown:
        raise ValueError(f"oneroster_api: unknown entities {sorted(unknown)}; known: {sorted(ENTITY_COLLECTIONS)}")
    margin = timedelta(seconds=float(source.options.get("cursor_margin_seconds", DEFAULT_CURSOR_MARGIN_SECONDS)))
    return [
        OneRosterWalk(
            entity=entity,
            collection=ENTITY_COLLECTIONS[entity],
            page_size=source.page_size,
            sort=source.options.get("sort", "sourcedId"),
            cursor_margin=margin,
        )
        for entity in ENTITY_COLLECTIONS
        if entity in chosen
    ]


def token_url(base_url: str, source: ApiSource) -> str:
    """The OAuth token endpoint: the `token_path` option on the API's host (Infinite Campus:
    /campus/oauth2/token?appName=<app>, derived from the API path when the option is absent)."""
    parts = urlsplit(base_url)
    host = f"{parts.scheme}://{parts.netloc}"
    path = source.options.get("token_path")
    if path is None:
        segments = parts.path.strip("/").split("/")
        if segments[:4] == ["campus", "api", "oneroster", "v1p2"] and len(segments) > 4:
            path = f"/campus/oauth2/token?appName={segments[4]}"
        else:
            path = parts.path.rstrip("/") + "/token"
    return path if path.startswith(("http://", "https://")) else host + "/" + path.lstrip("/")


def scopes(source: ApiSource) -> str:
    names = source.options.get("scopes", DEFAULT_SCOPES).split()
    return " ".join(name if "://" in name else SCOPE_ROOT + name for name in names)


def make_client(base_url: str, source: ApiSource, credentials: Credentials, settings: HttpSettings) -> ApiClient:
    auth = ClientCredentialsToken(
        token_url(base_url, source),
        credentials.client_id,
        credentials.client_secret,
        scope=scopes(source),
        timeout=(settings.connect_timeout, settings.read_timeout),
    )
    return ApiClient(SYSTEM, base_url, auth=auth, settings=settings)


CONNECTOR = ApiConnector(system=SYSTEM, entity_walks=entity_walks, make_client=make_client)
