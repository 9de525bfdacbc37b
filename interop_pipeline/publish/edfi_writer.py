"""Load Ed-Fi documents into an ODS/API: OAuth client credentials, dependency order, parallel
POSTs within a limit, retries on 429/5xx (the shared ApiClient), a result per record, and only
the records whose content changed since the last successful load.

POST upserts by natural key, so a retried request can never duplicate a record. A record's hash
enters the recipient's state only when the API accepted it; a failure is retried on the next
load. The ODS's own answer (its detail and field errors) is what the results file says.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interop_pipeline.connectors.http import ApiClient, ApiError
from interop_pipeline.publish.edfi import RESOURCES, natural_key
from interop_pipeline.publish.state import StateKey, content_hash

DATA_PATH = "data/v3/ed-fi"
_ANSWERED = (200, 201, 400, 403, 404, 409, 412, 422)


@dataclass(frozen=True)
class RecordResult:
    resource: str
    record_key: str
    outcome: str  # created | updated | failed
    http_status: int | None
    message: str


@dataclass(frozen=True)
class PlannedRecord:
    resource: str
    record_key: str
    content_hash: str
    document: dict[str, Any]


def plan_load(
    documents: Iterable[tuple[str, dict[str, Any]]], previous: dict[StateKey, str]
) -> tuple[list[PlannedRecord], dict[StateKey, str], int]:
    """Records to send (changed or new), the full current state, and how many are unchanged."""
    to_send, current, unchanged = [], {}, 0
    for resource, document in documents:
        key = natural_key(resource, document)
        digest = content_hash(document)
        current[(resource, key)] = digest
        if previous.get((resource, key)) == digest:
            unchanged += 1
        else:
            to_send.append(PlannedRecord(resource, key, digest, document))
    return to_send, current, unchanged


def _problem(body: Any) -> str:
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("detail") or body.get("message") or body.get("title") or "")]
    errors = body.get("errors") or body.get("validationErrors")
    if isinstance(errors, dict):
        parts += [f"{field}: {'; '.join(map(str, msgs))}" for field, msgs in errors.items()]
    elif isinstance(errors, list):
        parts += [str(e) for e in errors]
    return " | ".join(p for p in parts if p)


def _post(client: ApiClient, record: PlannedRecord, *, token_attempts: int = 4) -> RecordResult:
    for attempt in range(1, token_attempts + 1):
        try:
            response = client.request(
                "POST", f"{DATA_PATH}/{record.resource}", json_body=record.document, ok_statuses=_ANSWERED
            )
            break
        except ApiError as error:
            # Parallel requests share one token: another request's renewal can expire it again
            # before this one is answered. A POST is an upsert, so sending it again is safe.
            if "HTTP 401" in error.problem and attempt < token_attempts:
                continue
            return RecordResult(record.resource, record.record_key, "failed", None, error.problem)
    if response.status in (200, 201):
        outcome = "created" if response.status == 201 else "updated"
        return RecordResult(record.resource, record.record_key, outcome, response.status, "")
    return RecordResult(record.resource, record.record_key, "failed", response.status, _problem(response.body))


def load(client: ApiClient, records: list[PlannedRecord], *, max_parallel: int) -> list[RecordResult]:
    """POST every record, resource by resource in dependency order, up to `max_parallel` at once."""
    by_resource: dict[str, list[PlannedRecord]] = {}
    for record in records:
        by_resource.setdefault(record.resource, []).append(record)
    results: list[RecordResult] = []
    with ThreadPoolExecutor(max_workers=max_parallel) as pool:
        for resource in RESOURCES:
            batch = by_resource.get(resource, [])
            results.extend(pool.map(lambda r: _post(client, r), batch))
    return results


def state_after(
    previous_sent: list[PlannedRecord],
    results: list[RecordResult],
    current: dict[StateKey, str],
    previous: dict[StateKey, str],
) -> dict[StateKey, str]:
    """Unchanged records keep their hash; sent ones take the new hash only if accepted."""
    failed = {(r.resource, r.record_key) for r in results if r.outcome == "failed"}
    state = {}
    for key, digest in current.items():
        if key in failed:
            if key in previous:
                state[key] = previous[key]
            continue
        state[key] = digest
    return state


def write_results(path: Path, results: list[RecordResult]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["resource", "record_key", "outcome", "http_status", "message"])
        for r in results:
            writer.writerow([r.resource, r.record_key, r.outcome, r.http_status or "", r.message])
