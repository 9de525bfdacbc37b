"""The probabilistic pass on splink's Spark backend (identity/spark.py, pyspark in local mode)
resolves a generated district exactly as the DuckDB backend does."""

from __future__ import annotations

from datetime import date

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from interop_pipeline.identity.resolve import PROBABILISTIC, resolve
from interop_pipeline.identity.truth import records_from_truth
from interop_pipeline.simulators.district import generate_district

KEYS = ["source_system", "source_id", "person_key", "method"]


def _levels(model: dict) -> dict[tuple[str, str], dict]:
    return {
        (c["output_column_name"], level.get("label_for_charts", "")): level
        for c in model["comparisons"]
        for level in c["comparison_levels"]
        if not level.get("is_null_level")
    }


@pytest.fixture
def spark(monkeypatch: pytest.MonkeyPatch):
    # A short-lived JVM: the quick compiler alone and the serial collector cost it less CPU.
    monkeypatch.setenv("JAVA_TOOL_OPTIONS", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
    from interop_pipeline.identity.spark import spark_engine

    with spark_engine() as engine:
        yield engine


def test_spark_links_every_record_as_duckdb_does(spark) -> None:
    district = generate_district(
        150, 5, district_code="test-usd", lea_id="0600009", year_start=date(2025, 8, 18), year_end=date(2026, 6, 5)
    )
    vendors = ["nwea_map", "iready", "state_assessment"]
    records = records_from_truth(district.students, district.system_students, vendors)
    # One vendor's records without any id: only the model can link them.
    blank = pc.equal(records["source_system"], "iready")
    for column in ("sis_id", "state_id", "email", "login_id"):
        index = records.schema.get_field_index(column)
        records = records.set_column(index, column, pc.if_else(blank, pa.scalar(None, pa.string()), records[column]))
    on_duckdb = resolve(records)
    on_spark = resolve(records, engine=spark)

    assert on_spark.model["sql_dialect"] == "spark" and on_duckdb.model["sql_dialect"] == "duckdb"
    # The same links, by the same rules or by the model, and the same review queue.
    assert sorted(on_spark.crosswalk.select(KEYS).to_pylist(), key=str) == sorted(
        on_duckdb.crosswalk.select(KEYS).to_pylist(), key=str
    )
    queued = ["source_system", "source_id", "candidate_person_key", "candidate_rank", "reason"]
    assert sorted(on_spark.review_queue.select(queued).to_pylist(), key=str) == sorted(
        on_duckdb.review_queue.select(queued).to_pylist(), key=str
    )
    linked_by_model = pc.sum(pc.equal(on_spark.crosswalk["method"], PROBABILISTIC)).as_py()
    assert linked_by_model > 100
    # m is learnt from the deterministic links, the same pairs in both engines; u from a random
    # sample of pairs, which each engine draws its own way.
    duck_levels, spark_levels = _levels(on_duckdb.model), _levels(on_spark.model)
    assert duck_levels.keys() == spark_levels.keys()
    for key, level in duck_levels.items():
        assert spark_levels[key].get("m_probability") == pytest.approx(level.get("m_probability"), abs=1e-9), key
        # A level no sampled pair reached has no u in one engine, or a tiny one in the other.
        u_spark, u_duckdb = spark_levels[key].get("u_probability") or 0, level.get("u_probability") or 0
        assert u_spark == pytest.approx(u_duckdb, rel=0.25, abs=0.002), key
