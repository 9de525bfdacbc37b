"""The attendance marts reconcile with the generator's truth: chronic absence under every
configured definition, recomputed in Python from truth, equals the warehouse's counts (before
suppression, and in every cell the shareable mart publishes); ADM, programs and data quality
match too."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from tests.warehouse import truth_attendance as truth


def _school_ids(built) -> dict[str, str]:
    return dict(built.rows("select school_key, sis_school_id from dim_school"))


@pytest.mark.parametrize("by_school", [False, True], ids=["district", "school"])
def test_chronic_absence_counts_equal_the_truth_for_every_definition(built_district, by_school):
    config = built_district.config
    schools = _school_ids(built_district)
    level = "school" if by_school else "district"
    assert len(config.business_rules.chronic_absence) == 3
    for definition in config.business_rules.chronic_absence:
        expected = truth.chronic_counts(config.truth_dir, definition, by_school)
        rows = built_district.rows(
            "select school_key, grade_level, students_measured, students_chronically_absent "
            "from int_chronic_absence__aggregated "
            "where definition_name = ? and reporting_level = ? and subgroup = 'all_students'",
            [definition.name, level],
        )
        found = {(schools.get(school), grade): (n, chronic) for school, grade, n, chronic in rows}
        assert found == expected, definition.name
        # The shareable mart publishes the same figures wherever it publishes any.
        published = built_district.rows(
            "select school_key, grade_level, students_measured, students_chronically_absent "
            "from mart_chronic_absenteeism where definition_name = ? and reporting_level = ? "
            "and subgroup = 'all_students' and not is_suppressed",
            [definition.name, level],
        )
        assert published, definition.name
        for school, grade, n, chronic in published:
            assert (n, chronic) == expected[(schools.get(school), grade)]


def test_district_rate_is_near_the_national_profile(built_district):
    (rate,) = built_district.rows(
        "select chronic_absenteeism_rate from mart_chronic_absenteeism where definition_name = 'federal' "
        "and school_key is null and grade_level = 'all' and subgroup = 'all_students'"
    )[0]
    assert 0.15 < rate < 0.40


def test_suppressed_cells_hide_counts_and_rates_and_every_small_cell_is_suppressed(built_district):
    min_n = built_district.config.business_rules.suppression_min_n
    leaks = built_district.rows(
        "select count(*) from mart_chronic_absenteeism where is_suppressed and "
        "(students_measured is not null or students_chronically_absent is not null "
        "or chronic_absenteeism_rate is not null)"
    )
    assert leaks == [(0,)]
    unsuppressed_small = built_district.rows(
        "select count(*) from mart_chronic_absenteeism m join int_chronic_absence__aggregated c "
        "on m.chronic_absenteeism_key = c.cell_id where c.students_measured < ? and not m.is_suppressed",
        [min_n],
    )
    assert unsuppressed_small == [(0,)]
    reasons = dict(built_district.rows("select suppression_reason, count(*) from mart_chronic_absenteeism group by 1"))
    assert reasons.get("small_cell", 0) > 0 and reasons.get("complementary", 0) > 0


def test_student_attendance_days_equal_the_truth(built_district):
    config = built_district.config
    expected = truth.student_days(config.truth_dir, by_school=False)
    person = {
        sourced_id: person_id
        for sourced_id, person_id in (
            (s["sourced_id"], s["person_id"]) for s in pq.read_table(config.truth_dir / "students.parquet").to_pylist()
        )
    }
    rows = built_district.rows(
        "select d.sis_student_id, a.days_enrolled, a.days_absent, a.excused_days_absent "
        "from mart_student_attendance a join dim_student d using (student_key) "
        "where a.reporting_level = 'district' and a.definition_name = 'federal'"
    )
    found = {(person[sis_id], None): (n, absent, excused) for sis_id, n, absent, excused in rows}
    assert found == {key: (d.enrolled, d.absent, d.excused) for key, d in expected.items()}


def test_ada_adm_add_up_to_the_enrolled_and_present_days(built_district):
    expected = truth.student_days(built_district.config.truth_dir, by_school=True)
    (enrolled, present) = built_district.rows(
        "select sum(student_days_enrolled), sum(student_days_present) from mart_school_ada_adm"
    )[0]
    assert enrolled == sum(d.enrolled for d in expected.values())
    assert present == pytest.approx(sum(d.enrolled - d.absent for d in expected.values()))
    for ada, adm, days in built_district.rows(
        "select average_daily_attendance, average_daily_membership, instructional_days from mart_school_ada_adm"
    ):
        assert 0 < ada < adm and days > 100


def test_program_participation_and_history_match_the_sis_flags(built_district):
    students = pq.read_table(built_district.config.truth_dir / "students.parquet").to_pylist()
    flags = {
        "idea": "idea",
        "section_504": "section_504",
        "english_learner": "english_learner",
        "economically_disadvantaged": "economically_disadvantaged",
        "homeless": "homeless",
    }
    counts = dict(
        built_district.rows("select program_code, count(*) from fct_program_participation where is_current group by 1")
    )
    assert counts == {code: sum(bool(s[column]) for s in students) for code, column in flags.items()}
    start = built_district.config.school_year.start
    assert built_district.rows("select distinct begin_date, begin_date_basis from fct_program_participation") == [
        (start, "school_year_start")
    ]
    assert built_district.rows(
        "select count(*), count(distinct student_key) from dim_student_history where is_current"
    ) == [(len(students), len(students))]


def test_early_warning_flags_follow_the_configured_thresholds(built_district):
    rules = built_district.config.business_rules.early_warning
    rows = built_district.rows(
        "select attendance_rate, days_enrolled, attendance_risk_level, attendance_thresholds_fired "
        "from mart_early_warning"
    )
    assert len(rows) == pq.read_table(built_district.config.truth_dir / "students.parquet").num_rows
    for rate, days, level, fired in rows:
        if days < rules.min_days_enrolled:
            assert level == "not_measured"
        elif rate < rules.attendance_rate_severe:
            assert level == "severe" and f"attendance_rate < {rules.attendance_rate_severe}" in fired
        elif rate < rules.attendance_rate_at_risk:
            assert level == "at_risk" and f"attendance_rate < {rules.attendance_rate_at_risk}" in fired


def test_data_quality_counts_landed_rows_and_extract_times(built_district):
    truth_events = pq.read_table(built_district.config.truth_dir / "attendance_events.parquet").num_rows
    rows = built_district.rows(
        "select rows_landed, rows_rejected, batches, last_successful_extract_at, unmapped_codes "
        "from mart_data_quality where source_system = 'sis_attendance' and entity = 'daily_attendance'"
    )
    assert len(rows) == 1
    landed, rejected, batches, last_extract, unmapped = rows[0]
    assert (landed, rejected, unmapped) == (truth_events, 0, 0)
    assert batches >= 10 and last_extract is not None
    sources = {source for (source,) in built_district.rows("select distinct source_system from mart_data_quality")}
    assert {"oneroster_csv", "nwea_map", "iready", "sis_attendance", "state_assessment"} <= sources
