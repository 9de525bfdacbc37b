"""Ed-Fi recipients: JSON documents per resource in a zip (edfi_json), or a load into an
ODS/API (edfi_api). Both build the same documents (edfi.py) from the agreement's roster."""

from __future__ import annotations

import json
import os
import zipfile
from collections import Counter
from datetime import datetime
from typing import Any

import duckdb

from interop_pipeline.config import DistrictConfig, RecipientSettings
from interop_pipeline.connectors.http import ApiClient, ClientCredentialsToken, HttpSettings
from interop_pipeline.publish import edfi_writer
from interop_pipeline.publish.audit import AuditEntry, sha256_of
from interop_pipeline.publish.deliver import CheckOutcome, StagedExtract, _temporary
from interop_pipeline.publish.edfi import RESOURCES, roster_documents
from interop_pipeline.publish.roster import load_roster
from interop_pipeline.publish.state import load_state, publish_dir, state_path

# Fields each resource must carry (Ed-Fi DS 5 required), checked before anything is sent.
REQUIRED = {
    "students": ("studentUniqueId", "firstName", "lastSurname", "birthDate"),
    "staffs": ("staffUniqueId", "firstName", "lastSurname"),
    "schools": ("schoolId", "nameOfInstitution", "gradeLevels", "educationOrganizationCategories"),
    "sessions": ("sessionName", "termDescriptor", "beginDate", "endDate", "totalInstructionalDays"),
    "studentSchoolAssociations": ("entryDate", "entryGradeLevelDescriptor"),
    "staffSectionAssociations": ("beginDate", "classroomPositionDescriptor"),
}


def _documents(con: duckdb.DuckDBPyConnection, settings: RecipientSettings) -> list[tuple[str, dict[str, Any]]]:
    roster = load_roster(con, settings)
    return list(roster_documents(roster, con, attendance="attendance" in settings.fields))


def _documents_check(documents: list[tuple[str, dict[str, Any]]]) -> CheckOutcome:
    problems = []
    for position, (resource, document) in enumerate(documents):
        for name in REQUIRED.get(resource, ()):
            if document.get(name) in (None, "", []):
                problems.append(f"{resource} document {position}: {name} is required")
        if resource == "students" and len(document["studentUniqueId"]) > 32:
            problems.append(f"students document {position}: studentUniqueId longer than 32 characters")
    return CheckOutcome(
        "edfi_documents_complete",
        not problems,
        "Every document carries its resource's required fields.",
        "\n".join(problems[:20]),
        {"documents": len(documents)},
    )


def stage_edfi_json(
    config: DistrictConfig, name: str, settings: RecipientSettings, con: duckdb.DuckDBPyConnection, moment: datetime
) -> StagedExtract:
    documents = _documents(con, settings)
    folder = config.delivery_folder(settings)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{name}_edfi_{moment:%Y%m%dT%H%M%S}Z.zip"
    temporary = _temporary(final)
    counts = write_json_bundle(temporary, documents)
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
    staged.checks = [_documents_check(documents)]
    return staged


def write_json_bundle(path, documents: list[tuple[str, dict[str, Any]]]) -> dict[str, int]:
    """One JSON-lines file per resource (`students.jsonl`), in dependency order."""
    by_resource: dict[str, list[str]] = {}
    for resource, document in documents:
        by_resource.setdefault(resource, []).append(json.dumps(document, separators=(",", ":")))
    counts = {}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for resource in RESOURCES:
            if resource in by_resource:
                zf.writestr(f"{resource}.jsonl", "\n".join(by_resource[resource]) + "\n")
                counts[f"{resource}.jsonl"] = len(by_resource[resource])
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
    documents = _documents(con, settings)
    path = state_path(config.data_dir, name, "edfi_api")
    previous = load_state(path) or {}
    to_send, current, unchanged = edfi_writer.plan_load(documents, previous)
    staged = StagedExtract(
        recipient=name,
        settings=settings,
        data_dir=config.data_dir,
        mode="delta" if previous else "bulk",
        moment=moment,
        destination=config.recipient_base_url(name, settings),
        state_kind="edfi_api",
        metadata={"records": len(documents), "to_send": len(to_send), "unchanged": unchanged},
    )
    staged.checks = [_documents_check(documents)]

    def send():
        client = api_client(config, name, settings)
        try:
            results = edfi_writer.load(client, to_send, max_parallel=settings.max_parallel_requests)
        finally:
            client.close()
        results_path = publish_dir(config.data_dir) / "results" / name / f"{staged.delivery_id}.csv"
        edfi_writer.write_results(results_path, results)
        sent = Counter(r.resource for r in results)
        failed = Counter(r.resource for r in results if r.outcome == "failed")
        entries = [AuditEntry(resource, sent[resource] - failed[resource]) for resource in RESOURCES if sent[resource]]
        check = CheckOutcome(
            "no_failed_records",
            not failed,
            "The ODS/API accepted every record sent.",
            f"{sum(failed.values())} records failed; see {results_path}" if failed else "",
            {"failed": dict(failed), "results_file": str(results_path)},
        )
        metadata = {
            "sent": sum(sent.values()),
            "failed": sum(failed.values()),
            "requests": client.requests,
            "retries": client.retries,
            "results_file": str(results_path),
        }
        return edfi_writer.state_after(to_send, results, current, previous), entries, [check], metadata

    staged.send = send
    return staged
