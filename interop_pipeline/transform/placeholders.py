"""Zero-row landing files for REST sources not walked yet (plain Python: no Dagster, no dbt).

A staging model reads its source's landing folder; before a system's first walk, or in a district
that does not use it, the folder is empty and the model would fail. Every dbt source whose meta
says `landing_format: api_records` gets a zero-row file per table in the shape every API entity
lands in, so the warehouse builds, with those tables empty. Zero rows change no result.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from interop_pipeline.connectors.api_landing import API_RECORD_COLUMNS
from interop_pipeline.connectors.landing import BATCHES_DIR, REJECTS_DIR, ensure_placeholders


def api_source_tables(models_dir: Path) -> dict[str, list[str]]:
    """dbt source name → the landing folders (identifiers) of its entity tables."""
    tables: dict[str, list[str]] = {}
    for path in sorted(models_dir.glob("staging/*/_*__sources.yml")):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            if (source.get("meta") or {}).get("landing_format") != "api_records":
                continue
            identifiers = [t.get("identifier") or t["name"] for t in source.get("tables", [])]
            tables[source["name"]] = [i for i in identifiers if i not in (BATCHES_DIR, REJECTS_DIR)]
    return tables


def ensure_api_source_placeholders(landing_root: Path, models_dir: Path) -> None:
    for source_name, identifiers in api_source_tables(models_dir).items():
        ensure_placeholders(landing_root, source_name, {entity: API_RECORD_COLUMNS for entity in identifiers})
