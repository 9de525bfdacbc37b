"""Each system's view of every person: the columns other components read, the noise at the
configured rates, and the hard negatives identity resolution must keep apart."""

import io
import zipfile
from datetime import date

import duckdb
import pyarrow.parquet as pq
import pytest

from interop_pipeline.config import GeneratorRates
from interop_pipeline.simulators.district import generate_district
from interop_pipeline.simulators.generate import write_district
from interop_pipeline.simulators.identities import STAFF_COLUMNS, STUDENT_COLUMNS

YEAR = {"year_start": date(2025, 8, 18), "year_end": date(2026, 6, 5)}


@pytest.fixture(scope="module")
def district():
    return generate_district(5000, 11, district_code="test-usd", lea_id="0600009", **YEAR)


def test_tables_have_the_agreed_columns_and_one_row_per_system_and_person(district):
    assert tuple(district.system_students.column_names[: len(STUDENT_COLUMNS)]) == STUDENT_COLUMNS
    assert tuple(district.system_staff.column_names[: len(STAFF_COLUMNS)]) == STAFF_COLUMNS
    assert str(district.system_students.schema.field("birth_date").type) == "date32[day]"
    con = duckdb.connect()
    con.register("s", district.system_students)
    con.register("f", district.system_staff)
    assert (
        con.execute(
            "select count(*) from (select system, person_id from s group by all having count(*) > 1)"
        ).fetchone()[0]
        == 0
    )
    assert (
        con.execute(
            "select count(*) from (select system, system_person_id from s group by all having count(*) > 1)"
        ).fetchone()[0]
        == 0
    )
    systems = {r[0] for r in con.execute("select distinct system from s").fetchall()}
    assert systems == {"nwea_map", "iready", "state_assessment", "canvas", "google_classroom", "edfi"}
    assert {r[0] for r in con.execute("select distinct system from f").fetchall()} == {
        "canvas",
        "google_classroom",
        "edfi",
        "nwea_map",
    }


def test_noise_reaches_each_system_at_about_the_configured_rates(district):
    rates = GeneratorRates()
    con = duckdb.connect()
    con.register("s", district.system_students)
    con.register("t", district.students)
    per_system = {
        r[0]: r[1:]
        for r in con.execute(
            """select system, count(*), avg((s.first_name <> t.first_name)::int),
                      avg((s.birth_date <> t.birth_date)::int), avg((s.sis_id <> t.local_id)::int),
                      avg((s.first_name is null)::int)
               from s join t using (person_id) group by 1"""
        ).fetchall()
    }
    n = district.students.num_rows
    assert per_system["nwea_map"][0] == pytest.approx(n * (1 - rates.vendor_roster_missing), rel=0.01)
    assert per_system["state_assessment"][0] == n  # the state holds every student
    assert 0.01 < per_system["nwea_map"][1] < 0.06  # nicknames and typos
    assert 0.002 < per_system["nwea_map"][2] < 0.02  # transposed and day/month-swapped birth dates
    assert per_system["nwea_map"][3] == pytest.approx(
        rates.vendor_id_leading_zero_dropped + rates.identity_stale_id, abs=0.01
    )
    assert per_system["google_classroom"][4] == pytest.approx(rates.identity_email_only, abs=0.01)
    assert per_system["edfi"][3] == 0  # Ed-Fi carries the SIS ID as the SIS holds it


def test_twins_and_namesakes_exist_and_are_different_people(district):
    con = duckdb.connect()
    con.register("t", district.students)
    twins = con.execute(
        """select count(*) from t a join t b on a.birth_date = b.birth_date and a.last_name = b.last_name
           and a.grade_level = b.grade_level and a.school_sourced_id = b.school_sourced_id
           and a.person_id < b.person_id"""
    ).fetchone()[0]
    same_given = con.execute(
        """select count(*) from t a join t b on a.birth_date = b.birth_date and a.last_name = b.last_name
           and a.grade_level = b.grade_level and a.person_id < b.person_id and a.first_name = b.first_name"""
    ).fetchone()[0]
    namesakes = con.execute(
        """select count(*) from t a join t b on a.first_name = b.first_name and a.last_name = b.last_name
           and a.grade_level = b.grade_level and a.school_sourced_id <> b.school_sourced_id"""
    ).fetchone()[0]
    assert twins >= 0.8 * 5000 * GeneratorRates().twins / 2
    assert same_given == 0
    assert namesakes >= 5000 * GeneratorRates().same_name_other_school / 2


def test_vendor_files_carry_the_vendor_records(tmp_path, district_config):
    generated = write_district(district_config, students=300, seed=4, out_dir=tmp_path)
    held = pq.read_table(generated.truth_dir / "system_students.parquet")
    assert pq.read_table(generated.truth_dir / "system_staff.parquet").num_rows > 0
    map_zip = next(p for p in generated.vendor_drops["nwea_map"] if "Fall" in p.name)
    roster = zipfile.ZipFile(map_zip).read("StudentsBySchool.csv").decode()
    ids_in_file = {line.split('","')[6] for line in io.StringIO(roster).read().splitlines()[1:]}
    map_ids = {r["system_person_id"] for r in held.to_pylist() if r["system"] == "nwea_map"}
    assert ids_in_file and ids_in_file <= map_ids
    again = write_district(district_config, students=300, seed=4, out_dir=tmp_path / "again")
    assert pq.read_table(again.truth_dir / "system_students.parquet").equals(held)
