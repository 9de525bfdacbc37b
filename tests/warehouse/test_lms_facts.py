"""The LMS facts, assessment proficiency and the filled early-warning and data-quality columns on
the shared built district, reconciled with the generator's truth where it has one."""

from __future__ import annotations

import duckdb
import pytest


def _truth(built_district, name: str) -> str:
    return f"read_parquet('{built_district.config.truth_dir / name}.parquet')"


def test_submission_counts_missing_and_late_equal_truth_per_lms(built_district):
    # Both LMSs hide the work of a student whose enrolment was removed: truth restricted likewise.
    expected = duckdb.sql(
        f"""
        select submissions.lms, count(*), sum(submissions.missing::int), sum(submissions.late::int)
        from {_truth(built_district, "lms_submissions")} as submissions
        join {_truth(built_district, "lms_enrollments")} as enrollments using (lms_enrollment_id)
        where enrollments.state = 'active'
        group by 1 order by 1
        """
    ).fetchall()
    held = built_district.rows(
        "select lms, count(*), sum(is_missing::int), sum(is_late::int) from fct_lms_submission group by 1 order by 1"
    )
    assert [lms for lms, *_ in held] == ["canvas", "google_classroom"]
    assert held == expected
    assert all(n > 500 and missing > 0 and late > 0 for _, n, missing, late in held)


def test_submissions_reach_students_and_sections(built_district):
    ((rows, linked, sectioned, right_student),) = built_district.rows(
        f"""
        with truth as (
            select lms, lms_user_id, any_value(person_id) as person_id
            from {_truth(built_district, "lms_submissions")} group by all
        )
        select count(*), count(f.student_key), count(f.section_key),
            count(*) filter (where students.person_id = truth.person_id)
        from fct_lms_submission as f
        join truth on f.lms = truth.lms and f.lms_user_id = truth.lms_user_id
        left join {_truth(built_district, "students")} as students on students.sourced_id = f.person_key
        """
    )
    assert linked == rows and sectioned == rows and right_student == rows
    # Each assignment belongs to the section its LMS course was made from.
    wrong = built_district.rows(
        f"""
        select count(*) from dim_lms_assignment as a
        join {_truth(built_district, "lms_courses")} as c on a.lms = c.lms and a.lms_course_id = c.lms_course_id
        where a.sis_section_id is distinct from c.section_sourced_id
        """
    )
    assert wrong == [(0,)]


def test_course_grades_equal_the_lms_current_scores(built_district):
    expected = dict(
        duckdb.sql(
            f"""
            select lms, count(*) from {_truth(built_district, "lms_enrollments")}
            where role = 'student' and state = 'active' group by 1
            """
        ).fetchall()
    )
    held = dict(built_district.rows("select source_system, count(*) from fct_course_grade group by 1"))
    assert held == expected
    # Google's computed current score is Canvas's rule, so it equals truth's for both LMSs.
    off = built_district.rows(
        f"""
        select count(*) from fct_course_grade as g
        join {_truth(built_district, "lms_enrollments")} as e
            on g.source_system = e.lms and g.lms_course_id = e.lms_course_id and g.lms_user_id = e.lms_user_id
        where e.role = 'student' and abs(coalesce(g.current_score, -1) - coalesce(e.current_score, -1)) > 0.01
        """
    )
    assert off == [(0,)]


def test_assessment_dimension_covers_every_result(built_district):
    assert built_district.rows(
        "select count(*) from fct_assessment_result as r left join dim_assessment using (assessment_key) "
        "where dim_assessment.assessment_key is null"
    ) == [(0,)]
    vendors = dict(built_district.rows("select vendor, count(*) from dim_assessment group by 1"))
    assert vendors == {"nwea_map": 2, "iready": 2, "state_assessment": 2}
    assert built_district.rows(
        "select bool_and(has_configured_cut_scores) from dim_assessment where vendor = 'state_assessment'"
    ) == [(True,)]


def test_state_proficiency_follows_the_configured_cut_scores(built_district):
    cuts = {
        (c.grade_level, level): minimum
        for c in built_district.config.business_rules.proficiency_cut_scores
        for level, minimum in c.level_minimums.items()
    }
    rows = built_district.rows(
        "select grade_level_assessed, scale_score, proficiency_method, is_proficient "
        "from int_assessment_results__scored where vendor = 'state_assessment'"
    )
    assert rows
    for grade, score, method, proficient in rows:
        assert method == "cut_scores"
        assert proficient == (score >= cuts[(grade, "3")]), (grade, score)


@pytest.mark.parametrize("mart", ["mart_assessment_proficiency"])
def test_small_cells_and_their_complements_are_suppressed(built_district, mart):
    min_n = built_district.config.business_rules.suppression_min_n
    with duckdb.connect(str(built_district.warehouse), read_only=True) as con:
        published = con.execute(
            f"select min(students_tested), count(*) filter (where is_suppressed), "
            f"count(*) filter (where is_suppressed and students_tested is not null) from {mart}"
        ).fetchone()
        # A margin group (cells equal on every other dimension) never has exactly one suppressed cell.
        single = con.execute(
            f"""
            select count(*) from (
                select assessment_key, school_year, season, school_key, subgroup
                from {mart} group by all having count(*) filter (where is_suppressed) = 1
                union all
                select assessment_key, school_year, season, grade_level, subgroup
                from {mart} group by all having count(*) filter (where is_suppressed) = 1
                union all
                select assessment_key, school_year, season, school_key, grade_level
                from {mart} where subgroup = 'all_students' or subgroup_type = 'race_ethnicity'
                group by all having count(*) filter (where is_suppressed) = 1
            )
            """
        ).fetchone()
        small = con.execute(
            "select count(*) from int_assessment_proficiency__aggregated where students_tested < ?", [min_n]
        ).fetchone()
    smallest_published, suppressed, leaked = published
    assert smallest_published >= min_n and leaked == 0
    assert small[0] > 0 and suppressed > small[0]  # small cells exist, and complements hide more
    assert single == (0,)


def test_early_warning_fills_coursework_and_assessment_indicators(built_district):
    rules = built_district.config.business_rules.early_warning
    rows = built_district.rows(
        "select failing_course_grades, assignments_due, missing_assignments, is_coursework_flagged, "
        "coursework_thresholds_fired, assessments_below_proficient, assessments_below_percentile, "
        "is_assessment_flagged, assessment_thresholds_fired from mart_early_warning"
    )
    measured = [r for r in rows if r[3] is not None]
    assert len(measured) > len(rows) / 2
    for failing, due, missing, flagged, fired, below, low, assessed_flag, assessed_fired in rows:
        if flagged is not None:
            by_failing = (failing or 0) >= rules.failing_course_grades
            by_missing = (due or 0) >= rules.min_assignments_due and missing >= rules.missing_assignment_rate * due
            assert flagged == (by_failing or by_missing)
            assert (fired is not None) == flagged
        if assessed_flag is not None:
            assert assessed_flag == (below >= rules.assessments_below_proficient or low > 0)
            assert (assessed_fired is not None) == assessed_flag
    assert any(r[3] for r in rows) and any(r[7] for r in rows)
    # The missing counts are fct_lms_submission's.
    assert built_district.rows("select sum(missing_assignments) from mart_early_warning") == built_district.rows(
        "select sum(is_missing::int) from fct_lms_submission where student_key is not null"
    )


def test_data_quality_covers_every_source_and_unresolved_identities(built_district):
    rows = built_district.rows(
        "select source_system, entity, identity_records, unresolved_identities from mart_data_quality"
    )
    sources = {r[0] for r in rows}
    assert {"canvas", "google_classroom", "edfi", "oneroster_api", "nwea_map"} <= sources
    identity = {(s, e): (n, u) for s, e, n, u in rows if e.endswith("_identities")}
    expected = dict(
        built_district.rows(
            "select source_system, count(*) filter (where not is_linked) from student_identity_xwalk "
            "where is_current and source_system <> 'sis' group by 1"
        )
    )
    assert {s: u for (s, e), (n, u) in identity.items() if e == "student_identities"} == expected
    assert identity[("canvas", "student_identities")][0] > 50
