"""A small generated district landed by the real connectors and built by a real dbt run, shared
by the warehouse tests (one build per session: dbt is the slow part). The file drops land as the
landing assets land them; the LMSs and the Ed-Fi ODS are walked from their simulators on
127.0.0.1; identity resolution runs between the two dbt steps, as in the pipeline."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.config import (
    DistrictConfig,
    load_config,
)
from interop_pipeline.simulators.generate import write_district
from tests.conftest import write_config
from tests.district_build import land_everything, prepare_build, resolve_identities, run_dbt, walk_api_sources

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
    "+mart_assessment_proficiency",
    "+fct_course_grade",
    "+fct_lms_submission",
    "+dim_lms_assignment",
    "+dim_assessment",
]
# REST sources walked from their simulators: the LMSs and Ed-Fi (the SIS's OneRoster API serves
# what its CSV bundle holds, and the bundle comes first in sis_channel_precedence).
WALKED_API_SOURCES = ("canvas", "google_classroom", "edfi")
BEFORE_IDENTITY = ["+int_person_records__students", "+int_person_records__staff", "+dim_student", "+dim_staff"]


@dataclass
class BuiltDistrict:
    config: DistrictConfig
    warehouse: Path
    target: Path

    def rows(self, sql: str, params: list | None = None) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as con:
            return con.execute(sql, params or []).fetchall()


@pytest.fixture(scope="session")
def built_district(tmp_path_factory: pytest.TempPathFactory) -> BuiltDistrict:
    folder = tmp_path_factory.mktemp("warehouse_district")
    config = load_config(write_config(folder, students=STUDENTS, seed=SEED))
    write_district(config, students=STUDENTS, seed=SEED)
    land_everything(config)
    walk_api_sources(config, WALKED_API_SOURCES)
    target = folder / "dbt_target"
    prepare_build(config)
    run = run_dbt(config, target, "build", "--select", *BEFORE_IDENTITY, "--indirect-selection", "cautious")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    resolve_identities(config)
    run = run_dbt(config, target, "build", "--select", *WAREHOUSE_SELECTION, "--indirect-selection", "cautious")
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    return BuiltDistrict(config=config, warehouse=config.build_warehouse_path, target=target)
