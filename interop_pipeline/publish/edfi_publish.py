"""Ed-Fi recipients: JSON documents per resource in a zip (edfi_json), or a load into an
ODS/API (edfi_api). Both build the same documents (edfi.py) from the agreement's roster, and both
stream them: the zip's members are written as the documents come out of the warehouse, and an API
load spools the records to send to disk (edfi_writer.py). The completeness check watches the
stream instead of a list."""

from __future__ import annotations

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
from interop_pipeline.publish.deliver import CheckOutcome, StagedExtract, _temporary
from interop_pipeline.publish.edfi import RESOURCES, roster_documents
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
    "studentAssessments": ("administrationDate", "scoreResults"),
}
MAX_PROBLEMS = 20  # listed in the check's detail; the rest are counted


def _documents(con: duckdb.DuckDBPyConnection, settings: RecipientSettings) -> Iterator[Document]:
    roster = load_roster(con, settings)
    return roster_documents(
        roster, con, attendance="attendance" in settings.fields, assessments="assessments" in settings.fields
    )


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

    def outcome(self) -> CheckOutcome:
        detail = "\n".join(self.problems) + (f"\n... and {self.more} more" if self.more else "")
        return CheckOutcome(
            "edfi_documents_complete",
            not self.problems,
            "Every document carries its resource's required fields.",
            detail if self.problems else "",
            {"documents": self.documents},
        )


def stage_edfi_json(
    config: DistrictConfig, name: str, settings: RecipientSettings, con: duckdb.DuckDBPyConnection, moment: datetime
) -> StagedExtract:
    folder = config.delivery_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}_edfi_{moment:%Y%m%dT%H%M%S}Z.zip"
    temporary = _temporary(final)
    check = DocumentsCheck()
    counts = write_json_bundle(temporary, check.watch(_documents(con, settings)))
    digest = sha256_of(temporary)
    staged = StagedExtract(
        recipient=name,
        settings=settings,
        data_dir=config.data_dir,
        mode="bulk",
        moment=moment,
        destination=str(final),
        staged=[(temporary, final)],
        entries=[AuditEntry(f, n, digest) for f, n in counts.items()],
        metadata={"rows": counts},
    )
    staged.checks = [check.outcome()]
    return staged


def write_json_bundle(path: Path, documents: Iterable[Document], *, flush_every: int = 2000) -> dict[str, int]:
    """One JSON-lines file per resource (`students.jsonl`), written as the documents come: they
    must arrive resource after resource in dependency order (as edfi.py yields them)."""
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
        finally:
            if member is not None:
                member.close()
    return counts


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
    ids_path = state_path(config.data_dir, name, "edfi_api_ids")
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
    plan = edfi_writer.plan_load(check.watch(_documents(con, settings)), previous, spool)
    staged.checks = [check.outcome()]
    staged.metadata = {
        "records": len(plan.current),
        "to_send": plan.to_send,
        "to_delete": len(plan.to_delete),
        "unchanged": plan.unchanged,
    }

    def send():
        results_path = publish_dir(config.data_dir) / "results" / name / f"{staged.delivery_id}.csv"
        ids = load_state(ids_path) or {}
        client = api_client(config, name, settings)
        try:
            summary = edfi_writer.load(
                client, plan, ids, max_parallel=settings.max_parallel_requests, results_path=results_path
            )
        finally:
            client.close()
        state = edfi_writer.state_after(plan, summary, previous)
        save_state(ids_path, edfi_writer.ids_after(state, ids, summary))  # a cache: lookups cover a loss
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
