"""A file extract none of whose tables was rebuilt is not built again (publish/table_versions.py).

The tables each format reads are declared; the declaration is checked here by building every
demo recipient's extract from a copy of the warehouse that holds only those tables: it must
build, and be the extract the whole warehouse gives."""

from __future__ import annotations

import json
import shutil
import typing
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import AssetKey, AssetSelection, DagsterInstance, materialize

from interop_pipeline.assets.publish import recipients
from interop_pipeline.assets.publish.recipients import build_recipient_asset
from interop_pipeline.assets.release import publish_warehouse
from interop_pipeline.config import DistrictConfig, RecipientSettings, load_config
from interop_pipeline.publish import deliver
from interop_pipeline.publish.audit import read_audit_log
from interop_pipeline.publish.state import state_path
from interop_pipeline.publish.table_versions import (
    TABLES_READ,
    extract_inputs,
    note_rebuilding,
    versions_path,
)
from interop_pipeline.transform.dbt import dbt_project, ensure_dbt_manifest
from interop_pipeline.transform.partial import step_nodes, tables_of
from tests.publish.conftest import release

MOMENT = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_every_format_declares_what_it_reads_and_dbt_marks_each_table() -> None:
    formats = typing.get_args(RecipientSettings.model_fields["format"].annotation)
    assert set(TABLES_READ) == set(formats)
    # The names dbt steps mark as rebuilt (schema.alias of each model and seed) are the ones read.
    ensure_dbt_manifest()
    manifest = json.loads(dbt_project.manifest_path.read_text())
    built = step_nodes(manifest, after_identity=False) | step_nodes(manifest, after_identity=True)
    marked = tables_of(manifest, built)
    assert {table for tables in TABLES_READ.values() for table in tables} <= marked


def test_a_release_carries_the_build_marks(publish_config: DistrictConfig) -> None:
    published = publish_config.published_warehouse_path
    note_rebuilding(publish_config, ["main.dim_student", "main.dim_school"], "run-7")
    publish_warehouse(publish_config.build_warehouse_path, published, "run-7")
    assert json.loads(versions_path(published).read_text()) == {"main.dim_student": "run-7", "main.dim_school": "run-7"}
    note_rebuilding(publish_config, ["main.dim_school"], "run-8")
    publish_warehouse(publish_config.build_warehouse_path, published, "run-8")
    assert json.loads(versions_path(published).read_text()) == {"main.dim_student": "run-7", "main.dim_school": "run-8"}


def test_an_edfi_api_recipient_is_always_built(publish_config: DistrictConfig) -> None:
    """What the ODS holds can change without the warehouse (a restored ODS, refused records)."""
    release(publish_config)
    _publish_versions(publish_config)
    assert extract_inputs(publish_config, "state_ods") is None
    assert extract_inputs(publish_config, "reading_vendor") is not None


def _only(warehouse: Path, keep: tuple[str, ...], copy: Path) -> Path:
    """A copy of `warehouse` holding only the tables (schema.name) in `keep`."""
    shutil.copyfile(warehouse, copy)
    with duckdb.connect(str(copy)) as con:
        relations = con.execute(
            "select table_schema, table_name, table_type from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
        for schema, name, kind in sorted(relations, key=lambda r: r[2] != "VIEW"):  # views first
            if f"{schema}.{name}" not in keep:
                con.execute(f'drop {"view" if kind == "VIEW" else "table"} "{schema}"."{name}"')
        assert {
            f"{s}.{n}"
            for s, n in con.execute(
                "select table_schema, table_name from information_schema.tables "
                "where table_catalog = current_database()"
            ).fetchall()
        } == set(keep)
    return copy


def _content(staged: deliver.StagedExtract) -> dict[str, bytes]:
    """What a staged extract holds: each zip's entries, each other file's bytes."""
    content = {}
    for path in [temporary for temporary, _ in staged.staged] + staged.scratch:
        if not path.is_file():
            continue
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                content |= {f"{path.name}/{n}": archive.read(n) for n in archive.namelist()}
        else:
            content[path.name] = path.read_bytes()
    return content


@pytest.mark.parametrize("recipient", ["learning_app", "reading_vendor", "university_study", "state_ods"])
def test_an_extract_built_from_only_its_declared_tables_is_the_same(
    publish_config: DistrictConfig, recipient: str, tmp_path: Path
) -> None:
    whole = publish_config.build_warehouse_path
    declared = TABLES_READ[publish_config.recipients[recipient].format]
    reduced = _only(whole, declared, tmp_path / "only_declared.duckdb")
    staged = deliver.stage_extract(publish_config, recipient, warehouse=whole, now=MOMENT)
    expected = _content(staged)
    staged.discard()
    staged = deliver.stage_extract(publish_config, recipient, warehouse=reduced, now=MOMENT)
    try:
        assert staged.ok, staged.refusal()
        assert expected and _content(staged) == expected
    finally:
        staged.discard()


def _publish_versions(config: DistrictConfig, **changed: str) -> None:
    """The published warehouse's table versions: every table at run-1, but `changed`."""
    with duckdb.connect(str(config.published_warehouse_path), read_only=True) as con:
        tables = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_catalog = current_database()"
        ).fetchall()
    versions = {table: changed.get(table.replace(".", "__"), "run-1") for (table,) in tables}
    versions_path(config.published_warehouse_path).write_text(json.dumps(versions))


def _materialize(config: DistrictConfig, name: str):
    asset = build_recipient_asset(config, name, config.recipients[name], upstream=[AssetKey("published_warehouse")])
    instance = DagsterInstance.ephemeral()
    result = materialize([asset], raise_on_error=False, instance=instance)
    messages = [entry.user_message for entry in instance.all_logs(result.run_id)]
    return result, len(result.get_asset_materialization_events()), messages


def _deliveries(config: DistrictConfig) -> int:
    """Deliveries recorded in the audit log (a row per file)."""
    log = read_audit_log(config.data_dir).to_pylist()
    return len({entry["delivery_id"] for entry in log if entry["status"] == "delivered"})


def test_a_recipient_whose_tables_were_not_rebuilt_is_not_built_again(
    publish_config: DistrictConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    release(publish_config)
    _publish_versions(publish_config)
    result, materialized, _ = _materialize(publish_config, "reading_vendor")
    assert result.success and materialized == 1 and _deliveries(publish_config) == 1

    # Nothing it reads was rebuilt: the step ends before building anything.
    _publish_versions(publish_config, main__mart_student_attendance="run-2")
    result, materialized, messages = _materialize(publish_config, "reading_vendor")
    assert result.success and materialized == 0
    assert any("not built again (its last delivery stands)" in message for message in messages)

    # A table it reads was rebuilt: built and checked again (the same roster, so nothing delivered).
    _publish_versions(publish_config, main__mart_student_attendance="run-2", main__dim_student="run-3")
    result, materialized, _ = _materialize(publish_config, "reading_vendor")
    assert result.success and materialized == 1
    assert {e.check_name for e in result.get_asset_check_evaluations()} == {"oneroster_valid", "within_agreement"}
    assert _deliveries(publish_config) == 1

    # The same tables under another agreement: built again.
    raw = yaml.safe_load((publish_config.data_dir / "district.yaml").read_text())
    raw["recipients"]["reading_vendor"]["grades"] = ["03", "04"]
    (publish_config.data_dir / "district.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    narrower = load_config(publish_config.data_dir / "district.yaml")
    result, materialized, _ = _materialize(narrower, "reading_vendor")
    assert result.success and materialized == 1 and _deliveries(narrower) == 2

    # A step that fails forgets what the last delivery was built from: the next one builds.
    _publish_versions(narrower, main__mart_student_attendance="run-2", main__dim_student="run-4")

    def unreadable(*args, **kwargs):
        raise OSError("the published warehouse could not be read")

    monkeypatch.setattr(recipients, "stage_extract", unreadable)
    result, _, _ = _materialize(narrower, "reading_vendor")
    assert not result.success
    monkeypatch.undo()
    _publish_versions(narrower, main__mart_student_attendance="run-2", main__dim_student="run-3")
    result, materialized, _ = _materialize(narrower, "reading_vendor")
    assert result.success and materialized == 1


def test_a_removed_delivery_state_or_a_check_alone_builds_the_extract(publish_config: DistrictConfig) -> None:
    release(publish_config)
    _publish_versions(publish_config)
    for _ in range(2):
        result, materialized, _ = _materialize(publish_config, "learning_app")
        assert result.success
    assert materialized == 0  # the second: nothing it reads was rebuilt
    # The delivery state removed, to send the recipient everything again: built and delivered.
    state_path(publish_config.data_dir, "learning_app", "oneroster_12").unlink()
    result, materialized, _ = _materialize(publish_config, "learning_app")
    assert result.success and materialized == 1 and _deliveries(publish_config) == 2
    # Its checks alone are not run apart from building the extract.
    asset = build_recipient_asset(
        publish_config, "learning_app", publish_config.recipients["learning_app"], [AssetKey("published_warehouse")]
    )
    result = materialize([asset], selection=AssetSelection.checks_for_assets(asset), raise_on_error=False)
    assert not result.success and _deliveries(publish_config) == 2


def test_without_published_versions_every_extract_is_built(publish_config: DistrictConfig) -> None:
    release(publish_config)
    for _ in range(2):
        result, materialized, _ = _materialize(publish_config, "reading_vendor")
        assert result.success and materialized == 1
