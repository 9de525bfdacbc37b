"""publish_audit_log: what was sent to whom, when, in which format, bulk or delta, with row
counts and a SHA-256 per file.

One Parquet file per delivery under <data_dir>/publish/audit_log/ (append-only, never edited),
so dbt can read the folder as a source (`read_parquet('<data_dir>/publish/audit_log/*.parquet')`)
and a release can ship it without DuckDB. Refused deliveries are logged too, with their status.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from interop_pipeline.publish.state import publish_dir

SCHEMA = pa.schema(
    [
        ("delivery_id", pa.string()),
        ("recipient", pa.string()),
        ("format", pa.string()),
        ("mode", pa.string()),  # bulk | delta
        ("status", pa.string()),  # delivered | refused | partial (records failed at the API or refused)
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
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
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
