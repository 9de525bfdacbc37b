"""Helpers for REST connector tests: what the landing zone says an entity holds now, and the
OneRoster REST channel staged beside the CSV channel of the same roster."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

# Entities both OneRoster channels stage in the same shape (roles are compared on their own).
ONEROSTER_SHARED = ["orgs", "academic_sessions", "courses", "classes", "users", "enrollments", "demographics"]
ROLE_COLUMNS = "user_sourced_id, org_sourced_id, role, role_type, begin_date, end_date"
# What Faults.all_on() serves on a walk long enough for a token to expire (and "change" where
# records can change), each survived with a retry, not a record.
EVERY_FAULT = frozenset(
    {"throttle", "unavailable", "error", "malformed", "truncate", "slow", "token_unavailable", "token_truncate"}
)


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


def stage_both_oneroster_channels(workdir: Path) -> Path:
    """dbt builds the staging models of the REST (`oneroster_api`) and CSV (`oneroster_csv`)
    channels over the landing zone in workdir/landing; returns the warehouse file."""
    from tests.test_oneroster_csv_staging import dbt_build

    channels = ("staging.oneroster_api", "staging.oneroster_csv", "xwalk_sex")
    return dbt_build(workdir, workdir / "target", *channels, exclude=("stg_oneroster_csv__deletions",))


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
