"""Attendance and assessment truth: realistic rates, coherent with enrolment, correlated."""

from datetime import date

import duckdb
import numpy as np
import pytest

from interop_pipeline.simulators.district import generate_district

YEAR = {"year_start": date(2025, 8, 18), "year_end": date(2026, 6, 5)}


@pytest.fixture(scope="module")
def district():
    return generate_district(4000, 9, district_code="test-usd", lea_id="0600009", **YEAR)


@pytest.fixture(scope="module")
def con(district):
    connection = duckdb.connect()
    for name, table in district.tables().items():
        connection.register(name, table)
    return connection


def test_attendance_events_fall_on_enrolled_instructional_days(con):
    outside = con.execute(
        """select count(*) from attendance_events a
           where not exists (select 1 from school_enrollments s
                             where s.person_id = a.person_id and s.school_sourced_id = a.school_sourced_id
                               and a.attendance_date between s.entry_date and coalesce(s.exit_date, date '2026-06-05'))
              or not exists (select 1 from calendar c
                             where c.calendar_date = a.attendance_date and c.is_instructional)"""
    ).fetchone()[0]
    assert outside == 0


def test_chronic_absence_is_a_skewed_minority_near_the_national_rate(con):
    chronic, attendance_rate = con.execute(
        """with enrolled as (
               select s.person_id, count(*) as days
               from school_enrollments s join calendar c
                 on c.is_instructional
                 and c.calendar_date between s.entry_date and coalesce(s.exit_date, date '2026-06-05')
               group by 1),
           absent as (
               select person_id, sum(case code when 'H' then 0.5 when 'T' then 0 else 1 end) as days
               from attendance_events group by 1)
           select avg(case when coalesce(a.days, 0) >= 0.1 * e.days then 1.0 else 0 end),
                  1 - sum(coalesce(a.days, 0)) / sum(e.days)
           from enrolled e left join absent a using (person_id)"""
    ).fetchone()
    assert 0.2 <= chronic <= 0.36
    assert 0.9 <= attendance_rate <= 0.95


def test_scores_rise_with_grade_and_agree_across_vendors(con):
    by_grade = con.execute(
        """select s.grade_level, avg(m.rit) from map_results m join students s using (person_id)
           where m.season = 'Fall' group by 1 order by 1"""
    ).fetchall()
    means = dict(by_grade)
    assert means["KG"] < means["03"] < means["08"]
    assert 130 < min(means.values()) and max(means.values()) < 270
    correlation = con.execute(
        """select corr(m.percentile, i.percentile) from map_results m join iready_results i
           on m.person_id = i.person_id and m.season = i.season and m.subject = 'Reading' and i.subject = 'ELA'"""
    ).fetchone()[0]
    assert correlation > 0.6
    scores = con.execute("select min(scale_score), max(scale_score) from iready_results").fetchone()
    assert 100 <= scores[0] and scores[1] <= 800


def test_students_are_tested_only_while_enrolled_and_in_their_window(con):
    bad = con.execute(
        """select count(*) from map_results m
           where not exists (select 1 from school_enrollments s where s.person_id = m.person_id
                             and s.school_sourced_id = m.school_sourced_id
                             and m.test_date between s.entry_date and coalesce(s.exit_date, date '2026-06-05'))"""
    ).fetchone()[0]
    assert bad == 0
    seasons = dict(con.execute("select season, min(month(test_date)) from map_results group by 1").fetchall())
    assert seasons == {"Fall": 9, "Winter": 1, "Spring": 5}


def test_activity_does_not_change_the_roster_for_a_seed():
    small = generate_district(300, 4, district_code="t", lea_id="1", **YEAR)
    again = generate_district(300, 4, district_code="t", lea_id="1", **YEAR)
    assert small.students.equals(again.students)
    assert small.attendance_events.equals(again.attendance_events)
    assert np.array_equal(small.map_results["rit"].to_numpy(), again.map_results["rit"].to_numpy())
