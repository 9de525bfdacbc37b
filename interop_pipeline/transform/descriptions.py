"""Plain words for the dbt nodes the Dagster UI shows: what a model is (its YAML description,
never its SQL) and what each dbt test checks and what to do when it fails.

dbt names a test after its arguments (`not_null_dim_student_grade_level`) and gives it no
description; the UI shows those names truncated and "No description provided". The words here
come from the test's own arguments, so a new test is described without anything to add."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REF = re.compile(r"ref\(\s*['\"]([^'\"]+)['\"]\s*\)")


def _model_name(text: str | None, schemas: Mapping[str, str] | None = None) -> str:
    """The model a test argument refers to (`ref('dim_student')`), schema-qualified outside main."""
    match = _REF.search(text or "")
    if not match:
        return text or "the model"
    name = match.group(1)
    schema = (schemas or {}).get(name, "main")
    return name if schema == "main" else f"{schema}.{name}"


def relation_schemas(manifest: Mapping[str, Any]) -> dict[str, str]:
    """Model, seed and snapshot names to the schema dbt builds them in."""
    kinds = ("model", "seed", "snapshot")
    return {n["name"]: n["schema"] for n in manifest["nodes"].values() if n["resource_type"] in kinds}


def model_description(node: Mapping[str, Any]) -> str:
    """The YAML description of a model, seed or snapshot; the file that defines it otherwise."""
    described = (node.get("description") or "").strip()
    if described:
        return described
    return f"dbt {node['resource_type']} `{node['name']}` ({node.get('original_file_path', 'no file')})."


def _what_it_checks(test: Mapping[str, Any], schemas: Mapping[str, str]) -> tuple[str, str | None]:
    """The check in words, and a query that lists what fails it (None where there is no short one)."""
    metadata = test.get("test_metadata") or {}
    kwargs = metadata.get("kwargs") or {}
    model = _model_name(kwargs.get("model"), schemas)
    where = (test.get("config") or {}).get("where")
    # A test with `where` checks only those rows (dbt's get_where_subquery): so do its queries.
    rows = f"(select * from {model} where {where})" if where else model
    column = kwargs.get("column_name")
    match metadata.get("name"):
        case "not_null":
            return f"Every row of {model} has a {column}.", f"select * from {rows} where {column} is null"
        case "unique":
            repeated = f"select {column}, count(*) from {rows} group by all having count(*) > 1"
            return f"No two rows of {model} share a {column}.", repeated
        case "primary_key":
            columns = kwargs.get("columns") or [column]  # a grain of several, or the test's column
            key, nulls = ", ".join(columns), " or ".join(f"{c} is null" for c in columns)
            bad = f"select {key}, count(*) from {rows} group by all having count(*) > 1 or {nulls}"
            return f"Every row of {model} has a ({key}), and no two rows share one: the key holds.", bad
        case "unique_combination_of_columns":
            columns = ", ".join(kwargs.get("combination_of_columns") or [])
            repeated = f"select {columns}, count(*) from {rows} group by all having count(*) > 1"
            return f"One row of {model} per ({columns}): the grain holds.", repeated
        case "relationships":
            target, field = _model_name(kwargs.get("to"), schemas), kwargs.get("field")
            orphans = f"select * from {rows} where {column} not in (select {field} from {target})"
            return f"Every {column} of {model} is a {field} of {target}.", orphans
        case "accepted_values":
            values = ", ".join(str(v) for v in kwargs.get("values") or [])
            found = f"select {column}, count(*) from {rows} group by all"
            return f"The {column} of {model} is one of: {values}.", found
        case "has_no_rows":
            which = f" where {where}" if where else ""
            return f"{model} holds no row{which}: each such row is a problem to look at.", f"select * from {rows}"
        case "complementary_suppression":
            dimensions = ", ".join(kwargs.get("dimensions") or [])
            return f"No suppressed cell of {model} can be worked out from its totals (over {dimensions}).", None
    described = (test.get("description") or "").strip()
    return described or f"The dbt test `{test['name']}` finds no failing row.", None


def check_description(test: Mapping[str, Any], schemas: Mapping[str, str]) -> str:
    """What the test checks and what to do when it fails, for the check's page in the UI.
    `schemas`: relation_schemas(manifest)."""
    blocking = (test.get("config", {}).get("severity") or "error").lower() == "error"
    checks, query = _what_it_checks(test, schemas)
    consequence = (
        "When it fails, the release is held back: analysts keep the last published warehouse."
        if blocking
        else "When it fails, the run goes on (a warning)."
    )
    look = (
        f"The failing rows: `{query}` on the build warehouse (warehouse/build.duckdb, read-only)."
        if query
        else "The run log has dbt's message and the failing rows' count."
    )
    return f"{checks} {consequence} {look} Fix the source delivery or the rule, then run again."
