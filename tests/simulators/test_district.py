"""The synthetic district is deterministic, coherent and drawn at the configured rates."""

import shutil
from datetime import date

import numpy as np
import pyarrow.compute as pc
import pytest

from interop_pipeline import cli
from interop_pipeline.config import ConfigError, GeneratorRates, load_config
from interop_pipeline.connectors.landing import BATCHES_DIR
from interop_pipeline.simulators.calendar import build_calendar, us_school_holidays
from interop_pipeline.simulators.district import GRADES, LEVELS, generate_district
from interop_pipeline.simulators.generate import write_district
from tests.conftest import write_config

YEAR = {"year_start": date(2025, 8, 18), "year_end": date(2026, 6, 5)}


@pytest.fixture(scope="module")
def district():
    return generate_district(6000, 3, district_code="test-usd", lea_id="0600009", **YEAR)


def test_calendar_has_the_configured_instructional_days_and_none_on_weekends_or_holidays():
    calendar = build_calendar(date(2025, 8, 18), date(2026, 6, 5), 180, "d")
    days = calendar.instructional_days
    assert len(days) == 180
    assert days[0] == np.datetime64("2025-08-18") and days[-1] == np.datetime64("2026-06-05")
    weekdays = (days.view("int64") - 4) % 7
    assert (weekdays < 5).all()
    holidays = {np.datetime64(d) for d in us_school_holidays(2025)}
    assert not holidays & set(days.tolist())
    assert np.datetime64("2025-11-27") not in set(days)  # Thanksgiving
    sessions = calendar.sessions.to_pylist()
    assert [s["type"] for s in sessions].count("gradingPeriod") == 4
    assert all(s["school_year"] == 2026 for s in sessions)


def test_same_seed_same_district_different_seed_different(tmp_path, district_config):
    first = write_district(district_config, students=200, seed=5, out_dir=tmp_path / "a").drops["oneroster_csv"]
    again = write_district(district_config, students=200, seed=5, out_dir=tmp_path / "b").drops["oneroster_csv"]
    other = write_district(district_config, students=200, seed=6, out_dir=tmp_path / "c").drops["oneroster_csv"]
    assert first.read_bytes() == again.read_bytes()
    assert first.read_bytes() != other.read_bytes()


def test_truth_is_written_apart_from_the_system_drop(tmp_path, district_config):
    generated = write_district(district_config, students=150, seed=1, out_dir=tmp_path)
    assert {p.name for p in generated.truth_dir.glob("*.parquet")} >= {
        "students.parquet",
        "schools.parquet",
        "school_enrollments.parquet",
        "section_enrollments.parquet",
    }
    assert generated.drops["oneroster_csv"].parent == tmp_path / "drops" / "sis"
    assert not list(generated.drops["oneroster_csv"].parent.glob("*.parquet"))


def test_identifiers_are_unique_and_carry_no_personal_data(district):
    students = district.students
    for column in ("person_id", "sourced_id", "local_id", "state_id", "email"):
        assert pc.count_distinct(students[column]).as_py() == students.num_rows, column
    assert all(len(s) == 32 for s in students["sourced_id"].to_pylist()[:50])
    assert pc.count_distinct(district.sections["sourced_id"]).as_py() == district.sections.num_rows


def test_rates_follow_the_district_profile(district):
    students = district.students
    n = students.num_rows
    rates = GeneratorRates()
    share = lambda column: pc.sum(students[column]).as_py() / n  # noqa: E731
    assert share("idea") == pytest.approx(rates.idea, abs=0.02)
    assert share("english_learner") == pytest.approx(rates.english_learner, abs=0.02)
    assert share("economically_disadvantaged") == pytest.approx(0.5, abs=0.03)
    assert share("homeless") == pytest.approx(rates.homeless, abs=0.01)
    # Homeless students are categorically economically disadvantaged; IDEA and 504 never overlap.
    homeless = students.filter(students["homeless"])
    assert pc.all(homeless["economically_disadvantaged"]).as_py()
    assert not pc.any(pc.and_(students["idea"], students["section_504"])).as_py()
    hispanic = pc.sum(pc.equal(students["race_ethnicity"], "HispanicOrLatino")).as_py() / n
    assert hispanic == pytest.approx(0.28, abs=0.03)


def test_birth_dates_fit_the_grade(district):
    students = district.students.to_pylist()
    for student in students[:2000]:
        grade = list(GRADES).index(student["grade_level"])
        age_on_sept_1 = (date(2025, 9, 1) - student["birth_date"]).days / 365.25
        assert 5 + grade - 0.05 <= age_on_sept_1 <= 7 + grade + 0.05


def test_enrolment_spells_are_coherent(district):
    spells = district.school_enrollments.to_pylist()
    by_student: dict[str, list[dict]] = {}
    for spell in spells:
        by_student.setdefault(spell["person_id"], []).append(spell)
        assert spell["exit_date"] is None or spell["exit_date"] >= spell["entry_date"]
    assert len(by_student) == district.students.num_rows  # every student enrolled somewhere
    level_of = dict(zip(district.schools["sourced_id"].to_pylist(), district.schools["level"].to_pylist(), strict=True))
    transfers = [s for s in by_student.values() if len(s) == 2]
    assert transfers, "a 6000-student district has transfers"
    for first, second in transfers:
        assert first["exit_type"] == "transfer_out" and second["entry_type"] == "transfer_in"
        assert first["school_sourced_id"] != second["school_sourced_id"]
        assert level_of[first["school_sourced_id"]] == level_of[second["school_sourced_id"]]
        assert first["exit_date"] < second["entry_date"]
    entry_types = {s["entry_type"] for s in spells}
    assert entry_types == {"start_of_year", "mid_year_entry", "transfer_in"}
    assert "withdrawal" in {s["exit_type"] for s in spells}


def test_schools_sized_by_level_and_sections_balanced_with_a_teacher_of_the_school(district):
    levels = district.schools["level"].to_pylist()
    assert set(levels) == set(LEVELS)
    sections = district.sections.to_pylist()
    staff_school = dict(
        zip(district.staff["person_id"].to_pylist(), district.staff["school_sourced_id"].to_pylist(), strict=True)
    )
    for section in sections:
        assert staff_school[section["teacher_person_id"]] == section["school_sourced_id"]
    sizes = np.bincount(
        pc.index_in(
            district.section_enrollments["section_sourced_id"], value_set=district.sections["sourced_id"]
        ).to_numpy()
    )
    assert sizes.max() <= GeneratorRates().section_size + 2
    # Section enrolments lie inside the student's school spell.
    spell_dates = {(s["person_id"], s["school_sourced_id"]): s for s in district.school_enrollments.to_pylist()}
    for row in district.section_enrollments.slice(0, 3000).to_pylist():
        spell = spell_dates[(row["person_id"], row["school_sourced_id"])]
        assert row["begin_date"] == spell["entry_date"] and row["end_date"] == spell["exit_date"]


def test_a_different_district_is_not_generated_over_one_already_landed(tmp_path, capsys):
    """Regenerating the same district is fine; another size or seed over landed data is refused
    with the fix, by the command too, and goes through once the data is removed."""
    config_path = write_config(tmp_path, students=40)
    config = load_config(config_path)
    write_district(config, students=40, seed=3)
    landed = config.landing_dir / "sis_attendance" / BATCHES_DIR / "batch-1.parquet"
    landed.parent.mkdir(parents=True)
    landed.write_bytes(b"PAR1")
    write_district(config, students=40, seed=3)  # the same one again: nothing to mix
    with pytest.raises(ConfigError, match=r"40 students \(seed 3\), landed and built; generating 60 students"):
        write_district(config, students=60, seed=3)
    assert cli.main(["generate", "--config", str(config_path), "--students", "40", "--seed", "4"]) == 2
    assert "make clean" in capsys.readouterr().err
    shutil.rmtree(config.landing_dir)
    write_district(config, students=60, seed=3)
