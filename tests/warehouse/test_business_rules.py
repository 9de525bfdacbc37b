"""Business rules are district settings: validated in the config, passed to dbt as vars, with the
project's defaults equal to the demo district's; snapshots get their own Dagster group."""

from __future__ import annotations

import pytest
import yaml

from interop_pipeline.config import DEFAULT_CONFIG_PATH, PROJECT_ROOT, ConfigError, load_config
from interop_pipeline.transform.dbt import WarehouseTranslator, dbt_vars
from tests.test_config import _write


def test_demo_config_defines_the_required_chronic_absence_definitions():
    rules = load_config(DEFAULT_CONFIG_PATH).business_rules
    by_name = {d.name: d for d in rules.chronic_absence}
    assert (by_name["federal"].min_absence_rate, by_name["federal"].min_days_enrolled) == (0.10, 10)
    assert (by_name["california"].min_absence_rate, by_name["california"].min_days_enrolled) == (0.10, 31)
    assert by_name["fifteen_days"].min_days_absent == 15 and by_name["fifteen_days"].min_absence_rate is None
    assert rules.suppression_min_n == 10
    assert rules.attendance.absent_day_fraction["sis_attendance"]["H"] == 0.5


def test_dbt_project_defaults_are_the_demo_district_rules():
    """A hand-run `dbt build` computes what the pipeline computes for the demo district."""
    project_vars = yaml.safe_load((PROJECT_ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    passed = dbt_vars(load_config(DEFAULT_CONFIG_PATH))
    assert {key: project_vars[key] for key in passed} == passed


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda raw: raw["business_rules"]["chronic_absence"].append(
                {"name": "both", "min_absence_rate": 0.1, "min_days_absent": 10}
            ),
            "set exactly one of min_absence_rate or min_days_absent",
        ),
        (
            lambda raw: raw["business_rules"]["chronic_absence"].append({"name": "federal", "min_days_absent": 10}),
            "names must be unique",
        ),
        (
            lambda raw: raw["business_rules"]["chronic_absence"].append({"name": "Bad Name", "min_days_absent": 3}),
            "name",
        ),
        (
            lambda raw: raw["business_rules"]["attendance"]["absent_day_fraction"]["sis_attendance"].update(A=2),
            "between 0 and 1",
        ),
        (lambda raw: raw["business_rules"].update(suppression_min_n=0), "suppression_min_n"),
        (lambda raw: raw["business_rules"]["early_warning"].update(attendance_rate_severe=0.95), "must not exceed"),
    ],
)
def test_invalid_business_rules_are_named(tmp_path, mutate, expected):
    path = _write(tmp_path, mutate)
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert "business_rules" in str(error.value) and expected in str(error.value)


def test_translator_groups_snapshots_as_warehouse_history():
    translator = WarehouseTranslator()
    snapshot = {
        "resource_type": "snapshot",
        "original_file_path": "snapshots/_snapshots.yml",
        "name": "snap_student_programs",
    }
    analytics = {"resource_type": "model", "original_file_path": "models/marts/analytics/mart_early_warning.sql"}
    assert translator.get_group_name(snapshot) == "warehouse_history"
    assert translator.get_group_name(analytics) == "warehouse_analytics"
