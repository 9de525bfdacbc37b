"""A refresh that would change nothing is skipped: what counts as a change, and which past run
may be trusted (transform/unchanged.py). The whole-run behaviour is in test_pipeline_e2e."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    DagsterInstance,
    MaterializeResult,
    asset,
    materialize,
)

from interop_pipeline.config import DistrictConfig
from interop_pipeline.connectors.landing import LandingBatch, record_refusal, retire_batch
from interop_pipeline.transform.unchanged import (
    REBUILD_TAG,
    build_inputs,
    landed_content,
    reason_to_rebuild,
    record_build_inputs,
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


def _run(instance: DagsterInstance, *, check_passes: bool, fails: bool = False) -> str:
    @asset(check_specs=[AssetCheckSpec("holds", asset="built")])
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

        config.published_warehouse_path.unlink()
        assert "no warehouse" in reason_to_rebuild(config, inputs, instance, {})
