"""One small district, generated, landed and built by a real dbt run, shared by every publish
test (session scope: the dbt build is the slow part). Identity resolution runs after the build and
the marts that read its crosswalk are rebuilt, as in the pipeline, so assessment results carry
their students. Tests never write its warehouse; each publishes into its own copy of the config
whose data dir points at the shared warehouse."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from interop_pipeline.config import DistrictConfig, load_config
from tests.conftest import write_config
from tests.district_build import land_everything, prepare_build, resolve_identities, run_dbt

STUDENTS = 300


def _build(config: DistrictConfig, target: Path, *selection: str) -> None:
    run = run_dbt(config, target, "build", "--quiet", *selection)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.fixture(scope="session")
def built_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir of a generated, landed and dbt-built 300-student demo district."""
    from interop_pipeline.simulators.generate import write_district

    folder = tmp_path_factory.mktemp("publish_district")
    config = load_config(write_config(folder, students=STUDENTS))
    write_district(config, students=STUDENTS, seed=11)
    land_everything(config)
    prepare_build(config)  # REST sources land nothing here: dbt builds their models empty
    target = tmp_path_factory.mktemp("dbt_target")
    _build(config, target)
    resolve_identities(config)
    _build(config, target, "--select", "source:identity+,+fct_assessment_result")  # what publishing reads of it
    return folder


@pytest.fixture
def publish_config(built_district: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DistrictConfig:
    """The demo's recipients over the shared warehouse; deliveries, state and audit in tmp_path."""
    raw = yaml.safe_load((built_district / "district.yaml").read_text())
    raw["output"]["data_dir"] = str(tmp_path)
    # Faults on, deterministic and dense (four in ten requests): retries quick and a few more of them.
    raw["recipients"]["state_ods"].update(backoff_seconds=0.01, max_retries=10)
    path = tmp_path / "district.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    (tmp_path / "warehouse").mkdir()
    # The warehouse is read-only to publishing: a copy keeps tests independent of each other.
    shutil.copyfile(built_district / "warehouse" / "build.duckdb", tmp_path / "warehouse" / "build.duckdb")
    for name, value in {
        "UNIVERSITY_STUDY_HMAC_SECRET": "test-secret-1",
        "STATE_ODS_CLIENT_ID": "ods-client",
        "STATE_ODS_CLIENT_SECRET": "ods-secret",
    }.items():
        monkeypatch.setenv(name, value)
    return load_config(path)


def release(config: DistrictConfig, warehouse: Path | None = None) -> None:
    """As the release asset does: a complete copy of the build warehouse renamed into place,
    where analysts, the recipients' assets and `interop-pipeline serve` read it."""
    import os

    published = config.published_warehouse_path
    published.parent.mkdir(parents=True, exist_ok=True)
    partial = published.with_name(".warehouse.duckdb.partial")
    shutil.copyfile(warehouse or config.build_warehouse_path, partial)
    os.replace(partial, published)
