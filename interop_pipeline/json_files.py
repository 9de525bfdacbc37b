"""Small JSON records the pipeline keeps beside its data (build record, table versions, extract
digests): written whole or not at all, read as None when missing or unreadable."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path


def read_json_record(path: Path) -> dict | None:
    """The object in `path`, or None when there is none readable."""
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_json_record(path: Path, record: Mapping) -> None:
    """Write `record` to `path` through a staged file renamed into place: a reader never sees
    half of it, and a crash leaves the previous one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.partial")
    staged.write_text(json.dumps(record, sort_keys=True, indent=1))
    os.replace(staged, path)
