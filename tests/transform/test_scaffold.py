"""Staging models scaffolded from declarations: the demo's is the committed one, and a
scaffolded snapshot model builds with real dbt over real landed files."""

from __future__ import annotations

import os
import shutil
import subprocess

import duckdb

from interop_pipeline.config import DEFAULT_CONFIG_PATH, load_config
from interop_pipeline.connectors.tabular import builtin_declarations, land_vendor_file, load_declaration
from interop_pipeline.transform.dbt import DBT_PROJECT_DIR
from interop_pipeline.transform.dbt_command import DBT_COMMAND
from interop_pipeline.transform.scaffold import scaffold_staging, staging_sql

ROSTER = """name: vendor_roster
system: reading_app
entity: roster
description: A reading app's student roster, the whole current roster in every file.
file_pattern: ["roster_*.csv"]
mode: snapshot
fields:
  - {name: student_id, columns: [Student ID, StudentID], required: true, not_null: true, personal: true}
  - {name: grade, columns: Grade, type: integer}
  - {name: active, columns: Active, type: boolean, true_values: ["Y"], false_values: ["N"]}
"""


def test_every_committed_declared_staging_model_is_what_the_scaffold_writes():
    """A vendor file's staging is generated, never hand-written: every committed
    stg_<system>__<entity>.sql of a declaration with a conformance section equals what the
    declaration generates. (The SIS attendance export's staging conforms its codes by hand.)"""
    config = load_config(DEFAULT_CONFIG_PATH)
    (state_declaration,) = config.declaration_paths(config.sources["state_assessment"])
    declarations = [*builtin_declarations().values(), load_declaration(state_declaration)]
    compared = 0
    for declaration in (d for d in declarations if d.conformance is not None):
        system, entity = declaration.system, declaration.entity
        committed = DBT_PROJECT_DIR / f"models/staging/{system}/stg_{system}__{entity}.sql"
        if committed.exists():
            assert committed.read_text() == staging_sql(declaration), committed
            compared += 1
    assert compared == 6  # MAP's three files, i-Ready's two, the state's one


def test_a_scaffolded_snapshot_model_builds_and_keeps_only_the_newest_file(tmp_path):
    declaration_path = tmp_path / "roster.yaml"
    declaration_path.write_text(ROSTER)
    declaration = load_declaration(declaration_path)
    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs"))
    written = scaffold_staging("reading_app", "Reading app", [declaration], project / "models")
    assert {p.name for p in written} == {"_reading_app__sources.yml", "stg_reading_app__roster.sql"}

    landing = tmp_path / "landing"
    for name, body in [
        ("roster_1.csv", "Student ID,Grade,Active\n001,3,Y\n002,4,Y\n"),
        ("roster_2.csv", "Student ID,Grade,Active\n001,3,N\n"),
    ]:
        (tmp_path / name).write_text(body)
        land_vendor_file(tmp_path / name, [declaration], landing, district_code="d", max_uncompressed_bytes=2**20)

    warehouse = tmp_path / "warehouse.duckdb"
    dbt = DBT_COMMAND
    env = {**os.environ, "INTEROP_LANDING_DIR": str(landing), "INTEROP_WAREHOUSE_PATH": str(warehouse)}
    result = subprocess.run(
        [
            str(dbt),
            "build",
            "--select",
            "stg_reading_app__roster",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
        ],
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select student_id, grade, active from staging.stg_reading_app__roster").fetchall()
    assert rows == [("001", 3, False)]  # the second file is the whole roster now
