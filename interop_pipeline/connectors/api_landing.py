"""Landing for REST sources: one batch per entity walk, committed only when the walk completes.

Every API entity lands in the same shape, whatever the system: the record's key, its state
(``active`` or ``deleted`` for a tombstone), when the source says it changed, the extract mode, a
sequence number in fetch order, and the record itself as JSON text. Staging models type the JSON
(see the ``api_current_records`` dbt macro); landing never has to change when a vendor adds a
field. The walk's cursor is stored in the batch record, so the cursor advances exactly when the
data it covers becomes visible: a walk that fails midway lands nothing and moves nothing.

A walk that brings nothing new replaces the batch before it instead of adding one: a full walk
identical to the entity's newest batch (same records, whatever their order), or an incremental
walk that found no change after one that found none either. The newer batch keeps the time of
the check (freshness) and the cursor, so a year of daily runs keeps the landing zone, and the
batch counts in mart_data_quality, the size of the data.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from interop_pipeline.connectors.http import ApiClient
from interop_pipeline.connectors.landing import LandingBatch, read_batch_records, retire_batch

API_RECORD_COLUMNS = ["record_key", "record_state", "changed_at", "extract_mode", "fetch_seq", "record_json"]
ACTIVE, DELETED = "active", "deleted"
FULL, INCREMENTAL = "full", "incremental"


@dataclass(frozen=True)
class ApiRecord:
    key: str
    payload: dict[str, Any]
    # The source's change marker. Without a page cursor, the walk's cursor is the greatest of
    # these compared as text: ISO-8601 UTC timestamps compare correctly; numbers do not, so a
    # connector with numeric change versions sets Page.cursor instead.
    changed_at: str | None = None
    state: str = ACTIVE

    @classmethod
    def tombstone(cls, key: str, payload: dict[str, Any] | None = None, changed_at: str | None = None) -> ApiRecord:
        return cls(key=key, payload=payload or {}, changed_at=changed_at, state=DELETED)


@dataclass
class Page:
    """One page of an entity walk. `ref` names it for lineage (endpoint and page number; no
    tokens). `cursor`, when a connector sets it, is what the next incremental walk starts from if
    this walk completes (for example Ed-Fi's newest change version, read before walking)."""

    records: list[ApiRecord]
    ref: str
    cursor: str | None = None


class EntityWalk(Protocol):
    """How a connector walks one entity of its system."""

    entity: str
    endpoint: str  # for messages and metadata, e.g. "/api/v1/courses/:id/enrollments"
    supports_incremental: bool

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        """Every page of the entity; only what changed after `cursor` when it is not None."""
        ...


@dataclass
class WalkResult:
    batch_id: str
    entity: str
    mode: str
    records: int
    tombstones: int
    pages: int
    retries: int
    requests: int
    duration_seconds: float
    cursor: str | None
    previous_cursor: str | None
    replaced_batch_id: str | None = None  # the batch this one made redundant (nothing new)

    def metadata(self) -> dict[str, Any]:
        return {
            "replaced_batch_id": self.replaced_batch_id or "",
            "batch_id": self.batch_id,
            "mode": self.mode,
            "records": self.records,
            "tombstones": self.tombstones,
            "pages": self.pages,
            "retries": self.retries,
            "requests": self.requests,
            "duration_seconds": round(self.duration_seconds, 2),
            "cursor": self.cursor or "",
        }


@dataclass
class CursorState:
    """What the committed batches of one entity say about its next walk."""

    cursor: str | None = None
    last_full_at: datetime | None = None
    batches: list[dict] = field(default_factory=list)


def cursor_state(
    landing_root: Path | str, source_system: str, entity: str, batch_records: list[dict] | None = None
) -> CursorState:
    """`batch_records`: the source's committed batch records when the caller has read them
    already (one read for all of a system's walks, not one per entity)."""
    state = CursorState()
    if batch_records is None:
        batch_records = read_batch_records(landing_root, source_system)
    for record in batch_records:
        details = record["details"]
        if details.get("entity") != entity:
            continue
        state.batches.append(record)
        if details.get("cursor") is not None:
            state.cursor = details["cursor"]
        if details.get("mode") == FULL:
            state.last_full_at = record["extracted_at"]
    return state


def choose_mode(state: CursorState, walk: EntityWalk, now: datetime, full_refresh_days: int) -> str:
    """Full when the entity cannot be walked incrementally, has no cursor yet, or its last full
    walk is older than the periodic full refresh (which catches deletions a delta feed missed)."""
    if not walk.supports_incremental or state.cursor is None or state.last_full_at is None:
        return FULL
    if now - state.last_full_at >= timedelta(days=full_refresh_days):
        return FULL
    return INCREMENTAL


def _record_hash(line: str) -> int:
    return int.from_bytes(hashlib.sha256(line.encode()).digest()[:16], "big")


def _brings_nothing_new(mode: str, details: dict[str, Any], previous: dict[str, Any]) -> bool:
    """Whether a committed walk holds nothing its entity's newest batch before it does not."""
    if mode == INCREMENTAL:
        return details["records"] == 0 and previous.get("mode") == INCREMENTAL and previous.get("records") == 0
    return previous.get("mode") == FULL and previous.get("content_digest") == details["content_digest"]


def land_entity_walk(
    client: ApiClient,
    walk: EntityWalk,
    *,
    landing_root: Path | str,
    source_system: str,
    district_code: str,
    full_refresh_days: int = 7,
    force_full: bool = False,
    now: datetime | None = None,
    batch_records: list[dict] | None = None,
) -> WalkResult:
    """Walk one entity page by page into a landing batch; commit it only if the walk completes."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    state = cursor_state(landing_root, source_system, walk.entity, batch_records)
    mode = FULL if force_full else choose_mode(state, walk, now, full_refresh_days)
    since = state.cursor if mode == INCREMENTAL else None
    retries_before, requests_before = client.retries, client.requests
    # A walk's content is unknown until it ends, so the batch is named by the walk itself.
    fingerprint = hashlib.sha256(f"{source_system}/{walk.entity}/{now.isoformat()}/{uuid.uuid4()}".encode()).hexdigest()
    counts = {"records": 0, "tombstones": 0, "pages": 0}
    # Order-free digest of the walk's records (a sum of their hashes), to tell an unchanged walk.
    content = 0
    page_cursor: str | None = None
    newest_change: str | None = None
    with LandingBatch(
        landing_root,
        source_system,
        district_code,
        fingerprint,
        source_name=f"{client.base_url}{walk.endpoint}",
        extracted_at=now,
    ) as batch:
        writer = batch.entity_writer(walk.entity, API_RECORD_COLUMNS)
        for page in walk.pages(client, since):
            counts["pages"] += 1
            if page.cursor is not None:
                page_cursor = page.cursor
            for record in page.records:
                counts["records"] += 1
                counts["tombstones"] += record.state == DELETED
                if record.changed_at is not None and (newest_change is None or record.changed_at > newest_change):
                    newest_change = record.changed_at
                payload = json.dumps(record.payload, ensure_ascii=False, sort_keys=True)
                content += _record_hash(f"{record.key}\x1f{record.state}\x1f{record.changed_at}\x1f{payload}")
                writer.append(
                    [
                        record.key,
                        record.state,
                        record.changed_at,
                        mode,
                        f"{counts['records']:012d}",  # zero-padded so it also sorts as text
                        payload,
                    ],
                    page.ref,
                )
        cursor = page_cursor or newest_change or since
        batch.details.update(
            {
                "entity": walk.entity,
                "endpoint": walk.endpoint,
                "mode": mode,
                "cursor": cursor,
                "previous_cursor": since,
                **counts,
                "content_digest": f"{counts['records']}:{content % 2**128:032x}",
                "retries": client.retries - retries_before,
            }
        )
        batch_id = batch.commit()
    # Retired after the commit: a kill in between leaves two equal batches, never none.
    newest = state.batches[-1] if state.batches else None
    replaced = None
    if newest is not None and _brings_nothing_new(mode, batch.details, newest["details"]):
        replaced = newest["batch_id"]
        retire_batch(landing_root, source_system, replaced)
    return WalkResult(
        batch_id=batch_id,
        entity=walk.entity,
        mode=mode,
        records=counts["records"],
        tombstones=counts["tombstones"],
        pages=counts["pages"],
        retries=client.retries - retries_before,
        requests=client.requests - requests_before,
        duration_seconds=time.monotonic() - started,
        cursor=cursor,
        previous_cursor=since,
        replaced_batch_id=replaced,
    )


def iter_records(pages: Iterable[Page]) -> Iterator[ApiRecord]:
    for page in pages:
        yield from page.records
