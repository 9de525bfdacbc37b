"""A day's new attendance file updates fct_student_daily_attendance incrementally, and the rows
equal a full refresh's exactly.

A small generated district is landed as the pipeline lands it, except its last monthly SIS
attendance export, and built in full. Then one new export arrives: that month's days (new dates)
and corrections of earlier days (other codes, and absences on days that were present). The
build mode is chosen from the recorded inputs as the first dbt step chooses it (incremental),
the fact is built without --full-refresh, and its rows are compared, every column, with a full
refresh of the same inputs."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv

from interop_pipeline.config import DistrictConfig, load_config
from interop_pipeline.simulators.generate import write_district
from interop_pipeline.simulators.vendor_files import ATTENDANCE_HEADER, _deliver
from interop_pipeline.transform.dbt import full_refresh_args
from interop_pipeline.transform.unchanged import (
    BuildMode,
    build_inputs,
    choose_build_mode,
    record_build_inputs,
)
from tests.conftest import write_config
from tests.district_build import land_everything, prepare_build, run_dbt

STUDENTS = 80
SEED = 13
FACT = "fct_student_daily_attendance"
CORRECTED = {"A": "E", "E": "A", "H": "A", "T": "A"}


def _fact(config: DistrictConfig) -> list[tuple]:
    with duckdb.connect(str(config.build_warehouse_path), read_only=True) as con:
        return con.execute(f"select * from main.{FACT}").fetchall()


def _columns(config: DistrictConfig) -> list[str]:
    with duckdb.connect(str(config.build_warehouse_path), read_only=True) as con:
        return [row[0] for row in con.execute(f"describe main.{FACT}").fetchall()]


def _build(config: DistrictConfig, target: Path, run_id: str, mode: BuildMode, inputs: dict) -> None:
    """The first dbt step's part that builds the fact: the record of this run, then dbt build
    with --full-refresh unless the record says incremental."""
    record_build_inputs(config, inputs, run_id, mode)
    prepare_build(config)
    selection = ("--select", f"+{FACT}", "--indirect-selection", "cautious")
    run = run_dbt(config, target, "build", *full_refresh_args(config, run_id), *selection)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]


def _new_export(config: DistrictConfig, held: Path, earlier: Path) -> pa.Table:
    """The held-back month's rows, plus corrections of an earlier month: changed codes, and an
    absence on days that were present. Written as the SIS simulator writes its exports."""
    rows = _read_export(held).to_pylist()
    corrections = [
        {**row, "Att_Code": CORRECTED[row["Att_Code"]]}
        for row in _read_export(earlier).to_pylist()[:40]
        if row["Att_Code"] in CORRECTED
    ]
    assert len(corrections) >= 20
    with duckdb.connect(str(config.build_warehouse_path), read_only=True) as con:
        present = con.execute(
            f"""
            select s.local_student_id, c.state_school_id, strftime(f.calendar_date, '%m/%d/%Y')
            from main.{FACT} f
            join main.dim_student s using (student_key)
            join main.dim_school c using (school_key)
            where f.attendance_code is null and f.calendar_date < (select min(strptime("Att_Date", '%m/%d/%Y'))
                from read_csv('{held}', all_varchar = true))
            order by f.student_daily_attendance_key
            limit 10
            """
        ).fetchall()
    assert len(present) == 10
    template = next(row for row in rows if row["Att_Code"] == "A")
    absences = [
        {**template, "Student_Number": student, "School_ID": school, "Att_Date": day}
        for student, school, day in present
    ]
    export = pa.Table.from_pylist(rows + corrections + absences).select(ATTENDANCE_HEADER)
    sink = pa.BufferOutputStream()
    pacsv.write_csv(export, sink)
    delivered = date.fromtimestamp(held.stat().st_mtime)
    _deliver(config.drop_folder(config.sources["sis_attendance"]) / held.name, sink.getvalue().to_pybytes(), delivered)
    return export


def _read_export(path: Path) -> pa.Table:
    return pacsv.read_csv(
        path, convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(ATTENDANCE_HEADER, pa.string()))
    )


# The fact's rows of the student-days an export names, with the export's code for the day.
NAMED_DAYS = f"""
    select f.student_daily_attendance_key, f.attendance_code, f.attendance_batch_id, export.att_code
    from main.{FACT} f
    join main.dim_student s using (student_key)
    join main.dim_school c using (school_key)
    {{join}} export
        on export.student_number = s.local_student_id
        and export.school_id = c.state_school_id
        and strptime(export.att_date, '%m/%d/%Y')::date = f.calendar_date
"""


def test_a_new_attendance_file_is_built_incrementally_as_a_full_refresh_would(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, students=STUDENTS, seed=SEED))
    write_district(config, students=STUDENTS, seed=SEED)
    drop = config.drop_folder(config.sources["sis_attendance"])
    exports = sorted(drop.glob("attendance_*.csv"))
    held = tmp_path / exports[-1].name
    shutil.move(exports[-1], held)
    land_everything(config)
    target = tmp_path / "dbt_target"
    now = datetime.now(UTC)  # one time for both comparisons: no source goes stale in between

    # The first build: no record of an earlier one, so in full.
    inputs = build_inputs(config, now)
    first = choose_build_mode(None, inputs, rebuild_asked=False, last_run_trouble=None)
    assert not first.incremental
    _build(config, target, "run-1", first, inputs)
    before = _fact(config)
    assert _columns(config)[-1] == "attendance_batch_id"

    # One new export lands: the next run's build is incremental.
    export = _new_export(config, held, exports[-2]).rename_columns([c.lower() for c in ATTENDANCE_HEADER])
    land_everything(config)
    previous = json.loads(config.build_warehouse_path.with_name("build_inputs.json").read_text())
    inputs = build_inputs(config, now)
    mode = choose_build_mode(previous, inputs, rebuild_asked=False, last_run_trouble=None)
    assert mode.incremental, mode.reason
    assert "1 new batch of sis_attendance daily_attendance" in mode.sentence()

    where = "where student_daily_attendance_key = ?"
    # A day the new file does not name is changed in the table by hand: an incremental build
    # keeps it as it is (a full one would put it back).
    with duckdb.connect(str(config.build_warehouse_path)) as con:
        con.register("export", export)
        named = {row[0] for row in con.execute(NAMED_DAYS.format(join="join")).fetchall()}
        key, code = con.execute(
            f"select student_daily_attendance_key, attendance_code from main.{FACT} "
            "where student_daily_attendance_key not in (select unnest(?::varchar[])) order by 1 limit 1",
            [sorted(named)],
        ).fetchone()
        con.execute(f"update main.{FACT} set attendance_code = 'kept' {where}", [key])
    _build(config, target, "run-2", mode, inputs)
    compiled = (target / "run" / "interop_warehouse" / "models" / "marts" / "core" / f"{FACT}.sql").read_text()
    assert "delete from" in compiled.lower()  # dbt ran the model's delete+insert
    with duckdb.connect(str(config.build_warehouse_path)) as con:
        assert con.execute(f"select attendance_code from main.{FACT} {where}", [key]).fetchone() == ("kept",)
        con.execute(f"update main.{FACT} set attendance_code = ? {where}", [code, key])
        # The new file took effect: new days, corrected codes, absences where days were present,
        # each day from the new batch.
        con.register("export", export)
        days = con.execute(NAMED_DAYS.format(join="join")).fetchall()
    new_batches = {row[2] for row in days} - {row[-1] for row in before}
    assert len(new_batches) == 1
    assert len(days) == len(named) > len(export) // 2
    assert all(row[1] == row[3] and row[2] in new_batches for row in days)
    incremental = _fact(config)
    assert len(incremental) == len(before)  # the same enrolled days; events change, not days

    # A full refresh of the same inputs builds the same rows, every column.
    _build(config, target, "run-3", BuildMode(False, "compared"), inputs)
    compiled = (target / "run" / "interop_warehouse" / "models" / "marts" / "core" / f"{FACT}.sql").read_text()
    assert "delete from" not in compiled.lower()
    assert Counter(_fact(config)) == Counter(incremental)
    assert Counter(incremental) != Counter(before)
