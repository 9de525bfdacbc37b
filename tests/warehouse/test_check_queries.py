"""The query each dbt check's description offers to list its failing rows runs as written on a
built warehouse, and finds nothing where the check passed."""

from __future__ import annotations

import json
import re

import duckdb

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
