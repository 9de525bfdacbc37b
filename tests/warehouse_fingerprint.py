"""A warehouse's content, table by table, for comparing two builds of the same data."""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb

# Left out of the comparison: what differs between two runs of the same data by the clock alone.
# dbt_scd_id is dbt's own hash of a snapshot row's key and timestamp.
CLOCK_COLUMNS = ("batch_id", "dbt_scd_id", "_age_hours")


def fingerprint(database: Path) -> dict[str, tuple[int, str]]:
    """Every table of the warehouse: its row count and a hash of its rows, without the columns
    that differ by the clock alone (timestamps, batch ids, ages)."""
    tables = {}
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute("select table_schema, table_name from information_schema.tables order by all").fetchall()
        for schema, table in names:
            columns = con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            kept = [
                f'"{name}"'
                for name, kind in columns
                if not kind.startswith("TIMESTAMP") and not any(c in name for c in CLOCK_COLUMNS)
            ]
            rows = con.execute(f'select {", ".join(kept) or "1"} from "{schema}"."{table}"').fetchall()
            digest = hashlib.sha256("\n".join(sorted(map(repr, rows))).encode()).hexdigest()
            tables[f"{schema}.{table}"] = (len(rows), digest)
    return tables
