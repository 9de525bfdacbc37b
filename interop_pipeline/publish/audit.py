"""publish_audit_log: what was sent to whom, when, in which format, bulk or delta, with row
counts and a SHA-256 per file.

One Parquet file per delivery under <data_dir>/publish/audit_log/ (append-only, never edited),
so dbt can read the folder as a source (`read_parquet('<data_dir>/publish/audit_log/*.parquet')`)
and a release can ship it without DuckDB. Refused deliveries are logged too, with their status.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from interop_pipeline.publish.state import publish_dir

SCHEMA = pa.schema(
    [
        ("delivery_id", pa.string()),
        ("recipient", pa.string()),
        ("format", pa.string()),
        ("mode", pa.string()),  # bulk | delta
        # delivered | refused | partial (records failed at the API or refused) | interrupted (the
        # process stopped mid-load: file_name `<resource>:<outcome>` says what the other side answered)
        ("status", pa.string()),
        ("delivered_at", pa.timestamp("ms", tz="UTC")),
        ("destination", pa.string()),  # delivered file or API base URL
        # a file in the delivery, an Ed-Fi resource, or an outcome count (`students:deleted`,
        # `students:refused`: records deleted from, or left out of, the recipient's data)
        ("file_name", pa.string()),
        ("row_count", pa.int64()),
        ("file_sha256", pa.string()),
    ]
)


@dataclass(frozen=True)
class AuditEntry:
    file_name: str
    row_count: int
    file_sha256: str | None = None


def audit_dir(data_dir: Path) -> Path:
    return publish_dir(data_dir) / "audit_log"


def sha256_of(path: Path) -> str:
    with path.open("rb") as f:
        return sha256_stream(f)


def sha256_stream(handle: BinaryIO) -> str:
    """The SHA-256 of what is left to read in `handle`, read a MiB at a time."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_audit(
    data_dir: Path,
    *,
    delivery_id: str,
    recipient: str,
    format: str,
    mode: str,
    status: str,
    delivered_at: datetime,
    destination: str,
    entries: list[AuditEntry],
) -> Path:
    folder = audit_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    n = len(entries)
    table = pa.table(
        {
            "delivery_id": [delivery_id] * n,
            "recipient": [recipient] * n,
            "format": [format] * n,
            "mode": [mode] * n,
            "status": [status] * n,
            "delivered_at": [delivered_at] * n,
            "destination": [destination] * n,
            "file_name": [e.file_name for e in entries],
            "row_count": [e.row_count for e in entries],
            "file_sha256": [e.file_sha256 for e in entries],
        },
        schema=SCHEMA,
    )
    path = folder / f"{delivery_id}.parquet"
    partial = folder / f".{delivery_id}.parquet.partial"
    pq.write_table(table, partial)
    os.replace(partial, path)
    return path


def read_audit_log(data_dir: Path) -> pa.Table:
    files = sorted(audit_dir(data_dir).glob("*.parquet"))
    if not files:
        return SCHEMA.empty_table()
    return pa.concat_tables([pq.read_table(f, schema=SCHEMA) for f in files])


# -- deliveries cut off mid-send ----------------------------------------------------------------
def in_progress_dir(data_dir: Path) -> Path:
    return publish_dir(data_dir) / "in_progress"


def mark_in_progress(data_dir: Path, *, results_file: Path | None, **fields: str) -> Path:
    """Before an API load starts sending: what a later start needs to record it as interrupted,
    should this process die before the load ends (fields: delivery_id, recipient, format, mode,
    destination, delivered_at)."""
    folder = in_progress_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / f"{fields['delivery_id']}.json"
    partial = folder / f".{marker.name}.partial"
    partial.write_text(json.dumps({**fields, "results_file": str(results_file) if results_file else None}))
    os.replace(partial, marker)
    return marker


def record_interrupted(data_dir: Path, marker: Path) -> str:
    """The audit row of a load that did not finish: status `interrupted`, and per resource what
    the other side answered before it stopped (its results file so far: `<resource>:<outcome>`
    counts), so the next load and a person reading the log know what the ODS may hold. Removes
    the marker; returns a line saying what was recorded (no record key)."""
    fields = json.loads(marker.read_text())
    answered: Counter[str] = Counter()
    results = Path(fields["results_file"]) if fields.get("results_file") else None
    if results is not None and results.exists():
        with results.open(newline="", encoding="utf-8", errors="replace") as f:
            for row in csv.DictReader(f):
                if row.get("resource") and row.get("outcome"):
                    answered[f"{row['resource']}:{row['outcome']}"] += 1
    entries = [AuditEntry(name, n) for name, n in sorted(answered.items())] or [AuditEntry("no answer recorded", 0)]
    write_audit(
        data_dir,
        delivery_id=fields["delivery_id"],
        recipient=fields["recipient"],
        format=fields["format"],
        mode=fields["mode"],
        status="interrupted",
        delivered_at=datetime.fromisoformat(fields["delivered_at"]),
        destination=fields["destination"],
        entries=entries,
    )
    marker.unlink()
    reached = sum(n for name, n in answered.items() if not name.endswith((":failed", ":refused")))
    return (
        f"Recorded delivery {fields['delivery_id']} as interrupted: {reached:,} records had reached "
        f"{fields['recipient']} before it stopped (audit log; they are sent again, as upserts, next time)"
    )
