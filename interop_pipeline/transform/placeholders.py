"""Zero-row landing files for every dbt source with nothing landed (plain Python: no Dagster, no dbt).

A staging model reads its source's landing folder. A district uses only some of the systems the
project knows, and a source it uses has nothing landed before its first delivery or walk; either
way the folder would be empty and the model would fail. Every dbt source therefore gets, per
table, a zero-row file in the shape its connector lands, so the warehouse builds with those
tables empty (zero rows change no result) and `mart_data_quality` says the source is not
configured or has delivered nothing yet. The shape comes from the source's `landing_format`
meta in its `_<source>__sources.yml`:

- `api_records`: the one shape of every REST entity (connectors/api_landing.py);
- `oneroster_csv`: the OneRoster connector's canonical columns per entity;
- `conformed`: the conformed tables every declared file's conformance lands (conformance.py);
- `declared_files`: the columns of the declarations landing into that system (built-in formats
  and the district's own), else the table's `columns:` in the sources YAML.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterable
from pathlib import Path

import yaml

from interop_pipeline.connectors.api_landing import API_RECORD_COLUMNS
from interop_pipeline.connectors.conformance import CONFORMED_COLUMNS
from interop_pipeline.connectors.landing import (
    BATCHES_DIR,
    BOOKKEEPING_DIRS,
    PLACEHOLDER_NAME,
    ensure_placeholders,
)
from interop_pipeline.connectors.oneroster_csv import CANONICAL_COLUMNS, DEFAULT_EXTENSION_COLUMNS
from interop_pipeline.connectors.tabular import FileDeclaration, builtin_declarations


class PlaceholderError(ValueError):
    """A dbt source whose landed shape cannot be known."""


def dbt_sources(models_dir: Path) -> list[tuple[Path, dict]]:
    """Every landed dbt source (file, source properties) of the staging layer."""
    found = []
    for path in sorted(models_dir.glob("staging/*/_*__sources.yml")):
        for source in (yaml.safe_load(path.read_text()) or {}).get("sources", []):
            found.append((path, source))
    return found


def source_names(models_dir: Path) -> list[str]:
    """The source systems with a dbt source of their own (not the cross-system conformed one)."""
    return [
        source["name"]
        for _, source in dbt_sources(models_dir)
        if (source.get("meta") or {}).get("landing_format") != "conformed"
    ]


def _entity_tables(source: dict) -> list[dict]:
    return [t for t in source.get("tables", []) if (t.get("identifier") or t["name"]) not in BOOKKEEPING_DIRS]


def _declared_columns(path: Path, source: dict, declarations: Iterable[FileDeclaration]) -> dict[str, list[str]]:
    known = {d.entity: d.output_columns for d in declarations if d.system == source["name"]}
    columns = {}
    for table in _entity_tables(source):
        entity = table.get("identifier") or table["name"]
        listed = [c["name"] for c in table.get("columns") or []]
        if entity not in known and not listed:
            raise PlaceholderError(
                f"{path}: source {source['name']} table {entity}: no declaration lands it and the table "
                "lists no columns; list its landed columns under `columns:` (scaffold-staging writes them)"
            )
        columns[entity] = known.get(entity, listed)
    return columns


def source_columns(
    path: Path, source: dict, declarations: Iterable[FileDeclaration] = ()
) -> dict[str, list[str]] | None:
    """Entity folder → landed data columns of one dbt source; None if it is not a landing source."""
    landing_format = (source.get("meta") or {}).get("landing_format")
    if landing_format == "api_records":
        return {t.get("identifier") or t["name"]: API_RECORD_COLUMNS for t in _entity_tables(source)}
    if landing_format == "oneroster_csv":
        return {
            entity: [*CANONICAL_COLUMNS[entity], *DEFAULT_EXTENSION_COLUMNS.get(entity, [])]
            for entity in (t.get("identifier") or t["name"] for t in _entity_tables(source))
        }
    if landing_format == "conformed":
        return {entity: columns for entity, columns in CONFORMED_COLUMNS.items()}
    if landing_format == "declared_files":
        return _declared_columns(path, source, [*builtin_declarations().values(), *declarations])
    return None


def ensure_source_placeholders(
    landing_root: Path, models_dir: Path, declarations: Iterable[FileDeclaration] = ()
) -> list[str]:
    """Zero-row files for every table of every landed dbt source that has none yet; returns the
    sources that have no committed batch at all (empty in this build). `declarations` adds the
    district's own declared files to the built-in formats."""
    declarations = list(declarations)
    empty = []
    for path, source in dbt_sources(models_dir):
        columns = source_columns(path, source, declarations)
        if columns is None:
            continue
        ensure_placeholders(landing_root, source["name"], columns)
        batches = Path(landing_root) / source["name"] / BATCHES_DIR
        if not any(p for p in batches.glob("*.parquet") if not p.name.startswith("_")):
            empty.append(source["name"])
    return empty


def spark_placeholders(landing_dir: Path, spark_dir: Path) -> int:
    """Copies of the zero-row files for the `spark` target, which skips files whose names start
    with an underscore: each as empty.parquet in the same relative folder under
    <spark_dir>/landing_placeholders (macros/spark_sources.sql reads them there). Returns how many."""
    copied = 0
    for placeholder in Path(landing_dir).rglob(PLACEHOLDER_NAME):
        copy = Path(spark_dir) / "landing_placeholders" / placeholder.parent.relative_to(landing_dir) / "empty.parquet"
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(placeholder, copy)
        copied += 1
    return copied


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=spark_placeholders.__doc__.split(":")[0])
    parser.add_argument("landing_dir", type=Path)
    parser.add_argument("spark_dir", type=Path)
    arguments = parser.parse_args()
    count = spark_placeholders(arguments.landing_dir, arguments.spark_dir)
    print(f"{count} zero-row files copied under {arguments.spark_dir / 'landing_placeholders'}")
