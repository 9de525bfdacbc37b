"""A new district's first run has dbt parse the project while its sources land
(transform/dbt.py parse_ahead): the first dbt step starts from that parse, so dbt parses nothing
again, instead of parsing the whole project for the district's vars and profile."""

from __future__ import annotations

import shutil
from pathlib import Path

from dagster_dbt.core.dbt_cli_invocation import PARTIAL_PARSE_FILE_NAME

from interop_pipeline.config import DistrictConfig
from interop_pipeline.transform.dbt import (
    PARSE_AHEAD_LOCK,
    PARSED_AHEAD,
    dbt_target_dir,
    parse_ahead,
    take_parsed_ahead,
)
from tests.district_build import run_dbt

NOTHING_PARSED_AGAIN = "Partial parsing enabled, no changes found, skipping parsing"


def test_the_first_dbt_step_starts_from_the_parse_made_ahead(district_config: DistrictConfig, tmp_path: Path) -> None:
    target = dbt_target_dir(district_config)
    with parse_ahead(district_config):
        take_parsed_ahead(district_config)  # what a dbt step does first: waits for the parse
        assert (target / PARTIAL_PARSE_FILE_NAME).exists()
        assert not (target / PARSED_AHEAD).exists()

    # dbt as a dbt step runs it (this district's vars and environment), from that state.
    step = tmp_path / "step"
    step.mkdir()
    shutil.copy(target / PARTIAL_PARSE_FILE_NAME, step)
    done = run_dbt(district_config, step, "parse", "--debug")
    assert done.returncode == 0, done.stdout[-3000:]
    assert NOTHING_PARSED_AGAIN in done.stdout, done.stdout[-3000:]


def test_a_district_with_a_saved_parse_starts_no_parse(district_config: DistrictConfig) -> None:
    target = dbt_target_dir(district_config)
    target.mkdir(parents=True)
    (target / PARTIAL_PARSE_FILE_NAME).write_bytes(b"kept by the last dbt step")
    with parse_ahead(district_config):
        assert not (target / PARSE_AHEAD_LOCK).exists()
        take_parsed_ahead(district_config)
    assert (target / PARTIAL_PARSE_FILE_NAME).read_bytes() == b"kept by the last dbt step"
