"""The file-drop landing asset and the drop-folder sensor, run for real on files in a folder."""

from __future__ import annotations

import os
import shutil
import time
from datetime import timedelta
from pathlib import Path

import pytest
from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job, materialize
from dagster import build_sensor_context as build_context

from interop_pipeline.assets.extract.file_drops import build_file_drop_assets, source_declarations
from interop_pipeline.assets.extract.source_health import source_health_results
from interop_pipeline.config import load_config
from interop_pipeline.connectors.landing import read_batch_records, read_refusals
from interop_pipeline.sensors import build_drop_folder_sensor, scan_drop_folder
from interop_pipeline.simulators.generate import write_district
from tests.conftest import write_config

HEADER = "Student_Number,School_ID,Att_Date,Att_Code,Description,Presence_Status_CD,Total_Minutes\r\n"


@pytest.fixture
def attendance(tmp_path):
    config = load_config(write_config(tmp_path, students=100))
    source = config.sources["sis_attendance"]
    folder = config.drop_folder(source)
    folder.mkdir(parents=True)
    return config, source, folder


def _drop(folder: Path, name: str, text: str, age_seconds: float = 60) -> Path:
    path = folder / name
    path.write_text(text)
    stamp = time.time() - age_seconds
    os.utime(path, (stamp, stamp))
    return path


def _run(config, source):
    asset = build_file_drop_assets(config, "sis_attendance", source)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([asset], instance=instance, raise_on_error=False)
        checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
        return result, checks


def test_files_land_in_delivery_order_and_checks_report_drift_and_rejects(attendance):
    config, source, folder = attendance
    _drop(folder, "attendance_2025-09.csv", HEADER + "0012345,0601,09/02/2025,A,Unexcused Absence,Absent,390\r\n", 120)
    result, checks = _run(config, source)
    assert result.success
    assert checks["no_schema_drift"].passed and checks["reject_rate_within_limit"].passed

    # Next month's file gains a column and has a bad presence status (a reject).
    _drop(
        folder,
        "attendance_2025-10.csv",
        HEADER.replace("\r\n", ",Period\r\n")
        + "0012345,0601,10/01/2025,T,Tardy,Present,15,1\r\n0012346,0601,10/01/2025,A,Absent,Gone,390,1\r\n",
    )
    result, checks = _run(config, source)
    assert result.success
    assert not checks["no_schema_drift"].passed
    assert "Period" in checks["no_schema_drift"].metadata["changes"].value
    assert not checks["reject_rate_within_limit"].passed  # 1 of 2 rows rejected > 2 %

    # Nothing new: a no-op run lands nothing.
    result, _ = _run(config, source)
    materialization = result.asset_materializations_for_node("land_sis_attendance_files")[0]
    assert materialization.metadata["files_landed"].value == 0


def test_a_refused_file_quarantines_the_source_and_the_good_files_still_land(attendance):
    """Not required: the step succeeds, `delivery_accepted` fails naming the file, and the
    refusal is recorded once per file content for the data-quality mart."""
    config, source, folder = attendance
    _drop(folder, "attendance_2025-09.csv", "", 120)  # empty: refused
    _drop(folder, "attendance_2025-10.csv", HEADER + "0012345,0601,10/01/2025,T,Tardy,Present,15\r\n")
    result, checks = _run(config, source)
    assert result.success
    delivery = checks["delivery_accepted"]
    assert not delivery.passed and delivery.severity.value == "ERROR"
    assert "attendance_2025-09.csv" in delivery.metadata["refusals"].value
    assert "quarantined" in delivery.metadata["consequence"].value
    assert checks["fresh_within_limit"].passed  # the good file just landed
    landed = list((config.landing_dir / "sis_attendance" / "daily_attendance").glob("2*.parquet"))
    assert len(landed) == 1
    refusals = read_refusals(config.landing_dir, "sis_attendance")
    assert [(r["kind"], r["subject"]) for r in refusals] == [("file", "attendance_2025-09.csv")]

    # The same file refused again on the next run is still reported, and recorded once.
    result, checks = _run(config, source)
    assert result.success and not checks["delivery_accepted"].passed
    assert len(read_refusals(config.landing_dir, "sis_attendance")) == 1


def test_a_required_source_refusal_fails_the_step(attendance):
    config, source, folder = attendance
    required = source.model_copy(update={"required": True})
    _drop(folder, "attendance_2025-09.csv", "", 120)
    asset = build_file_drop_assets(config, "sis_attendance", required)
    with DagsterInstance.ephemeral() as instance:
        result = materialize([asset], instance=instance, raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "required" in failure and "attendance_2025-09.csv" in failure


def test_freshness_check_fails_past_the_configured_limit(attendance):
    config, source, folder = attendance
    _drop(folder, "attendance_2025-09.csv", HEADER + "0012345,0601,09/02/2025,A,Unexcused Absence,Absent,390\r\n")
    _run(config, source)
    records = read_batch_records(config.landing_dir, "sis_attendance")
    keys = build_file_drop_assets(config, "sis_attendance", source).keys
    batches_key = next(k for k in keys if k.path[-1] == "batches")
    limited = source.model_copy(update={"freshness_limit_hours": 24})
    later = records[-1]["extracted_at"] + timedelta(hours=30)
    fresh, stale = (
        list(source_health_results(config, "sis_attendance", limited, batches_key, [], now=now))[1]
        for now in (records[-1]["extracted_at"] + timedelta(hours=1), later)
    )
    assert fresh.passed and not stale.passed
    assert stale.metadata["newest_batch_age_hours"].value == 30.0


def test_generated_vendor_files_land_without_rejects(tmp_path):
    from interop_pipeline.connectors.tabular import land_vendor_file

    config = load_config(write_config(tmp_path, students=300))
    generated = write_district(config, students=300, seed=2)
    for name, paths in generated.vendor_drops.items():
        declarations = source_declarations(config, name, config.sources[name])
        for path in paths:
            result = land_vendor_file(
                path, declarations, config.landing_dir, district_code="demo-usd", max_uncompressed_bytes=2**30
            )
            assert sum(result.rows_rejected.values()) == 0, (path.name, result.rejects_by_rule)
            assert sum(result.rows_landed.values()) > 0, path.name


def test_sensor_runs_for_new_content_only(attendance):
    config, source, folder = attendance
    landing = build_file_drop_assets(config, "sis_attendance", source)
    sensor = build_drop_folder_sensor(
        "sis_attendance", folder, source.file_pattern, AssetSelection.assets(*landing.keys), config.landing_dir
    )
    repository = Definitions(assets=[landing], sensors=[sensor]).get_repository_def()
    first = _drop(folder, "attendance_2025-09.csv", HEADER + "1,2,09/02/2025,A,x,Absent,390\r\n")

    def build_sensor_context(**kwargs):
        return build_context(repository_def=repository, **kwargs)

    with DagsterInstance.ephemeral() as instance:
        context = build_sensor_context(instance=instance)
        requests = sensor.evaluate_tick(context).run_requests
        assert len(requests) == 1
        cursor = context.cursor
        # The same file again, and a renamed copy: nothing to do.
        shutil.copy2(first, folder / "attendance_2025-09_resent.csv")
        again = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor))
        assert not again.run_requests
        # A changed file starts a run.
        _drop(folder, "attendance_2025-10.csv", HEADER + "1,2,10/01/2025,T,x,Present,15\r\n")
        changed = sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=again.cursor))
        assert len(changed.run_requests) == 1
        # A fresh cursor (a new Dagster instance) does not re-run content landed before.
        materialize([landing], instance=instance)
        fresh = sensor.evaluate_tick(build_sensor_context(instance=instance))
        assert not fresh.run_requests


def test_a_delivery_before_the_first_release_runs_the_whole_refresh(attendance):
    """A source's own job rebuilds only what its landing feeds, which reads other sources'
    models: on a district never built, those do not exist yet, so the first delivery runs all."""
    config, source, folder = attendance
    landing = build_file_drop_assets(config, "sis_attendance", source)
    whole = define_asset_job("district_refresh", selection=AssetSelection.all())
    sensor = build_drop_folder_sensor(
        "sis_attendance",
        folder,
        source.file_pattern,
        AssetSelection.assets(*landing.keys),
        config.landing_dir,
        first_build=(whole, config.published_warehouse_path),
    )
    repository = Definitions(assets=[landing], sensors=[sensor]).get_repository_def()
    _drop(folder, "attendance_2025-09.csv", HEADER + "1,2,09/02/2025,A,x,Absent,390\r\n")
    with DagsterInstance.ephemeral() as instance:
        first = sensor.evaluate_tick(build_context(repository_def=repository, instance=instance))
        assert [r.job_name for r in first.run_requests] == ["district_refresh"]
        config.published_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
        config.published_warehouse_path.write_bytes(b"")  # a release exists from here on
        _drop(folder, "attendance_2025-10.csv", HEADER + "1,2,10/01/2025,T,x,Present,15\r\n")
        later = sensor.evaluate_tick(build_context(repository_def=repository, instance=instance, cursor=first.cursor))
        assert [r.job_name for r in later.run_requests] == ["sis_attendance_delivery"]


def test_a_file_still_arriving_is_left_for_the_next_tick(tmp_path):
    path = _drop(tmp_path, "attendance_2025-09.csv", HEADER, age_seconds=0)
    cursor, new = scan_drop_folder(tmp_path, "*.csv", {}, time.time())
    assert new == [] and path.name not in cursor
    cursor, new = scan_drop_folder(tmp_path, "*.csv", {}, time.time() + 60)
    assert len(new) == 1


def test_drift_never_names_values_a_broken_header_swallowed(attendance):
    """A header that lost its line break reads the first record's cells as column names: the file
    is refused whole (that record could not be kept otherwise), and neither the refusal nor the
    drift check puts a student's values into asset check metadata."""
    config, source, folder = attendance
    _drop(folder, "attendance_2025-09.csv", HEADER + "0012345,0601,09/02/2025,A,Unexcused Absence,Absent,390\r\n", 120)
    _run(config, source)
    merged = HEADER.replace("\r\n", "") + "0012346,0601,10/01/2025,A,Ms Lilyfox,Absent,390\r\n"
    _drop(folder, "attendance_2025-10.csv", merged + "0012347,0601,10/01/2025,A,Absent,Absent,390\r\n")
    _, checks = _run(config, source)
    refused = checks["delivery_accepted"]
    assert not refused.passed
    said = refused.metadata["refusals"].value
    assert "attendance_2025-10.csv" in said and "runs on into the first record" in said
    said += str(checks["no_schema_drift"].metadata)
    assert not any(value in said for value in ("0012346", "10/01/2025", "Ms Lilyfox", "Total_Minutes0012346"))


def test_a_declared_column_missing_beside_a_near_header_name_fails_the_schema_check(attendance):
    """An optional column absent from the header while a header name close to it is there (a
    typo on either side) would land null in every file: the first file's check already fails."""
    config, source, folder = attendance
    typo = HEADER.replace("Total_Minutes", "Total_Minuts")
    _drop(folder, "attendance_2025-09.csv", typo + "0012345,0601,09/02/2025,A,Unexcused Absence,Absent,390\r\n")
    result, checks = _run(config, source)
    assert result.success
    drift = checks["no_schema_drift"]
    assert not drift.passed
    assert drift.metadata["changes"].value == (
        "attendance_2025-09.csv: field total_minutes found no column in the header; "
        "nearest header name 'Total_Minuts' (a typo in the declaration?)"
    )
