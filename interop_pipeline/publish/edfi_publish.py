"""Ed-Fi recipients: JSON documents per resource in a zip (edfi_json), or a load into an
ODS/API (edfi_api). Both build the same documents (edfi.py) from the agreement's roster, and both
stream them: the zip's members are written as the documents come out of the warehouse, and an API
load spools the records to send to disk (edfi_writer.py). The completeness check watches the
stream instead of a list.

Records the builder refuses (edfi.Refusals: not keyable, a required field empty, or a refused
parent) never stop the delivery. They are listed with the reason: in an edfi_api load, as
`refused` rows of the results file (data/publish/results/<recipient>/<delivery>.csv); in an
edfi_json bundle, in its `results/refusals.csv` (resource, record_key, reason), always present,
header only when nothing was refused. Either way they are counted in the asset metadata
(`refused`), in the audit log (a `<resource>:refused` row per resource, like `:deleted`), and the
delivery's status is `partial`. The refusals file holds resource names, warehouse references and
fixed reasons only, nothing a data-sharing agreement governs, and no check reads it as a
document: `edfi_documents_complete` checks the documents that go out, and a refusal fails no
check (the records it names are simply not delivered).
"""

from __future__ import annotations

import csv
import io
import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from interop_pipeline.config import DistrictConfig, RecipientSettings
from interop_pipeline.connectors.http import ApiClient, ClientCredentialsToken, HttpSettings
from interop_pipeline.publish import edfi_writer
from interop_pipeline.publish.audit import AuditEntry, sha256_of
from interop_pipeline.publish.deliver import CheckOutcome, StagedExtract, unless_unchanged, work_file
from interop_pipeline.publish.edfi import REFUSAL_COLUMNS, RESOURCES, Refusals, roster_documents
from interop_pipeline.publish.roster import load_roster
from interop_pipeline.publish.state import load_state, publish_dir, save_state, state_path

Document = tuple[str, dict[str, Any]]
# Fields each resource must carry (Ed-Fi DS 5 required), checked before anything is sent.
REQUIRED = {
    "students": ("studentUniqueId", "firstName", "lastSurname", "birthDate"),
    "staffs": ("staffUniqueId", "firstName", "lastSurname"),
    "schools": ("schoolId", "nameOfInstitution", "gradeLevels", "educationOrganizationCategories"),
    "sessions": ("sessionName", "termDescriptor", "beginDate", "endDate", "totalInstructionalDays"),
    "studentSchoolAssociations": ("entryDate", "entryGradeLevelDescriptor"),
    "staffSectionAssociations": ("beginDate", "classroomPositionDescriptor"),
    "assessments": ("assessmentTitle", "academicSubjects"),
}
MAX_PROBLEMS = 20  # listed in the check's detail; the rest are counted
REFUSALS_MEMBER = "results/refusals.csv"  # in an edfi_json bundle


def _documents(
    con: duckdb.DuckDBPyConnection, settings: RecipientSettings, refusals: Refusals | None = None
) -> Iterator[Document]:
    roster = load_roster(con, settings)
    return roster_documents(
        roster,
        con,
        attendance="attendance" in settings.fields,
        assessments="assessments" in settings.fields,
        refusals=refusals,
    )


def _refusal_entries(refusals: Refusals) -> list[AuditEntry]:
    """One audit row per resource with refused records (an outcome count, like `:deleted`)."""
    return [AuditEntry(f"{r}:refused", refusals.counts[r]) for r in RESOURCES if refusals.counts[r]]


def _refusal_metadata(refusals: Refusals) -> dict[str, Any]:
    return {"refused": len(refusals), "refused_by_resource": {r: n for r, n in refusals.counts.items() if n}}


class DocumentsCheck:
    """`edfi_documents_complete`, worked out while the documents stream past (`watch`)."""

    def __init__(self) -> None:
        self.documents = 0
        self.problems: list[str] = []
        self.more = 0

    def _problem(self, text: str) -> None:
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(text)
        else:
            self.more += 1

    def watch(self, documents: Iterable[Document]) -> Iterator[Document]:
        for position, (resource, document) in enumerate(documents):
            self.documents += 1
            for name in REQUIRED.get(resource, ()):
                if document.get(name) in (None, "", []):
                    self._problem(f"{resource} document {position}: {name} is required")
            if resource == "students" and len(document["studentUniqueId"]) > 32:
                self._problem(f"students document {position}: studentUniqueId longer than 32 characters")
            yield resource, document

    def outcome(self, refused: int = 0) -> CheckOutcome:
        detail = "\n".join(self.problems) + (f"\n... and {self.more} more" if self.more else "")
        return CheckOutcome(
            "edfi_documents_complete",
            not self.problems,
            "Every document carries its resource's required fields (records that could not have them "
            "were refused, each with its reason, and are not among the documents).",
            detail if self.problems else "",
            {"documents": self.documents, "refused": refused},
        )


def stage_edfi_json(
    config: DistrictConfig, name: str, settings: RecipientSettings, con: duckdb.DuckDBPyConnection, moment: datetime
) -> StagedExtract:
    folder = config.delivery_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}_edfi_{moment:%Y%m%dT%H%M%S}Z.zip"
    temporary = work_file(config.data_dir, name, final)
    check = DocumentsCheck()
    refusals = Refusals()
    counts = write_json_bundle(temporary, check.watch(_documents(con, settings, refusals)), refusals=refusals)
    digest = sha256_of(temporary)
    staged = StagedExtract(
        recipient=name,
        settings=settings,
        data_dir=config.data_dir,
        mode="bulk",
        moment=moment,
        destination=str(final),
        staged=[(temporary, final)],
        entries=[AuditEntry(f, n, digest) for f, n in counts.items()] + _refusal_entries(refusals),
        metadata={"rows": counts, **_refusal_metadata(refusals)},
        refused=len(refusals),
    )
    staged.checks = [check.outcome(len(refusals))]
    return unless_unchanged(staged, temporary)


def write_json_bundle(
    path: Path, documents: Iterable[Document], *, flush_every: int = 2000, refusals: Refusals | None = None
) -> dict[str, int]:
    """One JSON-lines file per resource (`students.jsonl`), written as the documents come: they
    must arrive resource after resource in dependency order (as edfi.py yields them). With
    `refusals`, what the builder refused while they streamed goes last, in results/refusals.csv."""
    order = {resource: position for position, resource in enumerate(RESOURCES)}
    counts: dict[str, int] = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        current: str | None = None
        member = None
        buffer: list[str] = []
        try:
            for resource, document in documents:
                if resource != current:
                    if current is not None and order[resource] <= order[current]:
                        raise ValueError(f"{resource} documents after {current}: not in dependency order")
                    if member is not None:
                        member.write("".join(buffer).encode("utf-8"))
                        buffer.clear()
                        member.close()
                    member = zf.open(f"{resource}.jsonl", "w", force_zip64=True)
                    current = resource
                    counts[f"{resource}.jsonl"] = 0
                buffer.append(json.dumps(document, separators=(",", ":")) + "\n")
                counts[f"{resource}.jsonl"] += 1
                if len(buffer) >= flush_every:
                    member.write("".join(buffer).encode("utf-8"))
                    buffer.clear()
            if member is not None:
                member.write("".join(buffer).encode("utf-8"))
                member.close()
                member = None
            if refusals is not None:
                zf.writestr(REFUSALS_MEMBER, refusals_csv(refusals))
                counts[REFUSALS_MEMBER] = len(refusals)
        finally:
            if member is not None:
                member.close()
    return counts


def refusals_csv(refusals: Refusals) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(REFUSAL_COLUMNS)
    writer.writerows((r.resource, r.record_key, r.reason) for r in refusals)
    return out.getvalue().encode("utf-8")


def api_client(config: DistrictConfig, name: str, settings: RecipientSettings) -> ApiClient:
    base_url = config.recipient_base_url(name, settings)
    assert settings.client_id_env and settings.client_secret_env
    client_id, secret = os.environ.get(settings.client_id_env), os.environ.get(settings.client_secret_env)
    if not client_id or not secret:
        raise RuntimeError(
            f"{name}: set the environment variables {settings.client_id_env} and {settings.client_secret_env}"
        )
    http = HttpSettings(max_retries=settings.max_retries, backoff_seconds=settings.backoff_seconds)
    token = ClientCredentialsToken(
        f"{base_url}/oauth/token", client_id, secret, timeout=(http.connect_timeout, http.read_timeout)
    )
    return ApiClient("Ed-Fi ODS/API", base_url, auth=token, settings=http)


def stage_edfi_api(
    config: DistrictConfig, name: str, settings: RecipientSettings, con: duckdb.DuckDBPyConnection, moment: datetime
) -> StagedExtract:
    previous = load_state(state_path(config.data_dir, name, "edfi_api")) or {}
    lost: list[str] = []
    if previous:  # what the ODS has lost since (a reset, a restore) goes out again whole
        client = api_client(config, name, settings)
        try:
            lost = edfi_writer.resources_short_in_ods(client, previous)
        finally:
            client.close()
        previous = {key: digest for key, digest in previous.items() if key[0] not in lost}
    ids_path = state_path(config.data_dir, name, "edfi_api_ids")
    refs_path = state_path(config.data_dir, name, "edfi_api_refs")  # natural key → warehouse reference
    previous_refs = load_state(refs_path) or {}
    staged = StagedExtract(
        recipient=name,
        settings=settings,
        data_dir=config.data_dir,
        mode="delta" if previous else "bulk",
        moment=moment,
        destination=config.recipient_base_url(name, settings),
        state_kind="edfi_api",
    )
    spool = publish_dir(config.data_dir) / "spool" / name / f"{staged.delivery_id}.jsonl"
    staged.scratch.append(spool)
    check = DocumentsCheck()
    refusals = Refusals(track_refs=True)
    plan = edfi_writer.plan_load(
        check.watch(_documents(con, settings, refusals)),
        previous,
        spool,
        refusals=refusals,
        previous_refs=previous_refs,
    )
    staged.checks = [check.outcome(len(refusals))]
    staged.refused = len(refusals)
    staged.entries = _refusal_entries(refusals)
    staged.metadata = {
        "records": len(plan.current),
        "to_send": plan.to_send,
        "to_delete": len(plan.to_delete),
        "unchanged": plan.unchanged,
        **_refusal_metadata(refusals),
        "kept_refused": len(plan.kept),  # delivered before, refused now: left in the ODS
        "sent_again_ods_short": ", ".join(lost) or "none",  # resources the ODS held fewer of than were sent
    }

    results_path = publish_dir(config.data_dir) / "results" / name / f"{staged.delivery_id}.csv"
    staged.results_file = results_path

    def send():
        ids = load_state(ids_path) or {}
        client = api_client(config, name, settings)
        try:
            summary = edfi_writer.load(
                client,
                plan,
                ids,
                max_parallel=settings.max_parallel_requests,
                results_path=results_path,
                refs=previous_refs,
            )
        finally:
            client.close()
        state = edfi_writer.state_after(plan, summary, previous)
        save_state(ids_path, edfi_writer.ids_after(state, ids, summary))  # a cache: lookups cover a loss
        save_state(refs_path, edfi_writer.refs_after(state, plan, previous_refs))
        failed = summary.failed
        entries = [
            AuditEntry(resource, summary.sent[resource] - summary.failed_sends[resource])
            for resource in RESOURCES
            if summary.sent[resource]
        ]
        entries += [AuditEntry(f"{resource}:deleted", n) for resource, n in summary.deleted.items()]
        check = CheckOutcome(
            "no_failed_records",
            not failed,
            "The ODS/API accepted every record sent and every deletion.",
            f"{sum(failed.values())} records failed; see {results_path}" if failed else "",
            {"failed": dict(failed), "results_file": str(results_path)},
        )
        metadata = {
            "sent": sum(summary.sent.values()),
            "deleted": sum(summary.deleted.values()),
            "failed": sum(failed.values()),
            "requests": client.requests,
            "retries": client.retries,
            "results_file": str(results_path),
        }
        return state, entries, [check], metadata

    staged.send = send
    return staged
