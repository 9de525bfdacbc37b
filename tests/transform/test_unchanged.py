"""A refresh that would change nothing is skipped: what counts as a change, and which past run
may be trusted (transform/unchanged.py); a build whose only change is new daily attendance is
incremental, any other is full. The whole-run behaviour is in test_pipeline_e2e; the
incremental build's rows against a full refresh in test_incremental_attendance."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetKey,
    DagsterInstance,
    MaterializeResult,
    asset,
    materialize,
)

from interop_pipeline.config import DistrictConfig
from interop_pipeline.connectors.landing import LandingBatch, record_refusal, retire_batch
from interop_pipeline.transform.dbt import full_refresh_args
from interop_pipeline.transform.unchanged import (
    LANDED,
    REBUILD_TAG,
    RECORD_FORMAT,
    BuildMode,
    build_inputs,
    choose_build_mode,
    decide_build_mode,
    landed_batch_ids,
    landed_content,
    note_selected_build,
    reason_to_rebuild,
    record_build_inputs,
    recorded_build_mode,
    stale_sources,
)

AT = datetime(2026, 5, 1, 6, 0, tzinfo=UTC)


def land(config: DistrictConfig, system: str, fingerprint: str, rows: list[list[str]], details=None, at=AT) -> str:
    with LandingBatch(
        config.landing_dir, system, config.district.code, fingerprint, "source", at, details=details or {}
    ) as batch:
        writer = batch.entity_writer("users", ["id"])
        for row in rows:
            writer.append(row, "source:1")
        return batch.commit()


def walk(config: DistrictConfig, digest: str, records: int, at: datetime, mode: str = "full") -> str:
    details = {"content_digest": digest, "records": records, "entity": "users", "mode": mode, "cursor": at.isoformat()}
    return land(config, "canvas", f"{at.timestamp():064.0f}", [["1"]] * records, details, at)


def test_landed_content_is_content_not_batches_or_times(district_config: DistrictConfig) -> None:
    empty = landed_content(district_config.landing_dir)
    first = walk(district_config, "2:aaaa", 2, AT)
    after_walk = landed_content(district_config.landing_dir)
    assert after_walk != empty

    # The same records walked again a day later: a new batch replaces the old, nothing changed.
    walk(district_config, "2:aaaa", 2, AT + timedelta(days=1))
    retire_batch(district_config.landing_dir, "canvas", first)
    assert landed_content(district_config.landing_dir) == after_walk
    # An incremental walk that brought nothing adds no rows.
    walk(district_config, "0:0000", 0, AT + timedelta(days=2), mode="incremental")
    assert landed_content(district_config.landing_dir) == after_walk

    # A walk with other records, a new file, a refusal: each is a change.
    walk(district_config, "3:bbbb", 3, AT + timedelta(days=3))
    changed = landed_content(district_config.landing_dir)
    assert changed != after_walk
    land(district_config, "sis_attendance", "f" * 64, [["1"]])
    with_file = landed_content(district_config.landing_dir)
    assert with_file != changed
    record_refusal(
        district_config.landing_dir, "sis_attendance", district_code="x", kind="file", subject="a.csv",
        reason="a.csv: header lacks Att_Date", fingerprint="e" * 64,
    )  # fmt: skip
    assert landed_content(district_config.landing_dir) != with_file
    # Identity batches are the run's own output, not an input.
    before_identity = landed_content(district_config.landing_dir)
    land(district_config, "identity", "d" * 64, [["1"]])
    assert landed_content(district_config.landing_dir) == before_identity


def test_a_source_going_stale_is_a_change(district_config: DistrictConfig) -> None:
    name, source = next((n, s) for n, s in district_config.enabled_sources().items() if s.freshness_limit_hours)
    land(district_config, name, "c" * 64, [["1"]], at=AT)
    within = AT + timedelta(hours=source.freshness_limit_hours - 1)
    past = AT + timedelta(hours=source.freshness_limit_hours + 1)
    assert name not in stale_sources(district_config, within)
    assert name in stale_sources(district_config, past)
    assert build_inputs(district_config, within) != build_inputs(district_config, past)


def _run(instance: DagsterInstance, *, check_passes: bool, fails: bool = False, key: str = "built") -> str:
    asset_key = AssetKey.from_user_string(key)

    @asset(key=asset_key, check_specs=[AssetCheckSpec("holds", asset=asset_key)])
    def built():
        if fails:
            raise RuntimeError("the run fails")
        return MaterializeResult(
            check_results=[AssetCheckResult(check_name="holds", passed=check_passes, severity=AssetCheckSeverity.ERROR)]
        )

    result = materialize([built], instance=instance, raise_on_error=False)
    return result.run_id


@pytest.fixture
def built_before(district_config: DistrictConfig) -> DistrictConfig:
    """A district whose warehouse was built and released once."""
    for path in (district_config.build_warehouse_path, district_config.published_warehouse_path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return district_config


def test_only_a_run_that_ended_well_with_the_same_inputs_is_trusted(built_before: DistrictConfig) -> None:
    config = built_before
    inputs = build_inputs(config)
    with DagsterInstance.ephemeral() as instance:
        assert "no record" in reason_to_rebuild(config, inputs, instance, {})

        record_build_inputs(config, inputs, _run(instance, check_passes=True))
        assert reason_to_rebuild(config, inputs, instance, {}) is None
        assert "asked for" in reason_to_rebuild(config, inputs, instance, {REBUILD_TAG: "true"})
        walk(config, "2:aaaa", 2, AT)
        assert reason_to_rebuild(config, build_inputs(config), instance, {}) == (
            "changed since the last build: landed data"
        )

        record_build_inputs(config, inputs, _run(instance, check_passes=False))
        assert "had failed checks: built holds" in reason_to_rebuild(config, inputs, instance, {})
        record_build_inputs(config, inputs, _run(instance, check_passes=True, fails=True))
        assert "did not succeed" in reason_to_rebuild(config, inputs, instance, {})
        # A failed check of a landing asset (a refused file) judged the landed data, which the
        # inputs hold: the same inputs again need no build.
        record_build_inputs(config, inputs, _run(instance, check_passes=False, key="landing/nwea_map/batches"))
        assert reason_to_rebuild(config, inputs, instance, {}) is None

        config.published_warehouse_path.unlink()
        assert "no warehouse" in reason_to_rebuild(config, inputs, instance, {})


def attendance_file(config: DistrictConfig, fingerprint: str, entities=("daily_attendance",), at=AT) -> str:
    """A landed SIS attendance file as the file-drop landing records it (vendor_file details, one
    writer per entity)."""
    details = {"kind": "vendor_file", "entities": {entity: {} for entity in entities}, "files_not_ingested": []}
    with LandingBatch(
        config.landing_dir, "sis_attendance", config.district.code, fingerprint, "attendance.csv", at, details=details
    ) as batch:
        for entity in entities:
            batch.entity_writer(entity, ["id"]).append(["1"], "attendance.csv:2")
        return batch.commit()


def test_only_new_daily_attendance_batches_are_built_incrementally(built_before: DistrictConfig) -> None:
    config = built_before
    walk(config, "2:aaaa", 2, AT)
    first_file = attendance_file(config, "a" * 64)
    attendance_file(config, "b" * 64, entities=("calendar_days",))
    before = build_inputs(config, AT)
    record = {"format": RECORD_FORMAT, "run_id": "r", "inputs": before, "batches": landed_batch_ids(config.landing_dir)}

    def mode(inputs=None, previous=record, **kw) -> BuildMode:
        kw = {"rebuild_asked": False, "last_run_trouble": None, "batches": landed_batch_ids(config.landing_dir), **kw}
        return choose_build_mode(previous, inputs or build_inputs(config, AT), **kw)

    # Nothing new: nothing to add (such a run is skipped before the mode is chosen anyway).
    assert not mode().incremental

    # One, then two new daily attendance files: incremental.
    attendance_file(config, "c" * 64)
    one = build_inputs(config, AT)
    assert mode(one) == BuildMode(
        True,
        "the only change since the last build, which ended well, is 1 new batch of sis_attendance daily_attendance",
        systems=("sis_attendance",),
    )
    assert mode(one).sentence().startswith("Only what reads the landed data of sis_attendance is rebuilt")
    assert "The attendance fact is updated incrementally: the only change" in mode(one).sentence()
    attendance_file(config, "d" * 64)
    assert mode().incremental and "2 new batches" in mode().reason

    # Any doubt is a full build of everything.
    assert "rebuild was asked for" in mode(rebuild_asked=True).reason
    assert mode(rebuild_asked=True).systems is None
    assert mode(batches=None).systems is None  # the batches landed now not known
    assert mode(previous={k: v for k, v in record.items() if k != "batches"}).systems is None
    untrusted = mode(last_run_trouble="the last build's run (r) did not succeed")
    assert "did not succeed" in untrusted.reason and untrusted.systems is None
    assert "no record" in mode(previous=None).reason
    old_format = {"run_id": "r", "inputs": {**before, LANDED: "9f" * 32}}
    assert "older format" in mode(previous=old_format).reason
    assert "does not list landed batches" in mode(previous={**record, "inputs": {**before, LANDED: "9f" * 32}}).reason
    others = ("stale sources", "district config", "declarations", "identity decisions", "dbt project", "pipeline code")
    for name in others:
        changed = {**build_inputs(config, AT), name: "something else"}
        assert mode(changed) == BuildMode(False, f"changed since the last build besides landed data: {name}", None)
        assert mode(changed).sentence().startswith("The warehouse is built in full (every model refreshed): ")

    # Other data of the attendance source, or of another source, is a full build too.
    with_calendar = attendance_file(config, "e" * 64, entities=("calendar_days",))
    assert mode().reason == "new sis_attendance data other than daily_attendance alone: calendar_days"
    retire_batch(config.landing_dir, "sis_attendance", with_calendar)
    assert mode().incremental
    both = attendance_file(config, "f" * 64, entities=("calendar_days", "daily_attendance"))
    assert "other than daily_attendance alone: calendar_days+daily_attendance" in mode().reason
    retire_batch(config.landing_dir, "sis_attendance", both)
    record_refusal(
        config.landing_dir, "sis_attendance", district_code="x", kind="file", subject="a.csv",
        reason="a.csv: header lacks Att_Date", fingerprint="0" * 64,
    )  # fmt: skip
    assert "other than daily_attendance alone: refused" in mode().reason
    shutil.rmtree(config.landing_dir / "sis_attendance" / "_refusals")
    assert mode().incremental
    walk(config, "3:bbbb", 3, AT + timedelta(days=1))
    assert mode().reason == "landed data changed in canvas, sis_attendance"
    assert mode().systems == ("canvas", "sis_attendance")  # only what reads those two is rebuilt
    record["inputs"] = {**before, LANDED: {**before[LANDED], "canvas": build_inputs(config, AT)[LANDED]["canvas"]}}
    assert mode().incremental

    # A walk bringing the same records again replaces its twin: the same content, but what
    # reads the canvas batches is rebuilt (the rows' batch is another one).
    record["inputs"], record["batches"] = build_inputs(config, AT), landed_batch_ids(config.landing_dir)
    assert mode().systems == ()
    twin = walk(config, "3:bbbb", 3, AT + timedelta(days=2))
    retire_batch(config.landing_dir, "canvas", twin_of := landed_batch_ids(config.landing_dir)["canvas"][-2])
    assert twin_of != twin and build_inputs(config, AT) == record["inputs"]
    assert mode().systems == ("canvas",)

    # A batch of the last build removed (or replaced by another content): full.
    retire_batch(config.landing_dir, "sis_attendance", first_file)
    assert mode().reason == "sis_attendance batches were removed or replaced"


def test_the_run_records_its_build_mode_for_its_second_step(built_before: DistrictConfig) -> None:
    config = built_before
    attendance_file(config, "a" * 64)
    inputs = build_inputs(config)
    with DagsterInstance.ephemeral() as instance:
        # No record yet: full; the second step of the run reads back what the first chose.
        mode = decide_build_mode(config, inputs, instance, {})
        assert mode == BuildMode(False, "no record of what the last build read")
        ended_well = _run(instance, check_passes=True)
        record_build_inputs(config, inputs, ended_well, mode)
        assert recorded_build_mode(config, ended_well) == mode
        assert full_refresh_args(config, ended_well) == ["--full-refresh"]

        attendance_file(config, "b" * 64)
        now = build_inputs(config)
        mode = decide_build_mode(config, now, instance, {})
        assert mode.incremental
        record_build_inputs(config, now, "next-run", mode)
        assert recorded_build_mode(config, "next-run") == mode
        assert full_refresh_args(config, "next-run") == []
        # Another run (a step run on its own, a re-execution) did not choose: full.
        assert full_refresh_args(config, "another-run") == ["--full-refresh"]
        record_build_inputs(config, inputs, ended_well, BuildMode(False, "first"))

        # The last build's run must have ended well; a rebuild asked for is full.
        assert decide_build_mode(config, now, instance, {}).incremental
        assert not decide_build_mode(config, now, instance, {REBUILD_TAG: "true"}).incremental
        failed_check = _run(instance, check_passes=False)
        record_build_inputs(config, inputs, failed_check, BuildMode(False, "first"))
        assert "had failed checks: built holds" in decide_build_mode(config, now, instance, {}).reason
        failed = _run(instance, check_passes=True, fails=True)
        record_build_inputs(config, inputs, failed, BuildMode(False, "first"))
        assert "did not succeed" in decide_build_mode(config, now, instance, {}).reason

        # A record written before batches were listed one by one: full.
        path = config.build_warehouse_path.with_name("build_inputs.json")
        path.write_text(json.dumps({"run_id": ended_well, "inputs": {**inputs, LANDED: "9f" * 32}}))
        assert "older format" in decide_build_mode(config, now, instance, {}).reason
        config.build_warehouse_path.unlink()
        assert "no warehouse" in decide_build_mode(config, now, instance, {}).reason


def test_a_run_of_selected_assets_building_in_full_ends_incremental_builds(built_before: DistrictConfig) -> None:
    config = built_before
    attendance_file(config, "a" * 64)
    inputs = build_inputs(config)
    with DagsterInstance.ephemeral() as instance:
        whole = _run(instance, check_passes=True)
        record_build_inputs(config, inputs, whole, BuildMode(False, "first"))
        attendance_file(config, "b" * 64)
        now = build_inputs(config)

        # A delivery run with only new attendance: incremental, noted for its own second step;
        # the whole build's record stays the one compared with (and the one the skip reads).
        delivery = decide_build_mode(config, now, instance, {})
        assert delivery.incremental
        note_selected_build(config, "delivery", delivery)
        assert full_refresh_args(config, "delivery") == []
        assert full_refresh_args(config, whole) == ["--full-refresh"]
        assert decide_build_mode(config, now, instance, {}).incremental
        assert reason_to_rebuild(config, inputs, instance, {}) is None

        # One that builds in full (asked to): the next builds are full until a whole one.
        note_selected_build(config, "selected", decide_build_mode(config, now, instance, {REBUILD_TAG: "true"}))
        assert full_refresh_args(config, "selected") == ["--full-refresh"]
        assert decide_build_mode(config, now, instance, {}) == BuildMode(
            False, "a run of selected assets has built in full since the last build", ("sis_attendance",)
        )
        record_build_inputs(config, inputs, whole, BuildMode(False, "again"))
        assert decide_build_mode(config, now, instance, {}).incremental
