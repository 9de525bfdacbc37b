"""Courses the district org owns (a district course catalog, as rostering hubs export it:
course.orgSourcedId is the district): dim_course keeps them without a school, and every extract
keeps them. A recipient limited to some schools gets every course its classes reference, under
the district org (which its orgs.csv holds), and the bundle passes the validator; Ed-Fi courses
of the district belong to the local education agency, their offerings to the schools of their
sections.

The warehouse is the shared built district with the courses taught at one school moved to the
district org in the SIS's own rows (its staging table), and dim_course and dim_section rebuilt by
a real dbt run, tests included."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.config import DistrictConfig
from interop_pipeline.publish.deliver import publish_recipient
from interop_pipeline.publish.edfi import lea_id_number
from interop_pipeline.publish.validator import validate_bundle
from tests.district_build import run_dbt
from tests.publish.test_edfi_and_research import with_recipient
from tests.publish.test_oneroster_publish import delivered, read

SCHOOL = "org-101"  # the school whose courses become the district's
FIRST = datetime(2025, 9, 1, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def district_course_warehouse(built_district: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A built warehouse whose courses taught at SCHOOL, and one more taught elsewhere, are owned
    by the district org, as the SIS sent them; dim_course and dim_section rebuilt by dbt."""
    from interop_pipeline.config import load_config

    folder = tmp_path_factory.mktemp("district_courses")
    shutil.copyfile(built_district / "district.yaml", folder / "district.yaml")
    (folder / "warehouse").mkdir()
    shutil.copyfile(built_district / "warehouse" / "build.duckdb", folder / "warehouse" / "build.duckdb")
    config = load_config(folder / "district.yaml")
    with duckdb.connect(str(config.build_warehouse_path)) as con:
        [(district_org,)] = con.execute(
            "select org_sourced_id from int_sis__orgs where org_type = 'district'"
        ).fetchall()
        [(staging_courses,)] = con.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_name = 'stg_oneroster_csv__courses'"
        ).fetchall()
        moved = con.execute(
            f"""
            update {staging_courses} set org_sourced_id = ?
            where course_sourced_id in (
                select c.sis_course_id from dim_course as c join dim_school as s using (school_key)
                where s.sis_school_id = ?
                union all
                (select c.sis_course_id from dim_course as c join dim_school as s using (school_key)
                 where s.sis_school_id <> ? order by 1 limit 1)
            )
            """,
            [district_org, SCHOOL, SCHOOL],
        ).fetchone()
        assert moved and moved[0] > 1
    run = run_dbt(
        config, tmp_path_factory.mktemp("dbt_target"), "build", "--quiet", "--select", "dim_course", "dim_section"
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return config.build_warehouse_path


@pytest.fixture
def config(publish_config: DistrictConfig, district_course_warehouse: Path) -> DistrictConfig:
    shutil.copyfile(district_course_warehouse, publish_config.build_warehouse_path)
    return publish_config


def rows(config: DistrictConfig, sql: str) -> list[tuple]:
    with duckdb.connect(str(config.build_warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_dim_course_names_the_org_that_owns_each_course(config: DistrictConfig) -> None:
    owners = rows(
        config,
        "select owner_org_type, is_district_course, school_key is null, sis_org_id = d.sis_district_id, count(*) "
        "from dim_course cross join dim_district as d group by all order by all",
    )
    assert [o[:4] for o in owners] == [("district", True, True, True), ("school", False, False, False)]
    # Every section keeps its course and its school.
    assert rows(config, "select count(*) from dim_section where course_key is null or school_key is null") == [(0,)]
    assert rows(
        config,
        f"select count(*) from dim_section as s join dim_school as sc using (school_key) "
        f"join dim_course as c using (course_key) where sc.sis_school_id = '{SCHOOL}' and not c.is_district_course",
    ) == [(0,)]


def _check_bundle(bundle: Path, district_courses: set[str]) -> set[str]:
    """The classes' courses are all in courses.csv; district courses name the district org,
    which orgs.csv holds; the validator passes. Returns the bundle's course sourcedIds."""
    report = validate_bundle(bundle)
    assert report.ok, report.summary()
    courses = {c["sourcedId"]: c for c in read(bundle, "courses.csv")}
    classes = read(bundle, "classes.csv")
    assert classes and {c["courseSourcedId"] for c in classes} <= set(courses)
    orgs = {o["sourcedId"]: o["type"] for o in read(bundle, "orgs.csv")}
    [district] = [k for k, kind in orgs.items() if kind == "district"]
    owned = {k for k, c in courses.items() if c["orgSourcedId"] == district}
    assert owned and owned <= district_courses
    assert all(orgs[c["orgSourcedId"]] == "school" for k, c in courses.items() if k not in owned)
    return set(courses)


@pytest.mark.parametrize("name", ["reading_vendor", "learning_app"])
def test_school_limited_bundle_holds_the_district_courses_its_classes_reference(
    config: DistrictConfig, name: str
) -> None:
    """OneRoster 1.1 (reading_vendor, one school) and 1.2 (learning_app, limited to the same school)."""
    config = with_recipient(config, name, schools=[SCHOOL], mode="bulk")
    staged = publish_recipient(config, name, now=FIRST)
    assert all(c.passed for c in staged.checks)
    [bundle] = delivered(config, name)
    district_courses = {
        f"crs-{k}" for (k,) in rows(config, "select course_key from dim_course where is_district_course")
    }
    courses = _check_bundle(bundle, district_courses)
    # Only the courses its classes reference: not the district course taught at another school.
    assert courses == {c["courseSourcedId"] for c in read(bundle, "classes.csv")} | (courses - district_courses)
    assert district_courses - courses


def test_every_school_recipient_gets_the_whole_district_catalog(config: DistrictConfig) -> None:
    publish_recipient(config, "learning_app", now=FIRST)
    [bundle] = delivered(config, "learning_app")
    district_courses = {
        f"crs-{k}" for (k,) in rows(config, "select course_key from dim_course where is_district_course")
    }
    courses = _check_bundle(bundle, district_courses)
    assert len(courses) == rows(config, "select count(*) from dim_course")[0][0]
    assert district_courses <= courses


def _jsonl(bundle: Path, resource: str) -> list[dict]:
    with zipfile.ZipFile(bundle) as zf:
        if f"{resource}.jsonl" not in zf.namelist():
            return []
        return [json.loads(line) for line in zf.read(f"{resource}.jsonl").decode("utf-8").splitlines()]


def test_edfi_district_courses_belong_to_the_lea_and_are_offered_at_the_schools(config: DistrictConfig) -> None:
    config = with_recipient(config, "state_ods", format="edfi_json", schools=[SCHOOL, "org-102"])
    staged = publish_recipient(config, "state_ods", now=FIRST)
    assert all(c.passed for c in staged.checks) and staged.metadata["refused"] == 0
    [bundle] = delivered(config, "state_ods")
    [lea] = [d["localEducationAgencyId"] for d in _jsonl(bundle, "localEducationAgencies")]
    assert lea == lea_id_number(rows(config, "select lea_id from dim_district")[0][0])
    schools = {d["schoolId"] for d in _jsonl(bundle, "schools")}
    courses = {
        (d["courseCode"], d["educationOrganizationReference"]["educationOrganizationId"])
        for d in _jsonl(bundle, "courses")
    }
    district_codes = {
        code
        for (code,) in rows(
            config,
            "select distinct c.course_code from dim_course as c join dim_section as s using (course_key) "
            f"join dim_school as sc on sc.school_key = s.school_key where c.is_district_course "
            f"and sc.sis_school_id in ('{SCHOOL}', 'org-102')",
        )
    }
    assert district_codes and {(code, lea) for code in district_codes} <= courses
    assert {owner for _, owner in courses} <= schools | {lea}
    offerings = _jsonl(bundle, "courseOfferings")
    for o in offerings:
        assert (o["courseReference"]["courseCode"], o["courseReference"]["educationOrganizationId"]) in courses
        assert o["schoolReference"]["schoolId"] in schools
    offered = {(o["localCourseCode"], o["schoolReference"]["schoolId"]) for o in offerings}
    assert any(o["courseReference"]["educationOrganizationId"] == lea for o in offerings)
    for section in _jsonl(bundle, "sections"):
        ref = section["courseOfferingReference"]
        assert (ref["localCourseCode"], ref["schoolId"]) in offered


def test_edfi_api_accepts_the_district_courses(config: DistrictConfig) -> None:
    """The simulated ODS resolves every reference: district courses at the LEA, their offerings
    and sections at the schools."""
    from interop_pipeline.simulators.apis import running_recipient_apis

    config = with_recipient(config, "state_ods", schools=[SCHOOL], fields=["names", "identifiers", "birth_date"])
    with running_recipient_apis(config) as apis:
        staged = publish_recipient(config, "state_ods", now=FIRST)
        store = apis["state_ods"].store
        assert staged.metadata["failed"] == 0 and staged.metadata["refused"] == 0
        [lea] = [d["localEducationAgencyId"] for d in store.documents("localEducationAgencies")]
        owners = {d["educationOrganizationReference"]["educationOrganizationId"] for d in store.documents("courses")}
        assert lea in owners
        assert store.documents("sections")
