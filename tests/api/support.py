"""Helpers for REST connector tests: what the landing zone says an entity holds now."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb


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
