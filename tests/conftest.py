"""Shared fixtures: small districts written to real folders, with their own config file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from interop_pipeline.config import DEFAULT_CONFIG_PATH, DistrictConfig, load_config


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
