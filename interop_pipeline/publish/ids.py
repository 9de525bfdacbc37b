"""Identifiers in published extracts.

sourcedIds are the warehouse's surrogate keys (md5 of the district code, system of record and
that system's id) under a short prefix per entity: stable across runs and deliveries, and built
from no name, birth date, email or student number. Research extracts get keyed HMACs instead
(research.py), which no one without the recipient's secret can link back.
"""

from __future__ import annotations

PREFIXES = {
    "district": "dst",
    "school": "sch",
    "session": "ses",
    "course": "crs",
    "section": "cls",
    "student": "stu",
    "staff": "stf",
    "role": "rol",
    "enrollment": "enr",
}


def sourced_id(entity: str, key: str | None) -> str:
    """`key` is a warehouse surrogate key (32 hex characters)."""
    if not key:
        return ""
    return f"{PREFIXES[entity]}-{key}"
