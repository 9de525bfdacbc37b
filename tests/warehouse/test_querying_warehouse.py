"""The README's analyst questions run against a released warehouse, and the dbt docs build
offline with every model and column described."""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from interop_pipeline.assets.release import publish_warehouse
from interop_pipeline.config import PROJECT_ROOT
from tests.district_build import run_dbt

README = PROJECT_ROOT / "README.md"
MY_MODEL_FOLDERS = (
    "models/marts/analytics/",
    "models/marts/core/",
    "models/intermediate/students/",
    "models/intermediate/codes/",
    "models/intermediate/attendance/",
)


def readme_queries() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("## Querying the warehouse", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sql\n(.*?)```", section, flags=re.S)


@pytest.fixture(scope="module")
def published(built_district, tmp_path_factory):
    path = tmp_path_factory.mktemp("published") / "warehouse.duckdb"
    publish_warehouse(built_district.warehouse, path, "test")
    return path


def test_readme_has_five_questions():
    assert len(readme_queries()) == 5


@pytest.mark.parametrize("number", range(5))
def test_readme_query_answers_on_the_published_warehouse(published, number):
    sql = readme_queries()[number]
    with duckdb.connect(str(published), read_only=True) as con:
        result = con.execute(sql)
        columns = [d[0] for d in result.description]
        rows = result.fetchall()
    assert rows, sql
    # Answers are aggregates: no student identifiers or names in any of them.
    assert not {"student_key", "first_name", "last_name", "birth_date"} & set(columns)


def test_docs_generate_offline_and_every_model_and_column_is_described(built_district):
    run = run_dbt(built_district.config, built_district.target, "docs", "generate")
    assert run.returncode == 0, run.stdout[-4000:]
    catalog = json.loads((built_district.target / "catalog.json").read_text())
    manifest = json.loads((built_district.target / "manifest.json").read_text())
    assert (built_district.target / "index.html").exists()
    undocumented = []
    for node in manifest["nodes"].values():
        if node["resource_type"] not in ("model", "snapshot"):
            continue
        if node["resource_type"] == "model" and not node["original_file_path"].startswith(MY_MODEL_FOLDERS):
            continue
        if not node["description"]:
            undocumented.append(node["name"])
        built = catalog["nodes"].get(node["unique_id"])
        if built is None:
            continue
        for column in built["columns"]:
            if node["resource_type"] == "snapshot" and column.startswith("dbt_") and column not in node["columns"]:
                continue
            described = node["columns"].get(column, {}).get("description")
            if not described and node["resource_type"] == "model":
                undocumented.append(f"{node['name']}.{column}")
    assert undocumented == []
