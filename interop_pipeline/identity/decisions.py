"""Reviewed decisions: a CSV in the district's config folder, honoured on every run.

One row per reviewed pair: `source_system,source_id,person_key,decision[,reviewer,decided_on,note]`
with decision `accept` or `reject`. An accepted pair links the record to that person whatever the
rules and the model say; a rejected pair is never linked again, by any pass. A later row for the
same pair replaces an earlier one, so a reviewer corrects a decision by appending.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

DECISION_COLUMNS = ("source_system", "source_id", "person_key", "decision", "reviewer", "decided_on", "note")
DECISIONS = ("accept", "reject")


class DecisionFileError(ValueError):
    """The reviewed-decisions file cannot be used as it is."""


@dataclass(frozen=True)
class Decision:
    source_system: str
    source_id: str
    person_key: str
    decision: str


def read_decisions(path: Path | None) -> list[Decision]:
    """The decisions in effect (last one per pair); a missing file means none yet."""
    if path is None or not path.exists():
        return []
    latest: dict[tuple[str, str, str], Decision] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        required = {"source_system", "source_id", "person_key", "decision"}
        if not required <= set(reader.fieldnames or []):
            raise DecisionFileError(f"{path}: header must include {', '.join(sorted(required))}")
        for line, row in enumerate(reader, start=2):
            decision = (row["decision"] or "").strip().lower()
            if decision not in DECISIONS:
                raise DecisionFileError(f"{path}:{line}: decision must be accept or reject")
            key = (row["source_system"].strip(), row["source_id"].strip(), row["person_key"].strip())
            if not all(key):
                raise DecisionFileError(f"{path}:{line}: source_system, source_id and person_key are required")
            latest[key] = Decision(*key, decision)
    return list(latest.values())


def decisions_table(decisions: list[Decision]) -> pa.Table:
    return pa.table(
        {
            "source_system": pa.array([d.source_system for d in decisions], pa.string()),
            "source_id": pa.array([d.source_id for d in decisions], pa.string()),
            "person_key": pa.array([d.person_key for d in decisions], pa.string()),
            "decision": pa.array([d.decision for d in decisions], pa.string()),
        }
    )


def append_decision(path: Path, decision: Decision, reviewer: str = "", decided_on: str = "", note: str = "") -> None:
    """Record a reviewer's decision (the file is created with its header when missing)."""
    new = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        if new:
            writer.writerow(DECISION_COLUMNS)
        writer.writerow(
            [
                decision.source_system,
                decision.source_id,
                decision.person_key,
                decision.decision,
                reviewer,
                decided_on,
                note,
            ]
        )
