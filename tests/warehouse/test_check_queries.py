"""The query each dbt check's description offers to list its failing rows runs as written on a
built warehouse, and finds nothing where the check passed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.transform.descriptions import check_description, relation_schemas


def test_every_check_query_runs_and_finds_no_row_where_the_check_passed(built_district):
    manifest = json.loads((built_district.target / "manifest.json").read_text())
    results = json.loads((built_district.target / "run_results.json").read_text())
    passed = {r["unique_id"] for r in results["results"] if r["status"] == "pass"}
    schemas = relation_schemas(manifest)
    tried = 0
    with duckdb.connect(str(built_district.warehouse), read_only=True) as con:
        for unique_id in sorted(passed):
            test = manifest["nodes"].get(unique_id)
            if test is None or test["resource_type"] != "test":
                continue
            query = re.search(r"The failing rows: `([^`]+)`", check_description(test, schemas))
            if not query:
                continue
            rows = con.execute(query.group(1)).fetchall()
            name = (test.get("test_metadata") or {}).get("name")
            if name != "accepted_values":  # lists every value found, not only the failing ones
                assert rows == [], (test["name"], query.group(1))
            tried += 1
    assert tried > 100


@pytest.mark.parametrize("model, grain", [("dim_student", False), ("fct_school_enrollment", True)])
def test_a_key_check_returns_each_missing_and_each_repeated_key_and_nothing_else(built_district, model, grain):
    """The primary_key test (of a column, or of a grain of several) as dbt compiled it for the
    build, run on rows with a repeated key, a key missing one column or all of them, and good keys:
    one failing row per bad key."""
    manifest = json.loads((built_district.target / "manifest.json").read_text())
    (check,) = [
        Path(node["path"]).name
        for node in manifest["nodes"].values()
        if (node.get("test_metadata") or {}).get("name") == "primary_key"
        and node["attached_node"] == f"model.interop_warehouse.{model}"
        and bool(node["test_metadata"]["kwargs"].get("columns")) == grain
    ]
    (compiled,) = built_district.target.glob(f"compiled/**/{check}")
    sql = compiled.read_text()
    relation = re.search(r"from (\S+)", sql).group(1)
    key = [c.strip() for c in re.search(r"group by (.+)", sql).group(1).split(",")]
    good, repeated, missing_all = ["a"] * len(key), ["b"] * len(key), [None] * len(key)
    missing_last = [*["c"] * (len(key) - 1), None]  # only part of the key missing (for a grain)
    rows = [good, repeated, repeated, missing_all, ["d"] * len(key), *([missing_last] if len(key) > 1 else [])]
    with duckdb.connect() as con:
        con.execute("attach ':memory:' as build")
        con.execute(f"create table {relation} ({', '.join(f'{c} varchar' for c in key)})")
        con.executemany(f"insert into {relation} values ({', '.join('?' * len(key))})", rows)
        failing = sorted(con.execute(sql).fetchall(), key=str)
    expected = [(*repeated, 2), (*missing_all, 1), *([(*missing_last, 1)] if len(key) > 1 else [])]
    assert failing == sorted(expected, key=str)
