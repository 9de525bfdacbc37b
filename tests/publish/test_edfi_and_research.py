"""The Ed-Fi load into the simulated ODS/API (faults on) and the research extract."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.config import DistrictConfig
from interop_pipeline.publish.audit import read_audit_log
from interop_pipeline.publish.deliver import publish_recipient, stage_extract
from interop_pipeline.publish.edfi import natural_key
from interop_pipeline.publish.research import research_students
from interop_pipeline.publish.roster import open_warehouse
from interop_pipeline.publish.state import load_state, save_state, state_path
from interop_pipeline.simulators.apis import running_recipient_apis
from interop_pipeline.simulators.http_server import Faults


def test_edfi_load_with_faults_holds_exactly_the_intended_records(publish_config: DistrictConfig) -> None:
    faults = Faults(
        throttle_every=7,
        unavailable_every=11,
        error_every=13,
        truncate_every=19,
        malformed_every=23,
        expire_token_after=29,
        retry_after_seconds=0,
    )
    with running_recipient_apis(publish_config, faults=faults) as apis:
        store = apis["state_ods"].store
        descriptors_before = {r: len(store.records(r)) for r in store.models if r.endswith("Descriptors")}
        staged = publish_recipient(publish_config, "state_ods", now=datetime(2025, 9, 1, tzinfo=UTC))
        assert staged.metadata["failed"] == 0 and staged.metadata["retries"] > 0
        # What the ODS holds, resource by resource, is exactly the documents we meant to send.
        with open_warehouse(str(publish_config.build_warehouse_path)) as con:
            from interop_pipeline.publish.edfi_publish import _documents

            intended = list(_documents(con, publish_config.recipients["state_ods"]))
        by_resource: dict[str, dict[str, dict]] = {}
        for resource, document in intended:
            by_resource.setdefault(resource, {})[natural_key(resource, document)] = document
        for resource, documents in by_resource.items():
            held = {
                natural_key(resource, d): {k: v for k, v in d.items() if k not in ("id", "_etag", "_lastModifiedDate")}
                for d in store.documents(resource)
            }
            assert held == documents, resource
        assert {
            "students",
            "studentSchoolAttendanceEvents",
            "studentEducationOrganizationAssociations",
            "assessments",
            "studentAssessments",
        } <= set(by_resource)
        assert len(by_resource["studentAssessments"]) > len(by_resource["students"])  # several results each
        assert {r: len(store.records(r)) for r in descriptors_before} == descriptors_before
        results = list(csv.DictReader(open(staged.metadata["results_file"], encoding="utf-8")))
        assert len(results) == len(intended) and {r["outcome"] for r in results} == {"created"}
        # A second load sends nothing.
        change_version = store.change_version
        again = publish_recipient(publish_config, "state_ods", now=datetime(2025, 9, 2, tzinfo=UTC))
        assert again.metadata["to_send"] == 0 and again.metadata["requests"] == 0
        assert store.change_version == change_version
    audit = read_audit_log(publish_config.data_dir).to_pylist()
    assert {(a["recipient"], a["mode"]) for a in audit} == {("state_ods", "bulk")}  # the empty load logs no rows
    assert sum(a["row_count"] for a in audit) == len(intended)


def test_edfi_record_refused_by_the_api_is_reported_and_retried_next_time(publish_config: DistrictConfig) -> None:
    with running_recipient_apis(publish_config) as apis:
        store = apis["state_ods"].store
        staged = stage_extract(publish_config, "state_ods")
        # Sabotage one student: the ODS answers 400, and 409 for whatever refers to it.
        real_upsert = store.upsert
        refused = {"done": False}

        def refuse_first_student(resource, document):
            if resource == "students" and not refused["done"]:
                refused["done"] = True
                document = {k: v for k, v in document.items() if k != "birthDate"}
            return real_upsert(resource, document)

        store.upsert = refuse_first_student
        staged.commit()
        assert staged.metadata["failed"] >= 1
        failed = [
            r
            for r in csv.DictReader(open(staged.metadata["results_file"], encoding="utf-8"))
            if r["outcome"] == "failed"
        ]
        assert failed[0]["resource"] == "students" and failed[0]["http_status"] == "400"
        assert "birthDate" in failed[0]["message"]
        assert not next(c for c in staged.checks if c.name == "no_failed_records").passed
        store.upsert = real_upsert
        again = publish_recipient(publish_config, "state_ods")
        assert again.metadata["to_send"] == staged.metadata["failed"] and again.metadata["failed"] == 0


def students_file(config: DistrictConfig, name: str) -> list[dict[str, str]]:
    [bundle] = sorted(config.delivery_folder(config.recipients[name]).glob("*.zip"))[-1:]
    with zipfile.ZipFile(bundle) as zf:
        return list(csv.DictReader(io.StringIO(zf.read("students.csv").decode("utf-8"))))


def test_research_keys_differ_between_recipients_and_are_stable(
    publish_config: DistrictConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    staged = publish_recipient(publish_config, "university_study", now=datetime(2025, 9, 1, tzinfo=UTC))
    assert all(c.passed for c in staged.checks)
    rows = students_file(publish_config, "university_study")
    assert set(rows[0]) >= {"person_key", "age_band", "grade_level", "sex_code", "days_absent"}
    assert not {"birth_date", "first_name", "last_name", "local_student_id", "email"} & set(rows[0])
    first_keys = [r["person_key"] for r in rows]
    second = {**publish_config.recipients["university_study"].model_dump(), "hmac_secret_env": "OTHER_STUDY_SECRET"}
    other = publish_config.model_copy(
        update={
            "recipients": {
                **publish_config.recipients,
                "other_study": type(publish_config.recipients["university_study"])(**second),
            }
        }
    )
    other._config_path = publish_config.config_path
    monkeypatch.setenv("OTHER_STUDY_SECRET", "test-secret-1")  # even the same secret gives other keys
    with open_warehouse(str(publish_config.build_warehouse_path)) as con:
        again = research_students(
            con, publish_config, "university_study", publish_config.recipients["university_study"]
        )
        others = research_students(con, other, "other_study", other.recipients["other_study"])
    # stable across runs (the file leaves out the few records k-anonymity suppresses)
    assert set(first_keys) <= {r["person_key"] for r in again}
    assert not set(first_keys) & {r["person_key"] for r in others}  # different between recipients
    assert len(set(first_keys)) == len(first_keys)
    with zipfile.ZipFile(
        sorted(publish_config.delivery_folder(publish_config.recipients["university_study"]).glob("*.zip"))[0]
    ) as zf:
        cells = list(csv.DictReader(io.StringIO(zf.read("chronic_absenteeism.csv").decode("utf-8"))))
        about = json.loads(zf.read("about.json"))
    minimum = publish_config.business_rules.suppression_min_n
    assert about["suppression_min_n"] == minimum
    assert any(c["is_suppressed"] == "True" for c in cells)
    assert all(c["students_measured"] == "" or int(c["students_measured"]) >= minimum for c in cells)


def test_edfi_records_gone_from_the_warehouse_are_deleted_from_the_ods(publish_config: DistrictConfig) -> None:
    """A withdrawn student's section association and a withdrawn assessment result leave the
    warehouse: the next load DELETEs them (by the id the ODS gave, or found by natural key when
    that id is not known) and records it; the load after that sends nothing."""
    config = with_recipient(publish_config, "state_ods", schools=["org-101"])  # one school: a quicker load
    with running_recipient_apis(config) as apis:
        store = apis["state_ods"].store
        first = publish_recipient(config, "state_ods", now=datetime(2025, 9, 1, tzinfo=UTC))
        assert first.metadata["failed"] == 0 and first.metadata["to_delete"] == 0
        held = {r: {natural_key(r, d) for d in store.documents(r)} for r in ("studentSectionAssociations",)}
        with duckdb.connect(str(config.build_warehouse_path)) as con:  # this test's own copy
            gone_enrollment = con.execute(
                "delete from main.fct_section_enrollment where section_enrollment_key = ("
                "  select min(section_enrollment_key) from main.fct_section_enrollment as e"
                "  join main.dim_school as s using (school_key) where s.sis_school_id = 'org-101')"
                " returning student_key, section_key"
            ).fetchall()
            gone_result = con.execute(
                "delete from main.fct_assessment_result where assessment_result_key = ("
                "  select min(assessment_result_key) from main.fct_assessment_result as r"
                "  join main.fct_school_enrollment as e using (student_key)"
                "  join main.dim_school as s on s.school_key = e.school_key where s.sis_school_id = 'org-101')"
                " returning assessment_result_key"
            ).fetchall()
        assert len(gone_enrollment) == 1 and len(gone_result) == 1
        # Forget the ODS id of the assessment result: the writer finds it by natural key.
        ids_path = state_path(config.data_dir, "state_ods", "edfi_api_ids")
        ids = load_state(ids_path)
        assert ids is not None
        result_key = next(k for k in ids if k[0] == "studentAssessments" and gone_result[0][0] in k[1])
        del ids[result_key]
        save_state(ids_path, ids)

        second = publish_recipient(config, "state_ods", now=datetime(2025, 9, 2, tzinfo=UTC))
        assert second.metadata["to_send"] == 0 and second.metadata["to_delete"] == 2
        assert second.metadata["deleted"] == 2 and second.metadata["failed"] == 0
        after = {natural_key("studentSectionAssociations", d) for d in store.documents("studentSectionAssociations")}
        assert len(held["studentSectionAssociations"] - after) == 1 and after < held["studentSectionAssociations"]
        held_results = {d["studentAssessmentIdentifier"] for d in store.documents("studentAssessments")}
        assert gone_result[0][0] not in held_results
        results = list(csv.DictReader(open(second.metadata["results_file"], encoding="utf-8")))
        assert sorted((r["resource"], r["outcome"]) for r in results) == [
            ("studentAssessments", "deleted"),
            ("studentSectionAssociations", "deleted"),
        ]
        third = publish_recipient(config, "state_ods", now=datetime(2025, 9, 3, tzinfo=UTC))
        assert third.metadata["to_send"] == 0 and third.metadata["to_delete"] == 0 and third.metadata["requests"] == 0
    audit = read_audit_log(config.data_dir).to_pylist()
    deleted = {a["file_name"]: a["row_count"] for a in audit if a["file_name"].endswith(":deleted")}
    assert deleted == {"studentSectionAssociations:deleted": 1, "studentAssessments:deleted": 1}


def with_recipient(config: DistrictConfig, name: str, **changes) -> DistrictConfig:
    """The config with one recipient's agreement changed."""
    recipient = type(config.recipients[name])(**{**config.recipients[name].model_dump(), **changes})
    changed = config.model_copy(update={"recipients": {**config.recipients, name: recipient}})
    changed._config_path = config.config_path
    return changed


def test_an_ods_that_lost_what_was_delivered_gets_it_all_again(publish_config: DistrictConfig) -> None:
    """The ODS is reset (an empty one answers, as after a restore from an old copy or a restarted
    simulator): the next load finds it holds fewer records than were delivered and sends every
    record again, not only the changed ones (there are none), and none of them fails for a
    missing parent. With the ODS intact, the load after that sends nothing."""
    config = with_recipient(publish_config, "state_ods", schools=["org-101"])
    with running_recipient_apis(config):
        first = publish_recipient(config, "state_ods", now=datetime(2025, 9, 1, tzinfo=UTC))
    assert first.metadata["failed"] == 0 and first.metadata["to_send"] > 0
    with running_recipient_apis(config) as apis:
        again = publish_recipient(config, "state_ods", now=datetime(2025, 9, 2, tzinfo=UTC))
        assert again.metadata["failed"] == 0 and "students" in again.metadata["sent_again_ods_short"]
        assert again.metadata["to_send"] == first.metadata["to_send"]
        assert len(apis["state_ods"].store.records("students")) > 0
        third = publish_recipient(config, "state_ods", now=datetime(2025, 9, 3, tzinfo=UTC))
        assert third.metadata["to_send"] == 0 and third.metadata["sent_again_ods_short"] == "none"


def test_a_load_that_stops_midway_is_audited_as_interrupted(
    publish_config: DistrictConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection to the ODS drops for good after some records went out: the delivery is
    recorded as interrupted with what the ODS had answered, and its state is not advanced."""
    from interop_pipeline.publish import edfi_writer
    from interop_pipeline.publish.audit import in_progress_dir

    config = with_recipient(publish_config, "state_ods", schools=["org-101"], max_parallel_requests=1)
    real_post = edfi_writer._post
    posted = []

    def post_then_fail(client, record):
        if len(posted) >= 25:
            raise ConnectionError("the ODS went away")
        posted.append(record)
        return real_post(client, record)

    monkeypatch.setattr(edfi_writer, "_post", post_then_fail)
    with running_recipient_apis(config), pytest.raises(ConnectionError):
        publish_recipient(config, "state_ods", now=datetime(2025, 9, 1, tzinfo=UTC))
    audit = read_audit_log(config.data_dir).to_pylist()
    assert {a["status"] for a in audit} == {"interrupted"}
    answered = {a["file_name"]: a["row_count"] for a in audit}
    assert sum(n for name, n in answered.items() if name.endswith((":created", ":updated"))) == len(posted) == 25
    assert not list(in_progress_dir(config.data_dir).glob("*"))
    assert load_state(state_path(config.data_dir, "state_ods", "edfi_api")) is None  # sent again next time


@pytest.mark.parametrize(
    "recipient, format, change",
    [
        ("university_study", "research", "update mart_student_attendance set days_absent = days_absent + 30"),
        ("state_ods", "edfi_json", "update dim_student set last_name = 'Renamed'"),
    ],
)
def test_a_file_extract_goes_out_again_only_when_its_content_changed(
    publish_config: DistrictConfig, recipient: str, format: str, change: str
) -> None:
    config = with_recipient(publish_config, recipient, format=format)
    folder = config.delivery_folder(config.recipients[recipient])
    first = publish_recipient(config, recipient, now=datetime(2025, 9, 1, tzinfo=UTC))
    assert not first.unchanged
    audited = read_audit_log(config.data_dir).num_rows

    # A day later the same content: the checks pass, nothing is delivered or audited.
    again = publish_recipient(config, recipient, now=datetime(2025, 9, 2, tzinfo=UTC))
    assert again.unchanged and all(c.passed for c in again.checks)
    assert sorted(folder.glob("*.zip")) == [Path(first.destination)]
    assert read_audit_log(config.data_dir).num_rows == audited
    assert not list((config.data_dir / "publish" / "work").rglob("*.partial"))  # its work file is gone

    with duckdb.connect(str(config.build_warehouse_path)) as con:  # as the next dbt build would
        con.execute(change)
    changed = publish_recipient(config, recipient, now=datetime(2025, 9, 3, tzinfo=UTC))
    assert not changed.unchanged and len(list(folder.glob("*.zip"))) == 2
