"""Helpers for REST connector tests: what the landing zone says an entity holds now, and the
OneRoster REST channel staged beside the CSV channel of the same roster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from interop_pipeline.config import PROJECT_ROOT

DBT = Path(sys.executable).parent / "dbt"
# Entities both OneRoster channels stage in the same shape (roles are compared on their own).
ONEROSTER_SHARED = ["orgs", "academic_sessions", "courses", "classes", "users", "enrollments", "demographics"]
ROLE_COLUMNS = "user_sourced_id, org_sourced_id, role, role_type, begin_date, end_date"


def landed_current_records(landing_root: Path, source_system: str, entity: str) -> dict[str, dict]:
    """record_key → payload of the entity's current records, by the same rule as the dbt macro
    api_current_records: committed batches from the newest full walk on, the last fetched
    version of each key wins, tombstones remove the key."""
    system = Path(landing_root) / source_system
    rows = duckdb.sql(
        f"""
        with landed as (
            select * from read_parquet('{system / entity}/*.parquet', union_by_name = true)
            where _batch_id in (select batch_id from read_parquet('{system}/_batches/*.parquet'))
        ),
        in_effect as (
            select * from landed
            where _batch_id >= coalesce((select max(_batch_id) from landed where extract_mode = 'full'), '')
        ),
        latest as (
            select *, row_number() over (partition by record_key order by _batch_id desc, fetch_seq desc) as rank
            from in_effect
        )
        select record_key, record_json from latest where rank = 1 and record_state = 'active'
        """
    ).fetchall()
    return {key: json.loads(payload) for key, payload in rows}


def landed_row_count(landing_root: Path, source_system: str, entity: str) -> int:
    path = Path(landing_root) / source_system / entity
    return duckdb.sql(f"select count(*) from read_parquet('{path}/*.parquet')").fetchone()[0]


def stage_both_oneroster_channels(landing: Path, workdir: Path) -> Path:
    """dbt builds the staging models of the REST (`oneroster_api`) and CSV (`oneroster_csv`)
    channels over `landing`; returns the warehouse file."""
    warehouse = workdir / "build.duckdb"
    env = {**os.environ, "INTEROP_LANDING_DIR": str(landing), "INTEROP_WAREHOUSE_PATH": str(warehouse)}
    target = workdir / "target"
    run = subprocess.run(
        [str(DBT), "build", "--select", "staging.oneroster_api", "staging.oneroster_csv", "xwalk_sex"]
        + ["--exclude", "stg_oneroster_csv__deletions", "--indirect-selection", "cautious"]
        + ["--target-path", str(target)]
        + ["--log-path", str(target / "logs"), "--project-dir", str(PROJECT_ROOT / "dbt_project")]
        + ["--profiles-dir", str(PROJECT_ROOT / "dbt_project")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return warehouse


def staged_columns(con: duckdb.DuckDBPyConnection, model: str) -> list[tuple[str, str]]:
    return con.execute(
        "select column_name, data_type from information_schema.columns "
        "where table_schema = 'staging' and table_name = ? order by ordinal_position",
        [model],
    ).fetchall()


def staged_rows(con: duckdb.DuckDBPyConnection, model: str) -> set[tuple]:
    """A staging model's rows, without the columns that say where and when a row came from."""
    names = [c for c, _ in staged_columns(con, model) if c not in ("batch_id", "source_ref")]
    return set(con.execute(f"select {', '.join(names)} from staging.{model}").fetchall())
