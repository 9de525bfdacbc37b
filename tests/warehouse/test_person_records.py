"""Identity's person records: one per source system and ID, even where two SIS schools share a
name (a large district has several "Lincoln Elementary"). Vendor files and the Ed-Fi ODS name a
student's school by name; a shared name matches no school rather than two."""

from __future__ import annotations

import shutil

import duckdb

from interop_pipeline.transform import dbt as warehouse_dbt
from tests.district_build import run_dbt


def test_two_schools_of_one_name_give_no_student_two_records(built_district, tmp_path, monkeypatch):
    copy = tmp_path / "build.duckdb"
    shutil.copyfile(built_district.warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        first, second = con.execute(
            "select org_sourced_id, org_name from int_sis__orgs where org_type = 'school' order by 1 limit 2"
        ).fetchall()
        # A view in the warehouse: kept as a table here so the second school can take the name.
        con.execute("create table orgs as select * from int_sis__orgs")
        con.execute("drop view int_sis__orgs")
        con.execute("create table int_sis__orgs as select * from orgs")
        con.execute("update int_sis__orgs set org_name = ? where org_sourced_id = ?", [first[1], second[0]])
    environment = warehouse_dbt.dbt_environment
    monkeypatch.setattr(
        warehouse_dbt, "dbt_environment", lambda config: {**environment(config), "INTEROP_WAREHOUSE_PATH": str(copy)}
    )
    run = run_dbt(built_district.config, tmp_path / "target", "run", "--select", "int_person_records__students")
    assert run.returncode == 0, run.stdout[-3000:]
    with duckdb.connect(str(copy), read_only=True) as con:
        counts = con.execute(
            "select source_system, count(*), count(distinct source_id) from int_person_records__students group by 1"
        ).fetchall()
        named = con.execute(
            "select count(*) from int_person_records__students where source_system = 'edfi' and school_id in (?, ?)",
            [first[0], second[0]],
        ).fetchone()[0]
    assert counts and all(records == ids for _, records, ids in counts), counts
    assert named == 0  # matched by a name two schools share: no school, rather than two
