"""Shared fixtures: small districts written to real folders, with their own config file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interop_pipeline.config import DEFAULT_CONFIG_PATH, DistrictConfig, load_config
from tests.hub_fixture import run_hub, write_hub_district


def write_config(folder: Path, *, students: int, seed: int = 11) -> Path:
    """A copy of the demo config whose data lives in `folder`."""
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["output"]["data_dir"] = "."
    raw["demo"] = {"students": students, "seed": seed}
    for source in raw["sources"].values():  # declarations stay where the demo keeps them
        if "declarations" in source:
            source["declarations"] = [str(DEFAULT_CONFIG_PATH.parent / p) for p in source["declarations"]]
    path = folder / "district.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


@pytest.fixture
def district_config(tmp_path: Path) -> DistrictConfig:
    return load_config(write_config(tmp_path, students=300))


@pytest.fixture(scope="session")
def hub_run(tmp_path_factory: pytest.TempPathFactory):
    """The hub district (tests/hub_fixture.py) after one uninterrupted run: its config and the
    run's output. Read by the hub end-to-end tests, and the chaos test's uninterrupted twin."""
    config_path = write_hub_district(tmp_path_factory.mktemp("hub_district"))
    result = run_hub(config_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return load_config(config_path), result


# `make test` spreads the suite over three workers on two cores (pytest-xdist, --dist loadgroup):
# the runs a test starts wait now and then (on a simulator, a sensor, a killed run), and a third
# worker keeps both cores busy meanwhile (93% of the machine's CPU used with two, 98% with
# three). Tests that share an expensive fixture stay on one worker: a folder whose conftest builds
# one district for the session, or one module's tests (module fixtures: a whole pipeline run,
# say). Modules of independent, individually slow cases are spread test by test.
SHARED_DISTRICT_FOLDERS = {"warehouse", "publish"}
INDEPENDENT_CASES = {"test_source_matrix.py"}
# Modules that share one session fixture (hub_run above) run on one worker, as one group.
SHARED_RUN_GROUPS = {"test_chaos.py": "hub_district", "test_hub_district_e2e.py": "hub_district"}
# The longest groups (whole pipeline runs, districts built once) are handed out first, in this
# order, so no worker is left with one of them at the end while the others idle (make test
# passes --no-loadscope-reorder, which keeps this order instead of sorting groups by test count).
LONGEST_FIRST = (
    "test_pipeline_e2e.py",
    "test_chaos.py",
    "test_dagster_ui.py",
    "warehouse",
    "publish",
    "test_state.py",
)
TESTS_DIR = Path(__file__).resolve().parent


# tryfirst: xdist reads the groups in its own collection hook, so they must be marked before it.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        top = Path(str(item.path)).resolve().relative_to(TESTS_DIR).parts[0]
        return LONGEST_FIRST.index(top) if top in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the rest keep their order
    for item in items:
        relative = Path(str(item.path)).resolve().relative_to(TESTS_DIR)
        if relative.parts[0] in SHARED_DISTRICT_FOLDERS:
            group = relative.parts[0]
        elif relative.name in INDEPENDENT_CASES:
            group = item.nodeid
        elif relative.name in SHARED_RUN_GROUPS:
            group = SHARED_RUN_GROUPS[relative.name]
        else:
            group = str(relative)
        item.add_marker(pytest.mark.xdist_group(group))
