"""The per-recipient Dagster asset, materialized for real: checks reported, files delivered; a
failing check fails the step and delivers nothing."""

from __future__ import annotations

import pytest
from dagster import AssetCheckSeverity, AssetKey, materialize

from interop_pipeline.assets.publish.recipients import build_recipient_asset
from interop_pipeline.config import DistrictConfig
from interop_pipeline.publish import deliver
from interop_pipeline.publish.validator import Issue, Report
from tests.publish.conftest import release


def asset_for(config: DistrictConfig, name: str):
    release(config)  # the asset reads the released copy
    return build_recipient_asset(config, name, config.recipients[name], upstream=[AssetKey("published_warehouse")])


def test_asset_delivers_and_reports_its_checks(publish_config: DistrictConfig) -> None:
    result = materialize([asset_for(publish_config, "reading_vendor")], raise_on_error=False)
    assert result.success
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"oneroster_valid": True, "within_agreement": True}
    [bundle] = publish_config.delivery_folder(publish_config.recipients["reading_vendor"]).iterdir()
    assert bundle.name.startswith("reading_vendor_oneroster11_bulk_")


def test_asset_with_a_failing_check_delivers_nothing(
    publish_config: DistrictConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deliver, "validate_bundle", lambda path: Report([Issue("orgs.csv", 2, "field.enum", "type")]))
    result = materialize([asset_for(publish_config, "reading_vendor")], raise_on_error=False)
    assert not result.success
    folder = publish_config.delivery_folder(publish_config.recipients["reading_vendor"])
    assert list(folder.iterdir()) == []
    # The UI shows which check refused the delivery, and why (file, row and rule).
    evaluations = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert {name: e.passed for name, e in evaluations.items()} == {"oneroster_valid": False, "within_agreement": True}
    refused = evaluations["oneroster_valid"]
    assert refused.severity == AssetCheckSeverity.ERROR
    assert "orgs.csv row 2: field.enum" in refused.metadata["detail"].value
