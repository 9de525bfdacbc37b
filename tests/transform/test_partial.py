"""Which dbt nodes a partial build rebuilds, on the project's own manifest."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from interop_pipeline.connectors.conformance import CONFORMED_SOURCE
from interop_pipeline.transform.dbt import DBT_PROJECT_DIR, dbt_project, ensure_dbt_manifest
from interop_pipeline.transform.partial import (
    IDENTITY_SOURCE,
    exclusion_args,
    in_graph_order,
    nodes_to_rebuild,
    source_tables_of,
    step_nodes,
)

MODEL = "model.interop_warehouse."


@pytest.fixture(scope="module")
def manifest() -> dict:
    ensure_dbt_manifest()
    return json.loads(dbt_project.manifest_path.read_text())


def test_the_two_steps_split_every_built_node(manifest: dict) -> None:
    first, second = step_nodes(manifest, after_identity=False), step_nodes(manifest, after_identity=True)
    assert not first & second
    built = {uid for uid, n in manifest["nodes"].items() if n["resource_type"] in {"model", "seed", "snapshot", "test"}}
    assert first | second == built
    assert f"{MODEL}int_person_records__students" in first and f"{MODEL}fct_lms_submission" in second


def test_new_attendance_rebuilds_what_reads_it_and_nothing_else(manifest: dict, tmp_path: Path) -> None:
    rebuilt = nodes_to_rebuild(manifest, ["sis_attendance"], tmp_path)
    assert f"{MODEL}fct_student_daily_attendance" in rebuilt and f"{MODEL}mart_chronic_absenteeism" in rebuilt
    assert f"{MODEL}stg_canvas__submissions" not in rebuilt and f"{MODEL}dim_school" not in rebuilt
    # A test joining a rebuilt model to one left alone runs (dbt's eager selection would, too).
    joins = [uid for uid in rebuilt if uid.startswith("test.") and f"{MODEL}dim_school" in manifest["parent_map"][uid]]
    assert joins
    # Seeds read no landed data.
    assert not any(uid.startswith("seed.") for uid in rebuilt)


def test_the_cross_system_source_counts_where_the_system_has_its_folder(manifest: dict, tmp_path: Path) -> None:
    """Every system's bookkeeping is read through the cross-system source; its conformed
    assessment results only where the system has them."""
    tables = {manifest["sources"][uid]["name"] for uid in source_tables_of(manifest, ["nwea_map"], tmp_path)}
    assert "system_batches" not in tables  # no folder yet
    for folder in ("_batches", "_assessment_results"):
        (tmp_path / "nwea_map" / folder).mkdir(parents=True)
    tables = {
        (manifest["sources"][uid]["source_name"], manifest["sources"][uid]["name"])
        for uid in source_tables_of(manifest, ["nwea_map"], tmp_path)
    }
    assert ("declared", "system_batches") in tables and ("declared", "assessment_results") in tables
    assert ("declared", "student_records") not in tables
    assert {name for source, name in tables if source == "nwea_map"}


def _cross_system_tables(manifest: dict, system: str, landing: Path) -> set[str]:
    sources = manifest["sources"]
    return {
        sources[uid]["name"]
        for uid in source_tables_of(manifest, [system], landing)
        if sources[uid]["source_name"] == "declared"
    }


def test_bookkeeping_counts_only_where_the_models_read_it_for_that_system(manifest: dict, tmp_path: Path) -> None:
    """A system with a dbt source of its own and no conformed rows (the SIS attendance files)
    changes no cross-system table: its bookkeeping is read through its own source. A system
    that exists only by declaration is read through the cross-system tables."""
    for system in ("sis_attendance", "acme_reading"):
        for folder in ("_batches", "_rejects", "_refusals"):
            (tmp_path / system / folder).mkdir(parents=True)
    assert _cross_system_tables(manifest, "sis_attendance", tmp_path) == set()
    assert _cross_system_tables(manifest, "acme_reading", tmp_path) == {
        "system_batches",
        "system_rejects",
        "system_refusals",
    }
    rebuilt = nodes_to_rebuild(manifest, ["sis_attendance"], tmp_path)
    assert f"{MODEL}fct_student_daily_attendance" in rebuilt
    assert (
        not {f"{MODEL}{m}" for m in ("stg_declared__assessment_results", "fct_assessment_score", "dim_assessment")}
        & rebuilt
    )
    for model in ("stg_landing__batch_entities", "stg_landing__rejects", "mart_data_quality"):
        assert f"{MODEL}{model}" in nodes_to_rebuild(manifest, ["acme_reading"], tmp_path)
    # Once the attendance system also lands conformed rows, its new batches can make them current.
    (tmp_path / "sis_attendance" / "_student_records").mkdir()
    assert "system_batches" in _cross_system_tables(manifest, "sis_attendance", tmp_path)


def test_what_is_left_alone_is_named_without_ambiguity(manifest: dict, tmp_path: Path) -> None:
    """dbt is told what to leave out by name: no two built nodes share one."""
    first = step_nodes(manifest, after_identity=False)
    nodes = manifest["nodes"]
    names = Counter(nodes[uid]["name"] for uid in first | step_nodes(manifest, after_identity=True))
    assert [name for name, count in names.items() if count > 1] == []
    left = first - nodes_to_rebuild(manifest, ["sis_attendance"], tmp_path)
    args = exclusion_args(manifest, left)
    assert args[:3] == ["--indirect-selection", "empty", "--exclude"]
    assert set(args[3].split()) == {nodes[uid]["name"] for uid in left}
    assert exclusion_args(manifest, set()) == []


def test_left_alone_tables_are_handed_on_upstream_first(manifest: dict) -> None:
    nodes = step_nodes(manifest, after_identity=False)
    order = in_graph_order(manifest, nodes)
    position = {uid: i for i, uid in enumerate(order)}
    assert set(order) == nodes
    for uid in nodes:
        assert all(position[p] < position[uid] for p in manifest["parent_map"].get(uid, ()) if p in position)


def test_the_systems_with_a_source_of_their_own_are_the_ones_the_bookkeeping_unions_read(manifest: dict) -> None:
    """partial.py takes a system with a dbt source of its own as read through that source; the
    bookkeeping unions read exactly the systems `landed_source_systems()` lists that way."""
    macro = (DBT_PROJECT_DIR / "macros" / "source_systems.sql").read_text()
    body = re.search(r"macro landed_source_systems\(\).*?return\(\[(.*?)\]\)", macro, re.S).group(1)
    listed = set(re.findall(r"'([a-z_]+)'", body))
    own = {source["source_name"] for source in manifest["sources"].values()} - {CONFORMED_SOURCE, IDENTITY_SOURCE}
    assert listed == own
