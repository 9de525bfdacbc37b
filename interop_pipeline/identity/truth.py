"""Scoring against generator truth (the demo and tests only; a real district has none).

`records_from_truth` / `staff_records_from_truth` build the person records a run would see
straight from the generator's `system_students` / `system_staff` (the spine from its students or
staff, keyed by person_id); `score_against_truth` gives each source system's precision and recall
and, for students, the twin merges.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from interop_pipeline.identity.records import RECORD_COLUMNS


def records_from_truth(students: pa.Table, system_students: pa.Table, systems: list[str] | None = None) -> pa.Table:
    """Student person records: the SIS's from the truth's students, every other system's from
    `system_students`."""
    return _person_records(
        """select 'sis' as source_system, sourced_id as source_id, person_id as person_key, local_id as sis_id,
               state_id, first_name, middle_name, last_name, birth_date, email, username as login_id,
               grade_level, school_sourced_id as school_id""",
        """select system, system_person_id, null, sis_id, state_id, first_name, middle_name, last_name, birth_date,
               email, login_id, grade_level, school_sourced_id""",
        students,
        system_students,
        systems,
    )


def staff_records_from_truth(staff: pa.Table, system_staff: pa.Table, systems: list[str] | None = None) -> pa.Table:
    """Staff person records: the SIS's from the truth's staff (staff ID as the SIS ID), every
    other system's from `system_staff`."""
    return _person_records(
        """select 'sis' as source_system, sourced_id as source_id, person_id as person_key, staff_id as sis_id,
               null::varchar as state_id, first_name, null::varchar as middle_name, last_name,
               null::date as birth_date, email, username as login_id, null::varchar as grade_level,
               school_sourced_id as school_id""",
        """select system, system_person_id, null, sis_id, null, first_name, null, last_name, null, email, login_id,
               null, school_sourced_id""",
        staff,
        system_staff,
        systems,
    )


def _person_records(
    spine_select: str, others_select: str, people: pa.Table, system_people: pa.Table, systems: list[str] | None
) -> pa.Table:
    """`spine_select` over the truth's people (`t`) and `others_select` over every other system's
    records of them (`s`, only `systems` if given), in RECORD_COLUMNS."""
    con = duckdb.connect()
    con.register("t", people)
    con.register("s", system_people)
    only = f"where system in ({', '.join(repr(x) for x in systems)})" if systems else ""
    unioned = con.sql(f"{spine_select} from t union all {others_select} from s {only}")
    return unioned.to_arrow_table().select(list(RECORD_COLUMNS))


def score_against_truth(crosswalk: pa.Table, people: pa.Table, system_people: pa.Table) -> pa.Table:
    """Per source system: records, links made, correct links, precision, recall, twin merges
    (a record linked to the twin of its true person; students only, staff have no birth date)."""
    con = duckdb.connect()
    con.register("x", crosswalk)
    con.register("t", people)
    con.register("s", system_people)
    twins = (
        """select a.person_id, b.person_id as twin_id from t a join t b
              on a.birth_date = b.birth_date and a.last_name = b.last_name and a.grade_level = b.grade_level
             and a.school_sourced_id = b.school_sourced_id and a.person_id <> b.person_id"""
        if "birth_date" in people.column_names
        else "select null::varchar as person_id, null::varchar as twin_id where false"
    )
    return con.sql(
        f"""
        with truth as (
            select system as source_system, system_person_id as source_id, person_id from s
            union all select 'sis', sourced_id, person_id from t
        ),
        twins as ({twins}),
        scored as (
            select x.source_system, x.person_key, truth.person_id,
                x.person_key = truth.person_id as correct,
                exists (select 1 from twins w where w.person_id = truth.person_id and w.twin_id = x.person_key) as twin
            from x join truth using (source_system, source_id)
        )
        select source_system, count(*) as records, count(person_key) as linked,
            count(*) filter (where correct) as correct,
            coalesce(count(*) filter (where correct) / nullif(count(person_key), 0), 1.0) as precision,
            count(*) filter (where correct) / count(*) as recall,
            count(*) filter (where twin) as twin_merges
        from scored group by source_system order by source_system
        """
    ).to_arrow_table()
