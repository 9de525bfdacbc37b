"""Load Ed-Fi documents into an ODS/API: OAuth client credentials, dependency order, parallel
requests within a limit, retries on 429/5xx and token renewal (the shared ApiClient), a result
per record, only the records whose content changed since the last successful load, and DELETEs
of the records that left the warehouse.

POST upserts by natural key, so a retried request can never duplicate a record. A record's hash
enters the recipient's state only when the API accepted it; a failure is retried on the next
load. The ODS's own answer (its detail and field errors) is what the results file says.

Nothing here holds the load in memory: the records to send are spooled to a JSON-lines file while
the documents stream out of the warehouse, read back a chunk at a time, and each result is
written to the results file as it comes. The state (natural key → content hash, and the ODS id
each record got, which a DELETE needs) is what stays in memory.

Records the document builder refused (edfi.Refusals: not keyable, a required field empty, or a
refused parent) head the results file as `refused` rows, record_key being their warehouse
reference and message the reason. A record delivered before and refused now is not deleted from
the ODS: the recipient keeps what it has until the warehouse can key the record again (each
delivered record's warehouse reference is kept in the state, `refs`, to recognise it).
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from interop_pipeline.chaos import pause_point
from interop_pipeline.connectors.http import ApiClient, ApiError
from interop_pipeline.publish.edfi import NATURAL_KEYS, RESOURCES, Refusal, Refusals, natural_key
from interop_pipeline.publish.state import StateKey, canonical_json, restrict_to_owner, text_hash

DATA_PATH = "data/v3/ed-fi"
_ANSWERED = (200, 201, 400, 403, 404, 409, 412, 422)
_DELETE_ANSWERED = (200, 204, 400, 403, 404, 409, 412)
CHUNK = 512  # records in flight per round (every round finishes before the next resource starts)
_T = TypeVar("_T")
# record_key: the record's warehouse reference (`stu-<key>`, a surrogate key built from no personal
# value), never its Ed-Fi natural key, which holds students' ids (a record without a known
# reference: `nk-` and a hash of its natural key). The file can be read, shared and audited.
RESULT_COLUMNS = ["resource", "record_key", "outcome", "http_status", "message"]


def result_reference(refs: dict[StateKey, str], resource: str, natural: str) -> str:
    known = refs.get((resource, natural))
    return known if known is not None else "nk-" + hashlib.sha256(natural.encode("utf-8")).hexdigest()[:24]


@dataclass(frozen=True)
class RecordResult:
    resource: str
    record_key: str
    outcome: str  # created | updated | deleted | failed | refused (not sent: see edfi.Refusals)
    http_status: int | None
    message: str
    ods_id: str | None = None  # the id the ODS gave the record (from Location)


@dataclass(frozen=True)
class PlannedRecord:
    resource: str
    record_key: str
    content_hash: str
    body: bytes  # the document as its canonical JSON, encoded once when it was planned


@dataclass
class LoadPlan:
    spool: Path  # lines `[resource, key, hash]<TAB>document` (JSON) of the records to send, in order
    to_send: int
    unchanged: int
    current: dict[StateKey, str]  # every record the warehouse holds for the recipient now
    to_delete: list[StateKey]  # delivered before, gone now; sent in reverse dependency order
    refused: list[Refusal] = field(default_factory=list)  # not sent: not keyable, or a refused parent
    kept: list[StateKey] = field(default_factory=list)  # delivered before, refused now: not deleted
    refs: dict[StateKey, str] = field(default_factory=dict)  # natural key → warehouse reference


@dataclass
class LoadSummary:
    sent: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)  # sends and deletions
    failed_sends: Counter[str] = field(default_factory=Counter)
    deleted: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)  # by the document builder, never sent
    failed_keys: set[StateKey] = field(default_factory=set)
    ids: dict[StateKey, str] = field(default_factory=dict)


def plan_load(
    documents: Iterable[tuple[str, dict[str, Any]]],
    previous: dict[StateKey, str],
    spool: Path,
    *,
    refusals: Refusals | None = None,
    previous_refs: dict[StateKey, str] | None = None,
) -> LoadPlan:
    """Spool the changed and new records, and list the delivered records now gone: those whose
    warehouse reference (`previous_refs`) `refusals` refused this time are kept, not deleted."""
    spool.parent.mkdir(parents=True, exist_ok=True)
    current: dict[StateKey, str] = {}
    to_send = unchanged = 0
    with spool.open("w", encoding="utf-8") as out:
        for resource, document in documents:
            key = natural_key(resource, document)
            text = canonical_json(document)  # hashed, and sent as it is
            digest = text_hash(text)
            current[(resource, key)] = digest
            if previous.get((resource, key)) == digest:
                unchanged += 1
                continue
            out.write(json.dumps([resource, key, digest], separators=(",", ":")) + "\t" + text + "\n")
            to_send += 1
    order = {resource: position for position, resource in enumerate(RESOURCES)}
    gone = [k for k in previous if k not in current and k[0] in order]
    gone.sort(key=lambda k: (-order[k[0]], k[1]))
    refs = refusals.refs if refusals is not None and refusals.refs is not None else {}
    kept: list[StateKey] = []
    if refusals is not None and len(refusals) and previous_refs:
        kept = [k for k in gone if k in previous_refs and refusals.refused(k[0], previous_refs[k])]
        withheld = set(kept)
        gone = [k for k in gone if k not in withheld]
        refs.update({k: previous_refs[k] for k in kept})
    refused = list(refusals) if refusals is not None else []
    return LoadPlan(spool, to_send, unchanged, current, gone, refused, kept, refs)


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


def _post(client: ApiClient, record: PlannedRecord) -> RecordResult:
    try:
        response = client.request(
            "POST", f"{DATA_PATH}/{record.resource}", json_body=record.body, ok_statuses=_ANSWERED
        )
    except ApiError as error:
        return RecordResult(record.resource, record.record_key, "failed", None, error.problem)
    if response.status in (200, 201):
        outcome = "created" if response.status == 201 else "updated"
        location = response.headers.get("Location") or ""
        ods_id = location.rstrip("/").rsplit("/", 1)[-1] or None
        return RecordResult(record.resource, record.record_key, outcome, response.status, "", ods_id)
    return RecordResult(record.resource, record.record_key, "failed", response.status, _problem(response.body))


def resources_short_in_ods(client: ApiClient, delivered: Iterable[StateKey]) -> list[str]:
    """The resources of which the ODS holds fewer records than were delivered to it (an ODS reset,
    or restored from an older copy): their records must all go out again, not only the changed
    ones. One count per resource (`totalCount`); an ODS that holds more, from other systems,
    cannot be told apart from one that holds ours."""
    delivered_counts = Counter(resource for resource, _ in delivered)
    short = []
    for resource in RESOURCES:
        if delivered_counts[resource]:
            response = client.get_json(f"{DATA_PATH}/{resource}", {"limit": 1, "totalCount": "true"})
            held = response.headers.get("Total-Count")
            if held is not None and int(held) < delivered_counts[resource]:
                short.append(resource)
    return short


def _find_id(client: ApiClient, resource: str, record_key: str) -> str | None:
    """The ODS id of a record known only by its natural key (query by example on the key)."""
    values = json.loads(record_key)
    params = {path.rsplit(".", 1)[-1]: value for path, value in zip(NATURAL_KEYS[resource], values, strict=True)}
    response = client.request("GET", f"{DATA_PATH}/{resource}", params=params)
    for document in response.body or []:
        if natural_key(resource, document) == record_key:
            return document.get("id")
    return None


def _delete(client: ApiClient, resource: str, record_key: str, ods_id: str | None) -> RecordResult:
    try:
        ods_id = ods_id or _find_id(client, resource, record_key)
        if ods_id is None:
            return RecordResult(resource, record_key, "deleted", None, "not in the ODS")
        response = client.request("DELETE", f"{DATA_PATH}/{resource}/{ods_id}", ok_statuses=_DELETE_ANSWERED)
    except ApiError as error:
        return RecordResult(resource, record_key, "failed", None, error.problem)
    if response.status in (200, 204):
        return RecordResult(resource, record_key, "deleted", response.status, "")
    if response.status == 404:  # gone already: what we wanted
        return RecordResult(resource, record_key, "deleted", 404, "not in the ODS")
    return RecordResult(resource, record_key, "failed", response.status, _problem(response.body))


def _rounds(items: Iterable[_T], resource_of: Callable[[_T], str]) -> Iterator[list[_T]]:
    """Rounds of at most CHUNK items of one resource, in the order given."""
    round_: list[_T] = []
    for item in items:
        if round_ and (resource_of(round_[0]) != resource_of(item) or len(round_) >= CHUNK):
            yield round_
            round_ = []
        round_.append(item)
    if round_:
        yield round_


def _spooled(spool: Path) -> Iterator[PlannedRecord]:
    """The spooled records, each document left as the JSON it is sent as (compact JSON escapes
    every tab and newline inside strings, so the first tab ends the header)."""
    with spool.open(encoding="utf-8") as lines:
        for line in lines:
            header, document = line.rstrip("\n").split("\t", 1)
            yield PlannedRecord(*json.loads(header), document.encode("utf-8"))


def load(
    client: ApiClient,
    plan: LoadPlan,
    ids: dict[StateKey, str],
    *,
    max_parallel: int,
    results_path: Path,
    refs: dict[StateKey, str] | None = None,
) -> LoadSummary:
    """POST the spooled records resource by resource in dependency order, then DELETE the records
    gone from the warehouse in reverse order, up to `max_parallel` requests at once; every
    outcome is written to `results_path` as it comes, under its warehouse reference (`refs`, with
    `plan.refs`: natural key → reference)."""
    summary = LoadSummary()
    known_refs = {**(refs or {}), **plan.refs}
    results_path.parent.mkdir(parents=True, exist_ok=True)
    with results_path.open("w", newline="", encoding="utf-8") as f, ThreadPoolExecutor(max_parallel) as pool:
        restrict_to_owner(results_path)  # outcomes of students' records: the owner's to read
        writer = csv.writer(f)
        writer.writerow(RESULT_COLUMNS)

        def record(results: Iterable[RecordResult], *, deleting: bool = False) -> None:
            for r in results:
                reference = result_reference(known_refs, r.resource, r.record_key)
                writer.writerow([r.resource, reference, r.outcome, r.http_status or "", r.message])
                key = (r.resource, r.record_key)
                if r.outcome == "failed":
                    summary.failed[r.resource] += 1
                    if not deleting:
                        summary.failed_sends[r.resource] += 1
                    summary.failed_keys.add(key)
                elif r.outcome == "deleted":
                    summary.deleted[r.resource] += 1
                elif r.ods_id:
                    summary.ids[key] = r.ods_id

        for refusal in plan.refused:
            writer.writerow([refusal.resource, refusal.record_key, "refused", "", refusal.reason])
            summary.refused[refusal.resource] += 1
        for records in _rounds(_spooled(plan.spool), lambda r: r.resource):
            summary.sent[records[0].resource] += len(records)
            record(pool.map(lambda r: _post(client, r), records))
            f.flush()  # what the ODS answered is on disk before the next round
            pause_point("edfi_load")
        for keys in _rounds(plan.to_delete, lambda k: k[0]):
            record(pool.map(lambda k: _delete(client, k[0], k[1], ids.get(k)), keys), deleting=True)
    return summary


def state_after(plan: LoadPlan, summary: LoadSummary, previous: dict[StateKey, str]) -> dict[StateKey, str]:
    """Sent records take their new hash only if accepted (a refused one keeps what the ODS holds,
    so it is sent again); a record whose DELETE failed stays, to be deleted next time, and so does
    a record refused by the builder this time (`plan.kept`)."""
    state = {}
    for key, digest in plan.current.items():
        if key in summary.failed_keys:
            if key in previous:
                state[key] = previous[key]
            continue
        state[key] = digest
    for key in plan.to_delete:
        if key in summary.failed_keys:
            state[key] = previous[key]
    for key in plan.kept:
        state[key] = previous[key]
    return state


def refs_after(state: dict[StateKey, str], plan: LoadPlan, previous_refs: dict[StateKey, str]) -> dict[StateKey, str]:
    """The warehouse reference of every record in the state that we know one for."""
    known = {**previous_refs, **plan.refs}
    return {key: known[key] for key in state if key in known}


def ids_after(state: dict[StateKey, str], ids: dict[StateKey, str], summary: LoadSummary) -> dict[StateKey, str]:
    """The ODS id of every record in the state that we know one for."""
    known = {**ids, **summary.ids}
    return {key: known[key] for key in state if key in known}
