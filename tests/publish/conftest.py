"""One small district, generated, landed and built by a real dbt run, shared by every publish
test (session scope: the dbt build is the slow part). Identity resolution runs after the build and
the marts that read its crosswalk are rebuilt, as in the pipeline, so assessment results carry
their students. Tests never write its warehouse; each publishes into its own copy of the config
whose data dir points at the shared warehouse."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from interop_pipeline.config import PROJECT_ROOT, DistrictConfig, FileDropSource, load_config
from tests.conftest import write_config

STUDENTS = 300
DBT_STAGING = PROJECT_ROOT / "dbt_project" / "models" / "staging"


def _land_all(config: DistrictConfig) -> None:
    from interop_pipeline.assets.extract.file_drops import land_file, source_declarations
    from interop_pipeline.assets.extract.sis_roster import land_bundle
    from interop_pipeline.config import OneRosterCsvSource
    from interop_pipeline.connectors.api_landing import API_RECORD_COLUMNS
    from interop_pipeline.connectors.landing import ensure_placeholders, pending_files

    # API sources land nothing here: zero-row placeholders let dbt build their models empty, for
    # every table of every API system the dbt project declares as a source, configured or not.
    for kind in ("oneroster_api", "edfi", "edfi_api", "canvas", "google_classroom"):
        for sources_file in (DBT_STAGING / kind).glob("_*__sources.yml"):
            for declared in yaml.safe_load(sources_file.read_text())["sources"]:
                tables = [t["name"] for t in declared["tables"] if t["name"] not in ("rejects", "batches")]
                ensure_placeholders(config.landing_dir, declared["name"], dict.fromkeys(tables, API_RECORD_COLUMNS))
    for name, source in config.enabled_sources().items():
        if not isinstance(source, OneRosterCsvSource | FileDropSource):
            continue
        declarations = source_declarations(config, name, source) if isinstance(source, FileDropSource) else None
        for path in pending_files(config.drop_folder(source), source.file_pattern, config.landing_dir, name):
            if declarations is not None:
                land_file(config, source, declarations, path)
            else:
                land_bundle(config, name, source, path)
    try:  # identity resolution's crosswalks, read back by dbt, start empty too
        from interop_pipeline.assets.identity.landing import ensure_identity_placeholders
    except ImportError:
        return
    ensure_identity_placeholders(config.landing_dir)


def _resolve_identities(config: DistrictConfig) -> None:
    """The identity asset, as the pipeline runs it between the two dbt steps."""
    from dagster import DagsterInstance, materialize

    from interop_pipeline.assets.identity.resolution import build_identity_assets

    with DagsterInstance.ephemeral() as instance:
        assert materialize([build_identity_assets(config)], instance=instance).success


def _dbt_build(config: DistrictConfig, target: Path, *select: str) -> None:
    from interop_pipeline.transform.dbt import DBT_PROJECT_DIR, dbt_environment, dbt_vars

    config.build_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    dbt = Path(sys.executable).parent / "dbt"
    run = subprocess.run(
        [
            str(dbt),
            "build",
            "--quiet",
            *(["--select", *select] if select else []),
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
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **dbt_environment(config)},
        timeout=900,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]


@pytest.fixture(scope="session")
def built_district(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data dir of a generated, landed and dbt-built 300-student demo district."""
    from interop_pipeline.simulators.generate import write_district

    folder = tmp_path_factory.mktemp("publish_district")
    config = load_config(write_config(folder, students=STUDENTS))
    write_district(config, students=STUDENTS, seed=11)
    _land_all(config)
    target = tmp_path_factory.mktemp("dbt_target")
    _dbt_build(config, target)
    _resolve_identities(config)
    _dbt_build(config, target, "source:identity+,+fct_assessment_result")  # what publishing reads of it
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
