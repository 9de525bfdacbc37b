"""OneRoster deltas: what changed since the last successful delivery to one recipient.

A record is identified by (file, sourcedId) and compared by the hash of its content. New and
changed records go out `active`, records delivered before and gone now go out `tobedeleted`
(sourcedId only, as the binding allows), both stamped with the delivery time; unchanged
records are left out. Bulk files leave status and dateLastModified blank.
"""

from __future__ import annotations

from datetime import UTC, datetime

from interop_pipeline.publish.roster import Row
from interop_pipeline.publish.state import StateKey, content_hash


def oneroster_timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def current_state(files: dict[str, list[Row]]) -> dict[StateKey, str]:
    return {(name, row["sourcedId"]): content_hash(row) for name, rows in files.items() for row in rows}


def delta_files(
    files: dict[str, list[Row]], current: dict[StateKey, str], previous: dict[StateKey, str], moment: datetime
) -> tuple[dict[str, list[Row]], dict[str, dict[str, int]]]:
    """Rows to send per file, and per file how many were added, changed and deleted; `current`
    is the files' current_state."""
    stamp = oneroster_timestamp(moment)
    out: dict[str, list[Row]] = {}
    changes: dict[str, dict[str, int]] = {}
    for name, rows in files.items():
        counts = {"added": 0, "changed": 0, "deleted": 0}
        sent: list[Row] = []
        current_ids = set()
        for row in rows:
            current_ids.add(row["sourcedId"])
            before = previous.get((name, row["sourcedId"]))
            if before == current[(name, row["sourcedId"])]:
                continue
            counts["added" if before is None else "changed"] += 1
            sent.append({**row, "status": "active", "dateLastModified": stamp})
        for part, sourced_id in sorted(previous):
            if part == name and sourced_id not in current_ids:
                counts["deleted"] += 1
                sent.append({"sourcedId": sourced_id, "status": "tobedeleted", "dateLastModified": stamp})
        out[name] = sent
        changes[name] = counts
    return out, changes
