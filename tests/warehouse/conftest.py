"""A small generated district landed by the real connectors and built by a real dbt run, shared
by the warehouse tests (one build per session: dbt is the slow part)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.assets.extract.file_drops import land_file, source_declarations
from interop_pipeline.assets.extract.sis_roster import land_bundle
from interop_pipeline.config import PROJECT_ROOT, DistrictConfig, FileDropSource, OneRosterCsvSource, load_config
from interop_pipeline.connectors.landing import pending_files
from interop_pipeline.simulators.generate import write_district
from tests.conftest import write_config

DBT = Path(sys.executable).parent / "dbt"
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"  # as transform/dbt.py has it, without importing Dagster
STUDENTS = 300
SEED = 5
# The conformed warehouse and analytics marts with everything upstream of them (and their tests):
# sources other work adds to the project are built by their own tests.
WAREHOUSE_SELECTION = [
    "+mart_chronic_absenteeism",
    "+mart_early_warning",
    "+mart_school_ada_adm",
    "+mart_data_quality",
    "+dim_student_history",
    "+fct_program_participation",
    "+fct_staff_section_assignment",
    "+fct_section_enrollment",
    "+dim_district",
    "+dim_session",
]


@dataclass
class BuiltDistrict:
    config: DistrictConfig
    warehouse: Path
    target: Path

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


def land_everything(config: DistrictConfig) -> None:
    """Land every file drop of every enabled source, in delivery order, as the landing assets do
    (REST sources are not part of these marts yet)."""
    for name, source in config.enabled_sources().items():
        if not isinstance(source, OneRosterCsvSource | FileDropSource):
            continue
        declarations = source_declarations(config, name, source) if isinstance(source, FileDropSource) else None
        for path in pending_files(config.drop_folder(source), source.file_pattern, config.landing_dir, name):
            if declarations is not None:
                land_file(config, source, declarations, path)
            else:
                land_bundle(config, name, source, path)


def run_dbt(config: DistrictConfig, target: Path, *args: str) -> subprocess.CompletedProcess:
    from interop_pipeline.transform.dbt import dbt_environment, dbt_vars

    command = [
        str(DBT),
        *args,
        "--vars",
        json.dumps(dbt_vars(config)),
        "--target-path",
        str(target),
        "--log-path",
        str(target / "logs"),
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROJECT_DIR),
    ]
    env = {**os.environ, **dbt_environment(config)}
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=600)


@pytest.fixture(scope="session")
def built_district(tmp_path_factory: pytest.TempPathFactory) -> BuiltDistrict:
    folder = tmp_path_factory.mktemp("warehouse_district")
    config = load_config(write_config(folder, students=STUDENTS, seed=SEED))
    write_district(config, students=STUDENTS, seed=SEED)
    land_everything(config)
    config.build_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    target = folder / "dbt_target"
    run = run_dbt(config, target, "build", "--select", *WAREHOUSE_SELECTION, "--indirect-selection", "cautious")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    return BuiltDistrict(config=config, warehouse=config.build_warehouse_path, target=target)
