"""Person records: the one shape every source's students and staff take before linking.

A person record is one system's record of one person (`source_system`, `source_id`). Records of
the spine system (the SIS) carry their `person_key`; every other record is to be linked to one.
Values are normalised here once, in DuckDB, for the rules and the model alike: names lower-case
letters only (accents folded, nicknames reduced to the formal name), IDs trimmed and without
leading zeros (a spreadsheet drops them), emails lower-case.

A birth date may come as a date or as text: text that is a calendar date is read as one, and
text that is not (month 13, 31 June, a typed slip) is kept as its digits, month-day-year, so the
model still compares it. Address, phone and guardian name are optional (`OPTIONAL_COLUMNS`): a
source that has them passes them, normalised here (street words abbreviated the postal way, ZIP+4
cut to the ZIP, phone digits without a leading country code 1); a source that has not leaves them
out or null, and the model compares only what both sides carry.
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
OPTIONAL_COLUMNS = ("street_address", "city", "postal_code", "phone", "guardian_name")
# Street words as the postal services abbreviate them, so "12 Oak Street" is "12 oak st".
STREET_WORDS = {
    "street": "st",
    "road": "rd",
    "avenue": "ave",
    "drive": "dr",
    "lane": "ln",
    "court": "ct",
    "place": "pl",
    "boulevard": "blvd",
    "circle": "cir",
    "crescent": "cres",
    "terrace": "ter",
    "highway": "hwy",
    "parkway": "pkwy",
    "apartment": "apt",
    "north": "n",
    "south": "s",
    "east": "e",
    "west": "w",
}


def empty_records() -> pa.Table:
    return pa.table({c: pa.array([], pa.date32() if c == "birth_date" else pa.string()) for c in RECORD_COLUMNS})


def _text_norm(column: str) -> str:
    """Lower-case letters and digits, one space between words."""
    return f"nullif(trim(regexp_replace(lower(strip_accents(trim({column}))), '[^a-z0-9]+', ' ', 'g')), '')"


def _street_norm(column: str) -> str:
    words = f"str_split({_text_norm(column)}, ' ')"
    mapped = "case w " + " ".join(f"when '{k}' then '{v}'" for k, v in STREET_WORDS.items()) + " else w end"
    return f"nullif(array_to_string(list_transform({words}, lambda w: {mapped}), ' '), '')"


def load_normalised(con: duckdb.DuckDBPyConnection, records: pa.Table, spine_system: str) -> None:
    """Create `records` (every record, numbered `record_id`, with normalised columns) in `con`."""
    missing = set(RECORD_COLUMNS) - set(records.column_names)
    if missing:
        raise ValueError(f"person records lack columns: {', '.join(sorted(missing))}")
    for column in OPTIONAL_COLUMNS:
        if column not in records.column_names:
            records = records.append_column(column, pa.nulls(records.num_rows, pa.string()))
    con.register("raw_records", records.select([*RECORD_COLUMNS, *OPTIONAL_COLUMNS]))
    con.execute("create or replace table nicknames (nickname varchar, formal varchar)").fetchall()
    con.executemany("insert into nicknames values (?, ?)", nickname_pairs()).fetchall()
    street, city, guardian = _street_norm("street_address"), _text_norm("city"), _text_norm("guardian_name")
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
                nullif(trim(cast(birth_date as varchar)), '') as birth_raw,
                nullif(lower(trim(email)), '') as email_norm,
                nullif(lower(trim(login_id)), '') as login_norm,
                nullif(upper(trim(grade_level)), '') as grade,
                nullif(trim(school_id), '') as school,
                {street} as street_norm,
                {city} as city_norm,
                nullif(regexp_replace(upper(trim(postal_code)), '[^0-9A-Z]', '', 'g'), '') as postal_raw,
                nullif(regexp_replace(trim(phone), '[^0-9]', '', 'g'), '') as phone_raw,
                {guardian} as guardian_norm
            from raw_records
        ),
        dated as (
            select cleaned.*, try_cast(birth_raw as date) as birth_date,
                regexp_replace(birth_raw, '[^0-9]', '', 'g') as birth_digits
            from cleaned
        )
        select
            dated.* exclude (birth_raw, birth_digits, postal_raw, phone_raw),
            coalesce(nicknames.formal, dated.first_raw) as first_norm,
            -- A calendar date as month-day-year digits; text that is not one, the same way when
            -- it is year-month-day or month/day/year, else its digits as typed.
            case
                when birth_date is not null then strftime(birth_date, '%m%d%Y')
                when regexp_matches(birth_raw, '^[0-9]{{4}}[^0-9]?[0-9]{{2}}[^0-9]?[0-9]{{2}}$')
                    then substr(birth_digits, 5, 4) || substr(birth_digits, 1, 4)
                when regexp_matches(birth_raw, '^[0-9]{{1,2}}[/.-][0-9]{{1,2}}[/.-][0-9]{{4}}$')
                    then lpad(split_part(regexp_replace(birth_raw, '[.-]', '/', 'g'), '/', 1), 2, '0')
                      || lpad(split_part(regexp_replace(birth_raw, '[.-]', '/', 'g'), '/', 2), 2, '0')
                      || split_part(regexp_replace(birth_raw, '[.-]', '/', 'g'), '/', 3)
                else nullif(birth_digits, '')
            end as birth_text,
            case when regexp_matches(postal_raw, '^[0-9]{{9}}$') then left(postal_raw, 5) else postal_raw end
                as postal_norm,
            case when length(phone_raw) = 11 and phone_raw like '1%' then substr(phone_raw, 2) else phone_raw end
                as phone_norm
        from dated
        left join nicknames on nicknames.nickname = dated.first_raw
        """
    ).fetchall()
    con.unregister("raw_records")
