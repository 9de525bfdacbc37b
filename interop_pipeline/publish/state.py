"""Per-recipient delivery state: a content hash of every record last delivered successfully.

Kept under <data_dir>/publish/state/<recipient>/<kind>.parquet (file or resource, record id,
hash). It is replaced atomically and only after a delivery succeeded, so a failed or refused
delivery leaves the next delta computed against what the recipient really holds.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

StateKey = tuple[str, str]  # (file or resource, record id)


def restrict_to_owner(path: Path) -> None:
    """Student data is readable by the pipeline's own user only: files 0600, their folder 0700."""
    os.chmod(path, 0o600)
    os.chmod(path.parent, 0o700)


_SCHEMA = pa.schema([("part", pa.string()), ("record_id", pa.string()), ("content_hash", pa.string())])


def publish_dir(data_dir: Path) -> Path:
    return data_dir / "publish"


def state_path(data_dir: Path, recipient: str, kind: str) -> Path:
    return publish_dir(data_dir) / "state" / recipient / f"{kind}.parquet"


# One encoder for every record: json.dumps with options builds a new one per call.
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def canonical_json(record: Mapping[str, Any]) -> str:
    """The record as JSON, the same text every run: keys sorted, dates as ISO text."""
    return _CANONICAL.encode(record)


def content_hash(record: Mapping[str, Any]) -> str:
    return text_hash(canonical_json(record))


def text_hash(text: str) -> str:
    """The content hash of a record's canonical_json."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def load_state(path: Path) -> dict[StateKey, str] | None:
    """None when nothing was ever delivered."""
    if not path.exists():
        return None
    table = pq.read_table(path)
    return dict(
        zip(
            zip(table["part"].to_pylist(), table["record_id"].to_pylist(), strict=True),
            table["content_hash"].to_pylist(),
            strict=True,
        )
    )


def save_state(path: Path, state: Mapping[StateKey, str | None]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(state)
    table = pa.table(
        {
            "part": [k[0] for k in keys],
            "record_id": [k[1] for k in keys],
            "content_hash": [state[k] for k in keys],
        },
        schema=_SCHEMA,
    )
    partial = path.with_name(f".{path.name}.partial")
    pq.write_table(table, partial)
    os.replace(partial, path)
