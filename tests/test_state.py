"""A state's districts: two generated districts (the fewest that show each one kept apart), each
run on its own through the CLI, then one state warehouse and a copy per district holding only
that district's rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
import yaml

from interop_pipeline.assets.release import table_counts
from interop_pipeline.config import ConfigError, load_config, load_state_config
from tests.conftest import write_config

CODES = ("north-usd", "south-usd")


def _district(folder: Path, code: str, seed: int) -> str:
    folder.mkdir()
    path = write_config(folder, students=60, seed=seed)
    raw = yaml.safe_load(path.read_text())
    raw["district"].update(code=code, name=f"{code.split('-')[0].title()} Unified")
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return f"{folder.name}/district.yaml"


def _state(folder: Path, districts: list[str], **extra) -> Path:
    path = folder / "state.yaml"
    raw = {"state": {"code": "ca-network", "name": "A network of districts"}, "districts": districts}
    path.write_text(yaml.safe_dump({**raw, "output": {"data_dir": "state"}, **extra}))
    return path


def _counts(database: Path, column: str = "district_code") -> dict[str, dict[str, int]]:
    """Rows per district code of every table that has one."""
    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute(
            "select table_schema, table_name from information_schema.columns where column_name = ? order by all",
            [column],
        ).fetchall()
        return {
            f"{schema}.{table}": dict(
                con.execute(f'select {column}, count(*) from "{schema}"."{table}" group by all').fetchall()
            )
            for schema, table in tables
        }


@pytest.fixture(scope="module")
def state_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("state")
    districts = [_district(folder / code, code, seed) for code, seed in zip(CODES, (3, 5), strict=True)]
    path = _state(folder, districts)
    env = {k: v for k, v in os.environ.items() if k != "INTEROP_DISTRICT_CONFIG"}
    result = subprocess.run(
        [sys.executable, "-m", "interop_pipeline.cli", "state", "--config", str(path), "--generate", "--simulate"],
        capture_output=True,
        text=True,
        env=env,
        timeout=1200,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return load_state_config(path), result


def test_the_state_warehouse_holds_every_districts_release_and_nothing_else(state_run):
    state, result = state_run
    combined = _counts(state.warehouse_path)
    assert combined["main.dim_student"].keys() == set(CODES)
    for district in state.district_configs:
        code = district.district.code
        # Every row of a district's release is in the state warehouse under its code, once
        # (table_counts names tables of the main schema without it; the code sets are shared).
        released = {
            name if "." in name else f"main.{name}": rows
            for name, rows in table_counts(district.published_warehouse_path).items()
            if not name.startswith("reference.")
        }
        assert {name: combined[name].get(code, 0) for name in released} == released
    assert all(count >= 60 for count in combined["main.dim_student"].values())
    assert "2 districts" in result.stdout


def test_each_district_copy_holds_only_its_own_rows(state_run):
    state, _ = state_run
    combined = _counts(state.warehouse_path)
    for code in CODES:
        copy = state.district_copy_path(code)
        assert oct(copy.stat().st_mode & 0o777) == oct(0o600)
        own = _counts(copy)
        assert own.keys() == combined.keys()
        for table, by_code in own.items():
            assert set(by_code) <= {code}, table
            assert by_code.get(code, 0) == combined[table].get(code, 0), table
        # Every table but the shared code sets is told apart by district.
        with duckdb.connect(str(copy), read_only=True) as con:
            without_code = con.execute(
                "select table_schema, table_name from information_schema.tables t where not exists (select 1 from "
                "information_schema.columns c where c.table_schema = t.table_schema and c.table_name = t.table_name "
                "and c.column_name = 'district_code')"
            ).fetchall()
            tables = con.execute("select count(*) from information_schema.tables").fetchone()[0]
        assert without_code and all(schema == "reference" for schema, _ in without_code), without_code
        assert tables == len(own) + len(without_code) > 100


def test_no_person_is_linked_across_districts(state_run):
    state, _ = state_run
    with duckdb.connect(str(state.warehouse_path), read_only=True) as con:
        shared = con.execute(
            """select count(*) from (
                   select person_key from student_identity_xwalk group by person_key
                   having count(distinct district_code) > 1)"""
        ).fetchone()[0]
        students = con.execute("select count(*), count(distinct student_key) from dim_student").fetchone()
    assert shared == 0
    assert students[0] == students[1]


def test_a_state_config_refuses_shared_codes_and_cross_district_matching(tmp_path: Path):
    first = _district(tmp_path / "a", "same-usd", 1)
    second = _district(tmp_path / "b", "same-usd", 2)
    with pytest.raises(ConfigError, match="share the district code same-usd"):
        load_state_config(_state(tmp_path, [first, second]))
    load_config(tmp_path / first)  # each district config on its own is valid
    with pytest.raises(ConfigError, match="cross_district_matching"):
        load_state_config(_state(tmp_path, [first], cross_district_matching=True))
