"""A state's districts in one warehouse, each district seeing only its own rows.

A state config (config.StateConfig) lists district configs. Each district keeps everything of
its own: sources and drop folders, business rules, identity decisions, recipients, Dagster
instance and warehouse. `run_districts` runs each district's refresh in its own process (one
district's failure stops no other; its last release stands), so every district lands, resolves
identities within itself only and publishes on its own.

`build_state_warehouse` then combines the districts' released warehouses into one file for the
state's analysts: tables unioned by column name, each row with the code of the district it came
from (a table that has no `district_code` column of its own gets one), except the shared code
sets (the `reference` schema, dbt's seeds), kept once. `write_district_copies` gives each
district a file holding only its rows: every table filtered on `district_code`, and the shared
code sets whole.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb

from interop_pipeline.config import StateConfig
from interop_pipeline.publish.roster import limited_memory
from interop_pipeline.publish.state import restrict_to_owner

SHARED_SCHEMAS = ("reference",)  # code crosswalks (dbt seeds): the same for every district


@dataclass
class StateBuild:
    districts: list[str]  # codes of the districts whose released warehouse was combined
    tables: dict[str, int] = field(default_factory=dict)  # state warehouse rows per table


def run_districts(
    state: StateConfig, *, simulate: bool, executor: str, say: Callable[[str], object] = print
) -> dict[str, bool]:
    """Each district's refresh (`interop-pipeline run`) in its own process; success by code."""
    results = {}
    for district in state.district_configs:
        say(f"── {district.district.code}: {district.district.name}")
        command = [sys.executable, "-m", "interop_pipeline.cli", "run", "--config", str(district.config_path)]
        command += ["--executor", executor, *(["--simulate"] if simulate else [])]
        env = {k: v for k, v in os.environ.items() if k != "INTEROP_DISTRICT_CONFIG"}
        results[district.district.code] = subprocess.run(command, env=env).returncode == 0
    return results


def _relations(con: duckdb.DuckDBPyConnection, catalog: str, having_column: str | None = None) -> list[tuple[str, str]]:
    """(schema, table) of every table and view in an attached database (with that column)."""
    if having_column:
        query = "select distinct table_schema, table_name from information_schema.columns where table_catalog = ? "
        return con.execute(query + "and column_name = ? order by all", [catalog, having_column]).fetchall()
    query = "select table_schema, table_name from information_schema.tables where table_catalog = ? order by all"
    return con.execute(query, [catalog]).fetchall()


def _staged(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.partial")
    staged.unlink(missing_ok=True)
    return staged


def build_state_warehouse(state: StateConfig) -> StateBuild:
    """Union every district's released warehouse into the state warehouse, replaced atomically."""
    released = [d for d in state.district_configs if d.published_warehouse_path.exists()]
    build = StateBuild(districts=[d.district.code for d in released])
    if not released:
        raise RuntimeError(f"{state.config_path}: no district has released a warehouse yet")
    staged = _staged(state.warehouse_path)
    try:
        with duckdb.connect(str(staged), config=limited_memory()) as con:
            # (schema, table) → how each district's rows are read, tagged with its code.
            sources: dict[tuple[str, str], list[str]] = {}
            for position, district in enumerate(released):
                alias, code = f"district_{position}", district.district.code
                con.execute(f"attach '{district.published_warehouse_path}' as {alias} (read_only)")
                coded = set(_relations(con, alias, having_column="district_code"))
                for schema, table in _relations(con, alias):
                    tag = "" if (schema, table) in coded or schema in SHARED_SCHEMAS else f", '{code}' as district_code"
                    sources.setdefault((schema, table), []).append(f'select *{tag} from {alias}."{schema}"."{table}"')
            for (schema, table), selects in sources.items():
                con.execute(f'create schema if not exists "{schema}"')
                union = " union by name " if schema in SHARED_SCHEMAS else " union all by name "
                con.execute(f'create table "{schema}"."{table}" as {union.join(selects)}')
                build.tables[table if schema == "main" else f"{schema}.{table}"] = con.execute(
                    f'select count(*) from "{schema}"."{table}"'
                ).fetchone()[0]
            for position in range(len(released)):
                con.execute(f"detach district_{position}")
            con.execute("checkpoint")
        restrict_to_owner(staged)
        os.replace(staged, state.warehouse_path)
    finally:
        staged.unlink(missing_ok=True)
    return build


def write_district_copies(state: StateConfig, build: StateBuild) -> None:
    """Each district's copy of the state warehouse: its own rows, and the shared code sets."""
    for code in build.districts:
        target = state.district_copy_path(code)
        staged = _staged(target)
        try:
            with duckdb.connect(str(staged), config=limited_memory()) as con:
                con.execute(f"attach '{state.warehouse_path}' as state_warehouse (read_only)")
                for schema, table in _relations(con, "state_warehouse"):
                    shared = schema in SHARED_SCHEMAS
                    con.execute(f'create schema if not exists "{schema}"')
                    con.execute(
                        f'create table "{schema}"."{table}" as select * from state_warehouse."{schema}"."{table}"'
                        + ("" if shared else " where district_code = ?"),
                        [] if shared else [code],
                    )
                con.execute("detach state_warehouse")
                con.execute("checkpoint")
            restrict_to_owner(staged)
            os.replace(staged, target)
        finally:
            staged.unlink(missing_ok=True)
