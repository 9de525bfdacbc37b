"""Nothing the warehouse leaves empty crashes publishing. Ed-Fi records that cannot be keyed or
lack a required field are refused one by one, with the reason (never a value), and so are the
records that depend on them; the rest of the load goes ahead, counted in the metadata and the
audit log. The nulls are written into each test's own copy of the built warehouse."""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from dagster import AssetKey, materialize

from interop_pipeline.assets.publish.recipients import build_recipient_asset
from interop_pipeline.config import DistrictConfig
from interop_pipeline.publish.audit import read_audit_log
from interop_pipeline.publish.deliver import DeliveryRefused, publish_recipient
from interop_pipeline.publish.edfi import REFUSAL_COLUMNS
from interop_pipeline.publish.edfi_publish import REFUSALS_MEMBER
from interop_pipeline.publish.validator import validate_bundle
from interop_pipeline.simulators.apis import running_recipient_apis
from tests.publish.conftest import release
from tests.publish.test_edfi_and_research import with_recipient
from tests.publish.test_oneroster_publish import delivered

FIRST = datetime(2025, 9, 1, 6, tzinfo=UTC)
SECOND = datetime(2025, 9, 2, 6, tzinfo=UTC)
THIRD = datetime(2025, 9, 3, 6, tzinfo=UTC)


def execute(config: DistrictConfig, sql: str, params: list[Any] | None = None) -> list[tuple]:
    """On the test's own copy of the warehouse (as a later dbt build could leave it)."""
    with duckdb.connect(str(config.build_warehouse_path)) as con:
        return con.execute(sql, params or []).fetchall()


def one(config: DistrictConfig, sql: str, params: list[Any] | None = None) -> Any:
    [(value,)] = execute(config, sql, params)
    return value


def edfi_json(config: DistrictConfig, **changes: Any) -> DistrictConfig:
    return with_recipient(config, "state_ods", format="edfi_json", **changes)


def jsonl(bundle: Path) -> dict[str, list[dict]]:
    with zipfile.ZipFile(bundle) as zf:
        return {
            name.removesuffix(".jsonl"): [json.loads(line) for line in zf.read(name).decode("utf-8").splitlines()]
            for name in zf.namelist()
            if name.endswith(".jsonl")
        }


def refusals_in(bundle: Path) -> list[dict[str, str]]:
    with zipfile.ZipFile(bundle) as zf:
        text = zf.read(REFUSALS_MEMBER).decode("utf-8")
    assert text.splitlines()[0] == ",".join(REFUSAL_COLUMNS)
    return list(csv.DictReader(io.StringIO(text)))


def assert_references_resolve(documents: dict[str, list[dict]]) -> None:
    """Every reference of every document points at a document of the bundle."""

    def keys(resource: str, *fields: str) -> set[tuple]:
        return {tuple(d[f] for f in fields) for d in documents.get(resource, [])}

    schools = keys("schools", "schoolId")
    edorgs = schools | keys("localEducationAgencies", "localEducationAgencyId")
    sessions = {
        (d["schoolReference"]["schoolId"], d["schoolYearTypeReference"]["schoolYear"], d["sessionName"])
        for d in documents.get("sessions", [])
    }
    courses = {
        (d["courseCode"], d["educationOrganizationReference"]["educationOrganizationId"])
        for d in documents.get("courses", [])
    }
    offerings = {
        (
            d["localCourseCode"],
            d["schoolReference"]["schoolId"],
            d["sessionReference"]["schoolYear"],
            d["sessionReference"]["sessionName"],
        )
        for d in documents.get("courseOfferings", [])
    }
    sections = {
        (
            d["sectionIdentifier"],
            *(d["courseOfferingReference"][k] for k in ("localCourseCode", "schoolId", "schoolYear", "sessionName")),
        )
        for d in documents.get("sections", [])
    }
    students = keys("students", "studentUniqueId")
    staffs = keys("staffs", "staffUniqueId")
    assessments = keys("assessments", "assessmentIdentifier", "namespace")
    for resource, docs in documents.items():
        for d in docs:
            if "localEducationAgencyReference" in d:
                assert (d["localEducationAgencyReference"]["localEducationAgencyId"],) in edorgs, resource
            if "schoolReference" in d:
                assert (d["schoolReference"]["schoolId"],) in schools, resource
            if "educationOrganizationReference" in d:
                assert (d["educationOrganizationReference"]["educationOrganizationId"],) in edorgs, resource
            if "sessionReference" in d:
                ref = d["sessionReference"]
                assert (ref["schoolId"], ref["schoolYear"], ref["sessionName"]) in sessions, resource
            if "courseReference" in d:
                assert (d["courseReference"]["courseCode"], d["courseReference"]["educationOrganizationId"]) in courses
            if "courseOfferingReference" in d:
                ref = d["courseOfferingReference"]
                assert (ref["localCourseCode"], ref["schoolId"], ref["schoolYear"], ref["sessionName"]) in offerings
            if "sectionReference" in d:
                ref = d["sectionReference"]
                key = tuple(
                    ref[k] for k in ("sectionIdentifier", "localCourseCode", "schoolId", "schoolYear", "sessionName")
                )
                assert key in sections, resource
            if "studentReference" in d:
                assert (d["studentReference"]["studentUniqueId"],) in students, resource
            if "staffReference" in d:
                assert (d["staffReference"]["staffUniqueId"],) in staffs, resource
            if "assessmentReference" in d:
                ref = d["assessmentReference"]
                assert (ref["assessmentIdentifier"], ref["namespace"]) in assessments, resource


def personal_values(config: DistrictConfig) -> tuple[set[str], set[str]]:
    """(identifiers, dates and emails; name words) of every student and staff member."""
    values: set[str] = set()
    names: set[str] = set()
    for table, columns in (
        ("dim_student", "local_student_id, state_student_id, username, email, cast(birth_date as varchar)"),
        ("dim_staff", "local_staff_id, username, email"),
    ):
        for row in execute(config, f"select {columns}, first_name, middle_name, last_name from {table}"):
            values |= {v for v in row[:-3] if v}
            names |= {w for v in row[-3:] if v for w in re.split(r"[^A-Za-z]+", v) if len(w) > 2}
    return values, names


def assert_no_personal_value(config: DistrictConfig, text: str) -> None:
    values, names = personal_values(config)
    assert not [v for v in values if v in text]
    assert not names & set(re.split(r"[^A-Za-z]+", text))


# --------------------------------------------------------------------------------------------


class Nulled:
    """What `null_everything` emptied, by warehouse key."""

    def __init__(self, config: DistrictConfig) -> None:
        key = lambda sql: one(config, sql)  # noqa: E731
        self.school_without_id = key("select school_key from dim_school where sis_school_id = 'org-301'")
        students = [
            r[0]
            for r in execute(
                config,
                "select s.student_key from dim_student as s"
                " join dim_school as sc on sc.school_key = s.current_school_key where sc.sis_school_id = 'org-101'"
                " and exists (select 1 from fct_assessment_result as r where r.student_key = s.student_key)"
                " and exists (select 1 from fct_student_daily_attendance as a"
                " where a.student_key = s.student_key and a.attendance_code is not null) order by 1 limit 6",
            )
        ]
        (
            self.no_birth_date,
            self.no_first_name,
            self.no_local_id,
            self.no_grade,
            self.no_demographics,
            self.kept,
        ) = students
        self.staff_without_id = key(
            "select min(a.staff_key) from fct_staff_section_assignment as a join dim_school as s using (school_key)"
            " where s.sis_school_id = 'org-101'"
        )
        self.course_without_code = key(
            "select min(c.course_key) from dim_course as c join dim_school as s using (school_key)"
            " join dim_section as x on x.course_key = c.course_key where s.sis_school_id = 'org-102'"
        )
        self.result_without_date, self.result_without_score = [
            r[0]
            for r in execute(
                config,
                "select assessment_result_key from fct_assessment_result where student_key = ? order by 1 limit 2",
                [self.kept],
            )
        ]
        self.enrollment_without_begin = key(
            f"select min(e.section_enrollment_key) from fct_section_enrollment as e join dim_section as s using"
            f" (section_key) where e.student_key = '{self.kept}' and s.course_key <> '{self.course_without_code}'"
        )
        self.spell_without_entry = key(
            "select min(school_enrollment_key) from fct_school_enrollment as e join dim_school as s using (school_key)"
            " where s.sis_school_id = 'org-201'"
        )
        self.semester_without_title = key(
            "select session_key from dim_session where session_type = 'semester' order by start_date desc limit 1"
        )


def null_everything(config: DistrictConfig) -> Nulled:
    """Empty, one record each, every kind of value Ed-Fi needs: a school's state id, a student's
    birth date, first name, local id and grade, a student's demographics, a staff member's local id,
    a course's code, a result's date and scores, a section enrolment's begin date, a school spell's
    entry date, a semester's title."""
    n = Nulled(config)
    statements = [
        ("update dim_school set state_school_id = null where school_key = ?", [n.school_without_id]),
        ("update dim_student set birth_date = null where student_key = ?", [n.no_birth_date]),
        ("update dim_student set first_name = null where student_key = ?", [n.no_first_name]),
        ("update dim_student set local_student_id = null where student_key = ?", [n.no_local_id]),
        (
            "update dim_student set grade_level = null, grade_level_descriptor = null where student_key = ?",
            [n.no_grade],
        ),
        (
            "update dim_student set sex_code = null, sex_descriptor = null, hispanic_or_latino = null,"
            " is_english_learner = null, email = null, middle_name = null where student_key = ?",
            [n.no_demographics],
        ),
        ("update dim_staff set local_staff_id = null where staff_key = ?", [n.staff_without_id]),
        ("update dim_course set course_code = null where course_key = ?", [n.course_without_code]),
        ("update fct_assessment_result set test_date = null where assessment_result_key = ?", [n.result_without_date]),
        (
            # Every score and level of the overall result gone (several rows of one result).
            "delete from fct_assessment_score where assessment_result_key = ? and objective is null",
            [n.result_without_score],
        ),
        (
            "update fct_section_enrollment set begin_date = null where section_enrollment_key = ?",
            [n.enrollment_without_begin],
        ),
        ("update fct_school_enrollment set entry_date = null where school_enrollment_key = ?", [n.spell_without_entry]),
        ("update dim_session set session_title = null where session_key = ?", [n.semester_without_title]),
    ]
    with duckdb.connect(str(config.build_warehouse_path)) as con:
        for sql, params in statements:
            assert con.execute(sql, params).fetchone()[0] >= 1, sql
    return n


def test_edfi_json_refuses_what_it_cannot_key_and_delivers_the_rest(publish_config: DistrictConfig) -> None:
    config = edfi_json(publish_config)
    personal = personal_values(config)
    n = null_everything(config)
    staged = publish_recipient(config, "state_ods", now=FIRST)
    [bundle] = delivered(config, "state_ods")
    documents = jsonl(bundle)
    assert_references_resolve(documents)
    refusals = refusals_in(bundle)
    refused = {(r["resource"], r["record_key"]): r["reason"] for r in refusals}
    assert len(refused) == len(refusals)
    # The records that cannot be keyed or lack a required field, with what is missing.
    expected = {
        ("schools", f"sch-{n.school_without_id}"): "no numeric state school id (dim_school.state_school_id)",
        ("students", f"stu-{n.no_birth_date}"): "no birthDate (dim_student.birth_date is empty)",
        ("students", f"stu-{n.no_first_name}"): "no firstName (dim_student.first_name is empty)",
        ("students", f"stu-{n.no_local_id}"): "no unique id (dim_student.local_student_id is empty)",
        ("staffs", f"stf-{n.staff_without_id}"): "no unique id (dim_staff.local_staff_id is empty)",
        ("courses", f"crs-{n.course_without_code}"): "no courseCode (dim_course.course_code is empty)",
        ("studentAssessments", n.result_without_score): (
            "no scoreResults and no performanceLevels (fct_assessment_score)"
        ),
        ("studentSchoolAssociations", f"rol-{n.spell_without_entry}"): (
            "no entryDate (fct_school_enrollment.entry_date is empty)"
        ),
    }
    assert {k: refused.get(k) for k in expected} == expected
    # And what depends on them, naming the refused parent.
    reasons_by_resource: dict[str, set[str]] = {}
    for r in refusals:
        reasons_by_resource.setdefault(r["resource"], set()).add(r["reason"])
    assert "its school was refused" in reasons_by_resource["sessions"]
    assert "no sessionName (dim_session.session_title is empty)" in reasons_by_resource["sessions"]
    assert "its course was refused" in reasons_by_resource["courseOfferings"]
    assert reasons_by_resource["sections"] == {"its course offering was refused"}
    assert "its student was refused" in reasons_by_resource["studentSectionAssociations"]
    assert "its section was refused" in reasons_by_resource["studentSectionAssociations"]
    assert "its staff member was refused" in reasons_by_resource["staffSectionAssociations"]
    for resource in (
        "studentEducationOrganizationAssociations",
        "studentSchoolAssociations",
        "studentSchoolAttendanceEvents",
        "studentAssessments",
    ):
        assert "its student was refused" in reasons_by_resource[resource], resource
    assert (
        "no entryGradeLevelDescriptor (dim_student.grade_level_descriptor is empty)"
        in (reasons_by_resource["studentSchoolAssociations"])
    )
    school_sessions = [r for r in refusals if r["resource"] == "sessions" and r["reason"] == "its school was refused"]
    assert school_sessions and all(
        r["record_key"].startswith(f"sch-{n.school_without_id}/ses-") for r in school_sessions
    )
    # Nothing personal in the refusals: warehouse references and fixed reasons only.
    with zipfile.ZipFile(bundle) as zf:
        text = zf.read(REFUSALS_MEMBER).decode("utf-8")
    values, names = personal
    assert not [v for v in values if v in text] and not names & set(re.split(r"[^A-Za-z]+", text))
    # The rest went ahead: the student without a grade, the one without demographics, the others.
    students = {d["studentUniqueId"] for d in documents["students"]}
    local = dict(execute(config, "select student_key, local_student_id from dim_student"))
    assert {local[n.no_grade], local[n.no_demographics], local[n.kept]} <= students
    assert len(students) == one(config, "select count(*) from dim_student") - 3
    edorg = next(
        d
        for d in documents["studentEducationOrganizationAssociations"]
        if d["studentReference"]["studentUniqueId"] == local[n.no_demographics]
    )
    assert not {"sexDescriptor", "hispanicLatinoEthnicity", "limitedEnglishProficiencyDescriptor"} & set(edorg)
    year_start = one(config, "select min(start_date) from dim_session where session_type = 'schoolYear'").isoformat()
    kept_sections = [
        d for d in documents["studentSectionAssociations"] if d["studentReference"]["studentUniqueId"] == local[n.kept]
    ]
    assert year_start in {d["beginDate"] for d in kept_sections}  # no begin date: from the section's start
    assert documents["studentSchoolAttendanceEvents"] and documents["studentAssessments"]
    # Counted in the metadata, the check, the audit log; the delivery is partial.
    counts: dict[str, int] = {}
    for r in refusals:
        counts[r["resource"]] = counts.get(r["resource"], 0) + 1
    assert staged.metadata["refused"] == len(refusals) and staged.metadata["refused_by_resource"] == counts
    assert staged.metadata["rows"][REFUSALS_MEMBER] == len(refusals)
    [check] = staged.checks
    assert check.passed and check.metadata["refused"] == len(refusals)
    audit = read_audit_log(config.data_dir).to_pylist()
    assert {a["status"] for a in audit} == {"partial"}
    assert {
        a["file_name"].removesuffix(":refused"): a["row_count"] for a in audit if a["file_name"].endswith(":refused")
    } == counts
    assert REFUSALS_MEMBER in {a["file_name"] for a in audit}


def test_a_clean_edfi_json_bundle_has_an_empty_refusals_file(publish_config: DistrictConfig) -> None:
    config = edfi_json(publish_config, schools=["org-101"])
    staged = publish_recipient(config, "state_ods", now=FIRST)
    [bundle] = delivered(config, "state_ods")
    assert refusals_in(bundle) == [] and staged.metadata["refused"] == 0
    assert {a["status"] for a in read_audit_log(config.data_dir).to_pylist()} == {"delivered"}


def test_without_an_lea_id_the_organizations_are_refused_and_the_people_go_ahead(
    publish_config: DistrictConfig,
) -> None:
    config = edfi_json(publish_config, schools=["org-101"])
    execute(config, "update dim_district set lea_id = null")
    staged = publish_recipient(config, "state_ods", now=FIRST)
    [bundle] = delivered(config, "state_ods")
    documents = jsonl(bundle)
    assert_references_resolve(documents)
    assert not {"localEducationAgencies", "schools", "sessions", "courses", "sections"} & set(documents)
    assert documents["students"] and documents["staffs"]
    refused: dict[str, set[str]] = {}
    for r in refusals_in(bundle):
        refused.setdefault(r["resource"], set()).add(r["reason"])
    assert refused["localEducationAgencies"] == {"no numeric LEA id (dim_district.lea_id)"}
    assert refused["schools"] == {"its local education agency was refused"}
    assert refused["studentEducationOrganizationAssociations"] == {"its local education agency was refused"}
    assert refused["studentSchoolAssociations"] == {"its school was refused"}
    assert refused["sections"] == {"its course offering was refused"}
    assert staged.metadata["refused"] > 0


def test_schools_whose_ids_cannot_be_told_apart_are_refused(publish_config: DistrictConfig) -> None:
    """An id without digits keys nothing; two ids ending alike would be one school in the ODS."""
    config = edfi_json(publish_config)
    execute(config, "update dim_school set state_school_id = 'CAMPUS-A' where sis_school_id = 'org-301'")
    execute(
        config,
        "update dim_school set state_school_id = (select state_school_id from dim_school where sis_school_id ="
        " 'org-101') where sis_school_id = 'org-201'",
    )
    publish_recipient(config, "state_ods", now=FIRST)
    [bundle] = delivered(config, "state_ods")
    documents = jsonl(bundle)
    assert_references_resolve(documents)
    assert len(documents["schools"]) == 1
    reasons = {r["reason"] for r in refusals_in(bundle) if r["resource"] == "schools"}
    assert reasons == {
        "no numeric state school id (dim_school.state_school_id)",
        "its schoolId (LEA and state school id digits) is another school's too",
    }


def test_edfi_api_load_refuses_per_record_and_keeps_what_the_ods_holds(publish_config: DistrictConfig) -> None:
    """Refused records are `refused` rows of the results file; the ODS accepts all the rest (no
    reference to a refused record is sent); a record delivered before and refused now stays in
    the ODS and is not deleted; once the warehouse is whole again, nothing needs sending."""
    config = with_recipient(
        publish_config, "state_ods", schools=["org-101"], fields=["names", "identifiers", "birth_date"]
    )
    whole = config.data_dir / "whole.duckdb"
    shutil.copyfile(config.build_warehouse_path, whole)
    with running_recipient_apis(config) as apis:
        store = apis["state_ods"].store
        first = publish_recipient(config, "state_ods", now=FIRST)
        assert first.metadata["failed"] == 0 and first.metadata["refused"] == 0
        held = {r: len(store.documents(r)) for r in ("students", "staffs", "studentSectionAssociations")}

        student = one(
            config,
            "select min(student_key) from fct_section_enrollment as e join dim_school as s using (school_key)"
            " where s.sis_school_id = 'org-101'",
        )
        staff = one(
            config,
            "select min(staff_key) from fct_staff_section_assignment as a join dim_school as s using (school_key)"
            " where s.sis_school_id = 'org-101'",
        )
        execute(config, "update dim_student set birth_date = null where student_key = ?", [student])
        execute(config, "update dim_staff set first_name = null where staff_key = ?", [staff])
        second = publish_recipient(config, "state_ods", now=SECOND)
        assert second.metadata["failed"] == 0 and second.metadata["to_delete"] == 0
        assert second.metadata["kept_refused"] > 0 and second.metadata["to_send"] == 0
        assert {r: len(store.documents(r)) for r in held} == held  # nothing deleted
        results = list(csv.DictReader(open(second.metadata["results_file"], encoding="utf-8")))
        assert results and {r["outcome"] for r in results} == {"refused"}
        assert {r["http_status"] for r in results} == {""}
        by_key = {(r["resource"], r["record_key"]): r["message"] for r in results}
        assert by_key[("students", f"stu-{student}")] == "no birthDate (dim_student.birth_date is empty)"
        assert by_key[("staffs", f"stf-{staff}")] == "no firstName (dim_staff.first_name is empty)"
        assert {m for (resource, _), m in by_key.items() if resource == "studentSectionAssociations"} == {
            "its student was refused"
        }
        assert {m for (resource, _), m in by_key.items() if resource == "staffSectionAssociations"} == {
            "its staff member was refused"
        }
        assert second.metadata["refused"] == len(results)
        assert_no_personal_value(config, open(second.metadata["results_file"], encoding="utf-8").read())
        audit = [a for a in read_audit_log(config.data_dir).to_pylist() if a["delivered_at"] == SECOND]
        assert {a["status"] for a in audit} == {"partial"}
        assert sum(a["row_count"] for a in audit if a["file_name"].endswith(":refused")) == len(results)

        shutil.copyfile(whole, config.build_warehouse_path)
        third = publish_recipient(config, "state_ods", now=THIRD)
        assert third.metadata["to_send"] == 0 and third.metadata["to_delete"] == 0
        assert third.metadata["refused"] == 0 and third.metadata["requests"] == 0


def test_edfi_asset_reports_refusals_in_its_metadata(publish_config: DistrictConfig) -> None:
    config = edfi_json(publish_config, schools=["org-101"])
    execute(
        config,
        "update dim_student set birth_date = null where student_key = (select min(student_key) from dim_student"
        " as s join dim_school as sc on sc.school_key = s.current_school_key where sc.sis_school_id = 'org-101')",
    )
    release(config)  # the asset reads the released copy
    asset = build_recipient_asset(
        config, "state_ods", config.recipients["state_ods"], upstream=[AssetKey("published_warehouse")]
    )
    result = materialize([asset], raise_on_error=False)
    assert result.success
    [materialization] = result.asset_materializations_for_node("publish__state_ods")
    metadata = materialization.metadata
    assert metadata["refused"].value >= 1
    assert metadata["rows"].value["students:refused"] == 1


def test_oneroster_and_research_take_the_same_nulls_without_crashing(publish_config: DistrictConfig) -> None:
    """Optional values left empty still deliver a valid bundle; a required one (a given name, a
    session's title) refuses the delivery with the file, row and rule, never a crash."""
    n = null_everything(publish_config)
    execute(publish_config, "update dim_district set lea_id = null")
    execute(publish_config, "update dim_student set first_name = 'Named' where student_key = ?", [n.no_first_name])
    execute(
        publish_config,
        "update dim_session set session_title = 'Term' where session_key = ?",
        [n.semester_without_title],
    )
    for name in ("learning_app", "reading_vendor", "university_study"):
        staged = publish_recipient(publish_config, name, now=FIRST)
        assert all(c.passed for c in staged.checks), name
    for name in ("learning_app", "reading_vendor"):
        [bundle] = delivered(publish_config, name)
        assert validate_bundle(bundle).ok
    # A student without a given name: OneRoster users.csv requires one.
    execute(publish_config, "update dim_student set first_name = null where student_key = ?", [n.no_first_name])
    with pytest.raises(DeliveryRefused, match=r"users.csv row \d+: field.required"):
        publish_recipient(publish_config, "learning_app", now=SECOND)
