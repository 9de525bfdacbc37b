"""LMS truth: courses mirror sections in the LMS of their school level, coursework and grades
are coherent and realistic, and the same seed gives the same LMS."""

from __future__ import annotations

from datetime import date

import duckdb
import pytest

from interop_pipeline.simulators.district import generate_district
from interop_pipeline.simulators.lms import LMS_BY_LEVEL, lms_truth


@pytest.fixture(scope="module")
def tables():
    district = generate_district(
        1500, 21, district_code="test-usd", lea_id="0600009", year_start=date(2025, 8, 18), year_end=date(2026, 6, 5)
    )
    out = district.tables()
    out.update(lms_truth(out, 21))
    return out


@pytest.fixture(scope="module")
def con(tables):
    connection = duckdb.connect()
    for name, table in tables.items():
        connection.register(name, table)
    return connection


def test_every_section_is_one_course_in_the_lms_of_its_school_level(con):
    rows = con.execute(
        """select s.level, c.lms, count(*) from sections x
           join schools s on s.sourced_id = x.school_sourced_id
           left join lms_courses c on c.section_sourced_id = x.sourced_id
           group by all"""
    ).fetchall()
    assert {(level, lms) for level, lms, _ in rows} == set(LMS_BY_LEVEL.items())
    assert con.execute("select count(*) = count(distinct section_sourced_id) from lms_courses").fetchone()[0]


def test_enrolments_follow_the_roster_as_each_lms_knows_it(con):
    # Every LMS student enrolment is a section enrolment of a person that LMS has an account for.
    orphans = con.execute(
        """select count(*) from lms_enrollments e
           where e.role = 'student' and not exists (
               select 1 from section_enrollments s join lms_courses c on c.section_sourced_id = s.section_sourced_id
               where c.lms_course_id = e.lms_course_id and s.person_id = e.person_id)
              or not exists (select 1 from lms_users u where u.lms = e.lms and u.lms_user_id = e.lms_user_id)"""
    ).fetchone()[0]
    assert orphans == 0
    # Canvas's roster has gaps (a few students missing), Google's sis ids are mostly absent.
    canvas_blank_sis = con.execute(
        "select avg((sis_user_id is null)::int) from lms_users where lms = 'canvas' and role = 'student'"
    ).fetchone()[0]
    assert 0 < canvas_blank_sis < 0.2


def test_submissions_are_realistic_and_within_enrolment(con):
    missing, late, score = con.execute(
        "select avg(missing::int), avg(late::int), avg(score / points_possible) from lms_submissions"
    ).fetchone()
    assert 0.03 < missing < 0.12 and 0.05 < late < 0.2 and 0.7 < score < 0.9
    outside = con.execute(
        """select count(*) from lms_submissions s join lms_assignments a using (lms_assignment_id)
           join lms_enrollments e using (lms_enrollment_id)
           where a.due_at::date < e.begin_date or a.due_at::date > coalesce(e.end_date, date '2026-06-05')"""
    ).fetchone()[0]
    assert outside == 0
    assert con.execute("select count(*) from lms_submissions where missing and score is not null").fetchone()[0] == 0


def test_current_grade_is_the_score_over_graded_work(con):
    mismatches = con.execute(
        """with computed as (
               select lms_enrollment_id, round(100 * sum(score) / sum(points_possible), 2) as score
               from lms_submissions where state = 'graded' group by 1)
           select count(*) from lms_enrollments e join computed c using (lms_enrollment_id)
           where abs(e.current_score - c.score) > 0.011"""  # numpy rounds half to even
    ).fetchone()[0]
    assert mismatches == 0


def test_same_seed_same_lms(tables):
    again = lms_truth(tables, 21)
    for name, table in again.items():
        assert table.equals(tables[name]), name
