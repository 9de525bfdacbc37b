"""Person records: the one shape every source's students and staff take before linking.

A person record is one system's record of one person (`source_system`, `source_id`). Records of
the spine system (the SIS) carry their `person_key`; every other record is to be linked to one.
Values are normalised here once, in DuckDB, for the rules and the model alike: names lower-case
letters only (accents folded, nicknames reduced to the formal name), IDs trimmed and without
leading zeros (a spreadsheet drops them), emails lower-case.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from interop_pipeline.identity.nicknames import nickname_pairs

RECORD_COLUMNS = (
    "source_system",
    "source_id",
    "person_key",  # spine records only
    "sis_id",
    "state_id",
    "first_name",
    "middle_name",
    "last_name",
    "birth_date",
    "email",
    "login_id",
    "grade_level",
    "school_id",
)


def empty_records() -> pa.Table:
    return pa.table({c: pa.array([], pa.date32() if c == "birth_date" else pa.string()) for c in RECORD_COLUMNS})


def load_normalised(con: duckdb.DuckDBPyConnection, records: pa.Table, spine_system: str) -> None:
    """Create `records` (every record, numbered `record_id`, with normalised columns) in `con`."""
    missing = set(RECORD_COLUMNS) - set(records.column_names)
    if missing:
        raise ValueError(f"person records lack columns: {', '.join(sorted(missing))}")
    con.register("raw_records", records.select(list(RECORD_COLUMNS)))
    con.execute("create or replace table nicknames (nickname varchar, formal varchar)").fetchall()
    con.executemany("insert into nicknames values (?, ?)", nickname_pairs()).fetchall()
    con.execute(
        f"""
        create or replace table records as
        with cleaned as (
            select
                row_number() over (order by source_system, source_id) as record_id,
                source_system,
                source_id,
                person_key,
                source_system = '{spine_system}' as is_spine,
                nullif(ltrim(trim(sis_id), '0'), '') as sis_id_norm,
                lower(trim(sis_id)) as sis_id_text,
                nullif(ltrim(trim(state_id), '0'), '') as state_id_norm,
                nullif(regexp_replace(lower(strip_accents(trim(first_name))), '[^a-z]', '', 'g'), '') as first_raw,
                nullif(regexp_replace(lower(strip_accents(trim(middle_name))), '[^a-z]', '', 'g'), '') as middle_norm,
                nullif(regexp_replace(lower(strip_accents(trim(last_name))), '[^a-z]', '', 'g'), '') as last_norm,
                list_filter(
                    str_split_regex(lower(strip_accents(trim(last_name))), '[^a-z]+'), lambda x: length(x) > 1
                ) as last_parts,
                cast(birth_date as date) as birth_date,
                nullif(lower(trim(email)), '') as email_norm,
                nullif(lower(trim(login_id)), '') as login_norm,
                nullif(upper(trim(grade_level)), '') as grade,
                nullif(trim(school_id), '') as school
            from raw_records
        )
        select
            cleaned.*,
            coalesce(nicknames.formal, cleaned.first_raw) as first_norm,
            strftime(cleaned.birth_date, '%m%d%Y') as birth_text
        from cleaned
        left join nicknames on nicknames.nickname = cleaned.first_raw
        """
    ).fetchall()
    con.unregister("raw_records")
