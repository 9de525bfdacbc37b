"""Any set of systems builds, tests and releases: a district configures only some of the
sources the project knows, and every model still builds (those of sources it does not use
empty), every blocking dbt test passes, the release publishes the warehouse, and the
data-quality mart says which sources are configured and which are not.

Each case is a small generated district whose config names only that case's sources: the SIS
alone (by file drop, then by its REST API alone), then the SIS bundle with each other source on
its own. (Every source together is the end-to-end tests' demo district.)"""

from __future__ import annotations

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml

from interop_pipeline.assets.release import publish_warehouse
from interop_pipeline.config import ApiSource, load_config
from interop_pipeline.simulators.generate import write_district
from interop_pipeline.transform.placeholders import source_names
from tests.conftest import write_config
from tests.district_build import DBT_PROJECT_DIR, build_warehouse, land_everything, walk_api_sources

STUDENTS = 40
OTHER_SOURCES = ("nwea_map", "iready", "sis_attendance", "state_assessment", "edfi", "canvas", "google_classroom")
CASES = [("oneroster_csv",), ("oneroster_api",), *(("oneroster_csv", other) for other in OTHER_SOURCES)]


def district_with(folder, sources: tuple[str, ...]):
    path = write_config(folder, students=STUDENTS, seed=7)
    raw = yaml.safe_load(path.read_text())
    raw["sources"] = {name: raw["sources"][name] for name in sources}
    raw["recipients"] = {}
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


@pytest.mark.parametrize("sources", CASES, ids=["+".join(case) for case in CASES])
def test_a_district_with_only_these_sources_builds_tests_and_releases(tmp_path, sources):
    config = district_with(tmp_path, sources)
    write_district(config, students=STUDENTS, seed=7)
    land_everything(config)
    walk_api_sources(config, tuple(n for n, s in config.enabled_sources().items() if isinstance(s, ApiSource)))
    # One dbt build, every model and test (identity resolution between the two dbt steps is the
    # end-to-end tests' part; here the crosswalk is empty): fails on any blocking test.
    build_warehouse(config, tmp_path / "dbt_target", identity=False)
    counts = publish_warehouse(config.build_warehouse_path, config.published_warehouse_path, "matrix")

    assert counts["dim_student"] == pq.read_metadata(config.truth_dir / "students.parquet").num_rows
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        status = dict(con.execute("select distinct source_system, source_status from mart_data_quality").fetchall())
        staged = {
            table: con.execute(f"select count(*) from staging.{table}").fetchone()[0]
            for (table,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'staging'"
            ).fetchall()
        }
    known = set(source_names(DBT_PROJECT_DIR / "models"))
    assert status == {name: "current" if name in sources else "not_configured" for name in known}
    for name in known:
        rows = sum(n for table, n in staged.items() if table.startswith(f"stg_{name}__"))
        if name in sources:
            assert rows > 0, f"{name} is configured but staged nothing"
        else:
            assert rows == 0, f"{name} is not configured but staged {rows} rows"
