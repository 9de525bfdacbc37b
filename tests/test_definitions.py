"""The Dagster definitions load as the webserver loads them, and the asset graph has the shape
the data team relies on: grouped by system and layer, dbt sources fed by landing assets, the
warehouse writers in one pool, dbt tests as checks, and a running daily schedule."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from dagster import AssetKey, DefaultScheduleStatus, DefaultSensorStatus

from interop_pipeline.config import ApiSource
from interop_pipeline.definitions import build_definitions
from interop_pipeline.transform.dbt import WAREHOUSE_POOL


def test_dagster_definitions_validate(district_config):
    dagster = Path(sys.executable).parent / "dagster"
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-m", "interop_pipeline.definitions"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "INTEROP_DISTRICT_CONFIG": str(district_config.config_path)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Validation successful" in result.stdout + result.stderr
    # Loading definitions must not create or open the warehouse (the webserver loads them).
    assert not district_config.build_warehouse_path.exists()


@pytest.fixture(scope="module")
def graph_and_defs(tmp_path_factory):
    from interop_pipeline.config import load_config
    from tests.conftest import write_config

    config = load_config(write_config(tmp_path_factory.mktemp("defs"), students=100))
    defs = build_definitions(config)
    return defs.resolve_asset_graph(), defs, config


def test_assets_are_grouped_by_system_and_layer(graph_and_defs):
    graph, _, _ = graph_and_defs
    group = lambda *key: graph.get(AssetKey(list(key))).group_name  # noqa: E731
    assert group("landing", "oneroster_csv", "users") == "oneroster_csv"
    assert group("staging", "stg_oneroster_csv__users") == "oneroster_csv"
    assert group("dim_student") == "warehouse_core"
    assert group("reference", "xwalk_sex") == "reference_codes"
    assert group("published_warehouse") == "release"
    assert group("staging", "stg_landing__rejects") == "landing_bookkeeping"  # not a source called "landing"
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.owners, key
        assert node.is_executable, f"{key.to_user_string()} has no asset that produces it"


def test_dbt_sources_are_fed_by_the_landing_assets(graph_and_defs):
    graph, _, _ = graph_and_defs
    parents = graph.get(AssetKey(["staging", "stg_oneroster_csv__users"])).parent_keys
    assert AssetKey(["landing", "oneroster_csv", "users"]) in parents
    assert AssetKey(["landing", "oneroster_csv", "batches"]) in parents  # only fully landed batches are read


def test_only_warehouse_writers_share_the_single_writer_pool(graph_and_defs):
    _, defs, _ = graph_and_defs
    pool = lambda *key: defs.resolve_assets_def(AssetKey(list(key))).op.pool  # noqa: E731
    assert pool("dim_student") == WAREHOUSE_POOL
    assert pool("published_warehouse") == WAREHOUSE_POOL
    assert pool("landing", "oneroster_csv", "users") is None  # extraction runs in parallel, outside the pool
    # Recipients read the released copy, which nothing writes in place: they run side by side.
    assert pool("publish", "learning_app") is None and pool("publish", "state_ods") is None


def test_dbt_tests_are_asset_checks_and_rejects_are_checked(graph_and_defs):
    graph, _, _ = graph_and_defs
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("dim_student", "primary_key_dim_student_student_key") in checks
    # A grain of several columns is one key test too.
    assert ("fct_school_enrollment", "primary_key_fct_school_enrollment_student_key__school_key__entry_date") in checks
    assert ("landing/oneroster_csv/rejects", "no_rejected_rows") in checks


def test_dbt_assets_and_checks_are_described_in_words_not_sql(graph_and_defs):
    graph, _, _ = graph_and_defs
    dbt_keys = [key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable]
    descriptions = {key: graph.get(key).description or "" for key in dbt_keys}
    assert not [key for key, text in descriptions.items() if "```" in text or "Raw SQL" in text]
    assert descriptions[AssetKey("dim_student")].startswith("One row per student")
    checks = {key: graph.get_check_spec(key) for key in graph.asset_check_keys}
    undescribed = [key for key, spec in checks.items() if not spec.description]
    assert undescribed == []
    key = checks[next(k for k in checks if k.name == "primary_key_dim_student_student_key")]
    assert key.description.startswith("Every row of dim_student has a (student_key), and no two rows share one")
    grade = checks[next(k for k in checks if k.name == "not_null_dim_student_grade_level")]
    assert grade.description.startswith("Every row of dim_student has a grade_level.")
    assert "release is held back" in key.description and "run goes on" in grade.description


def test_release_waits_for_every_warehouse_model(graph_and_defs):
    graph, _, _ = graph_and_defs
    parents = graph.get(AssetKey("published_warehouse")).parent_keys
    assert {AssetKey("dim_student"), AssetKey("fct_section_enrollment")} <= parents


def test_daily_schedule_runs_by_default_at_the_configured_time(graph_and_defs):
    _, defs, config = graph_and_defs
    (schedule,) = defs.schedules
    assert schedule.default_status == DefaultScheduleStatus.RUNNING
    assert schedule.cron_schedule == config.schedule.cron
    assert schedule.execution_timezone == config.schedule.timezone
    assert schedule.job_name == "district_refresh"


def test_every_drop_folder_has_a_running_sensor_and_vendor_assets_group_by_source(graph_and_defs):
    graph, defs, config = graph_and_defs
    sensors = {s.name: s for s in defs.sensors}
    watched = {name for name, source in config.enabled_sources().items() if not isinstance(source, ApiSource)}
    # A sensor per drop folder, and the alert sensors for runs the daemon watches.
    assert set(sensors) == {f"{name}_drop_folder" for name in watched} | {
        "alert_on_run_failure",
        "alert_on_run_success",
    }
    assert all(s.default_status == DefaultSensorStatus.RUNNING for s in sensors.values())
    # A drop folder's runs are of a job named for its source, not the anonymous asset job (or,
    # before the first release, of the whole refresh: tests/assets/test_file_drops.py).
    assert {name: {t.job_name for t in sensors[f"{name}_drop_folder"].targets} for name in watched} == {
        name: {f"{name}_delivery", "district_refresh"} for name in watched
    }
    for key, group in [
        (["landing", "nwea_map", "assessment_results"], "nwea_map"),
        (["staging", "stg_nwea_map__assessment_results"], "nwea_map"),
        (["landing", "iready", "diagnostic_ela"], "iready"),
        (["landing", "state_assessment", "summative_results"], "state_assessment"),
    ]:
        assert graph.get(AssetKey(key)).group_name == group
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("landing/sis_attendance/daily_attendance", "no_schema_drift") in checks
    assert ("landing/nwea_map/assessment_results", "reject_rate_within_limit") in checks


def test_each_api_system_is_one_retried_step_with_an_asset_per_entity(graph_and_defs):
    graph, defs, config = graph_and_defs
    api_sources = [name for name, source in config.enabled_sources().items() if isinstance(source, ApiSource)]
    assert "oneroster_api" in api_sources
    for name in api_sources:
        users_or_students = next(
            k
            for k in graph.get_all_asset_keys()
            if k.path[:2] == ["landing", name] and k.path[2] not in ("batches", "rejects", "refusals")
        )
        assets_def = defs.resolve_assets_def(users_or_students)
        assert assets_def.op.name == f"land_{name}_api"
        assert assets_def.can_subset and assets_def.op.retry_policy is not None
        assert graph.get(users_or_students).group_name == name
        assert "api" in graph.get(users_or_students).kinds
    # Each landed entity feeds its staging model.
    parents = graph.get(AssetKey(["staging", "stg_oneroster_api__users"])).parent_keys
    assert AssetKey(["landing", "oneroster_api", "users"]) in parents


def test_identity_resolution_runs_between_the_two_dbt_steps(graph_and_defs):
    graph, defs, _ = graph_and_defs
    step = lambda *key: defs.resolve_assets_def(AssetKey(list(key))).op.name  # noqa: E731
    records, xwalk = AssetKey("int_person_records__students"), AssetKey(["landing", "identity", "student_xwalk"])
    # dbt before identity builds the person records; identity reads them and lands its crosswalk;
    # dbt after identity reads the crosswalk back.
    assert step("int_person_records__students") == step("dim_student") == "warehouse_dbt_build"
    assert step("landing", "identity", "student_xwalk") == "resolve_identities"
    assert step("student_identity_xwalk") == step("fct_assessment_result") == "warehouse_dbt_build_after_identity"
    assert records in graph.get(xwalk).parent_keys
    assert xwalk in graph.get(AssetKey("student_identity_xwalk")).parent_keys
    assert AssetKey(["landing", "identity", "staff_xwalk"]) in graph.get(AssetKey("staff_identity_xwalk")).parent_keys
    assert AssetKey("fct_assessment_result") in graph.get(AssetKey("student_identity_xwalk")).child_keys
    assert graph.get(xwalk).group_name == "identity"
    assert graph.get(AssetKey("identity_review_queue")).group_name == "warehouse_identity"
    # All three open the warehouse, so all three are in the single-writer pool.
    for key in (["dim_student"], ["landing", "identity", "student_xwalk"], ["fct_assessment_result"]):
        assert defs.resolve_assets_def(AssetKey(key)).op.pool == WAREHOUSE_POOL
    assert {AssetKey("fct_assessment_result"), AssetKey("student_identity_xwalk"), xwalk} <= graph.get(
        AssetKey("published_warehouse")
    ).parent_keys


def test_identity_checks_warn_on_match_rate_and_block_on_a_merged_sis_person(graph_and_defs):
    _, defs, _ = graph_and_defs
    identity = defs.resolve_assets_def(AssetKey(["landing", "identity", "student_xwalk"]))
    specs = {(s.asset_key.path[-1], s.name): s for s in identity.check_specs}
    assert specs[("student_xwalk", "one_person_per_sis_record")].blocking
    assert not specs[("student_xwalk", "match_rate_above_floor")].blocking
    assert ("staff_xwalk", "one_person_per_sis_record") in specs
