"""dbt's unit tests of the business rules (models/**/_*__unit_tests.yml): the refresh leaves them
out (transform/dbt.py PRODUCTION_ARGS), so they run here, against the shared district's build."""

from __future__ import annotations

import json

from tests.district_build import run_dbt
from tests.warehouse.conftest import BuiltDistrict


def test_every_dbt_unit_test_passes(built_district: BuiltDistrict) -> None:
    target = built_district.target.parent / "dbt_unit_tests"
    run = run_dbt(built_district.config, target, "test", "--select", "test_type:unit")
    assert run.returncode == 0, run.stdout[-6000:]
    results = json.loads((target / "run_results.json").read_text())["results"]
    unit_tests = [r for r in results if r["unique_id"].startswith("unit_test.")]
    assert len(unit_tests) >= 6 and {r["status"] for r in unit_tests} == {"pass"}
