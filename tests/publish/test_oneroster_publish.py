"""OneRoster bundles published from a real dbt-built warehouse: they pass the validator and land
through our own connector without a reject, keep the agreement, and deltas carry exactly what
changed since the last delivery."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from interop_pipeline.config import DistrictConfig
from interop_pipeline.connectors.oneroster_csv import land_oneroster_bundle
from interop_pipeline.publish import deliver
from interop_pipeline.publish.audit import read_audit_log
from interop_pipeline.publish.deliver import DeliveryRefused, publish_recipient
from interop_pipeline.publish.validator import Issue, Report, validate_bundle

FIRST = datetime(2025, 9, 1, 6, tzinfo=UTC)
SECOND = datetime(2025, 9, 2, 6, tzinfo=UTC)


def read(bundle: Path, member: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(bundle) as zf:
        return list(csv.DictReader(io.StringIO(zf.read(member).decode("utf-8"), newline="")))


def members(bundle: Path) -> set[str]:
    with zipfile.ZipFile(bundle) as zf:
        return set(zf.namelist())


def delivered(config: DistrictConfig, name: str) -> list[Path]:
    return sorted(config.delivery_folder(config.recipients[name]).iterdir())


def warehouse(config: DistrictConfig, sql: str) -> list[tuple]:
    with duckdb.connect(str(config.build_warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("name", ["learning_app", "reading_vendor"])
def test_generated_bundles_pass_the_validator_and_our_connector(
    publish_config: DistrictConfig, tmp_path: Path, name: str
) -> None:
    staged = publish_recipient(publish_config, name, now=FIRST)
    [bundle] = delivered(publish_config, name)
    assert staged.destination == str(bundle) and staged.mode == "bulk"
    report = validate_bundle(bundle)
    assert report.ok and report.rows_checked > 300, report.summary()
    landed = land_oneroster_bundle(
        bundle, tmp_path / "landing", source_system="check", district_code="x", max_uncompressed_bytes=10**8
    )
    assert landed.rejects_by_rule == {}
    # subjects go out with the SCED codes the SIS sent, paired item by item, or not at all.
    for member in ("courses.csv", "classes.csv"):
        rows = read(bundle, member)
        assert all(len(r["subjects"].split(",")) == len(r["subjectCodes"].split(",")) for r in rows if r["subjects"])
        assert all(bool(r["subjects"]) == bool(r["subjectCodes"]) for r in rows)
    audit = read_audit_log(publish_config.data_dir).to_pylist()
    assert {a["file_name"] for a in audit} >= {"users.csv", "enrollments.csv", "orgs.csv"}
    assert {(a["recipient"], a["mode"], a["status"]) for a in audit} == {(name, "bulk", "delivered")}
    users = next(a for a in audit if a["file_name"] == "users.csv")
    assert users["row_count"] == len(read(bundle, "users.csv")) and len(users["file_sha256"]) == 64


def test_sourced_ids_are_stable_and_carry_no_personal_data(publish_config: DistrictConfig) -> None:
    publish_recipient(publish_config, "reading_vendor", now=FIRST)
    # Built again a day later from the same warehouse, every record (sourcedIds included) hashes
    # as delivered: the same roster, so nothing goes out again.
    assert publish_recipient(publish_config, "reading_vendor", now=SECOND).unchanged
    (first,) = delivered(publish_config, "reading_vendor")
    personal = {
        v
        for row in warehouse(
            publish_config,
            "select local_student_id, first_name, last_name, cast(birth_date as varchar) from dim_student",
        )
        for v in row
    }
    for row in read(first, "users.csv"):
        assert not any(value in row["sourcedId"] for value in personal if value)


def test_recipient_without_demographics_gets_none(publish_config: DistrictConfig) -> None:
    publish_recipient(publish_config, "reading_vendor", now=FIRST)
    [bundle] = delivered(publish_config, "reading_vendor")
    assert "demographics.csv" not in members(bundle)
    assert {"propertyName": "file.demographics", "value": "absent"} in read(bundle, "manifest.csv")
    users = read(bundle, "users.csv")
    assert all(u["email"] == "" for u in users)
    assert not any(column.startswith("metadata.") for column in users[0])
    schools = [o for o in read(bundle, "orgs.csv") if o["type"] == "school"]
    [(state_id,)] = warehouse(publish_config, "select state_school_id from dim_school where sis_school_id = 'org-101'")
    assert [s["identifier"] for s in schools] == [state_id]
    grades = {u["grades"] for u in users if u["role"] == "student"}
    assert grades and grades <= {"KG", "01", "02", "03"}
    # The vendor with demographics gets them, with the birth dates its agreement allows.
    publish_recipient(publish_config, "learning_app", now=FIRST)
    [full] = delivered(publish_config, "learning_app")
    demographics = read(full, "demographics.csv")
    assert len(demographics) == warehouse(publish_config, "select count(*) from dim_student")[0][0]
    assert all(d["birthDate"] and d["sex"] for d in demographics)


def test_delta_after_a_change_an_addition_and_a_withdrawal(publish_config: DistrictConfig) -> None:
    publish_recipient(publish_config, "learning_app", now=FIRST)
    with duckdb.connect(str(publish_config.build_warehouse_path)) as con:  # as the next dbt build would
        changed, withdrawn = [
            r[0] for r in con.execute("select student_key from dim_student order by 1 limit 2").fetchall()
        ]
        con.execute("update dim_student set last_name = 'Renamed' where student_key = ?", [changed])
        con.execute("create temp table n as select * from dim_student where student_key = ?", [changed])
        con.execute("update n set student_key = 'ffffffffffffffffffffffffffffffff', sis_student_id = 'new'")
        con.execute("insert into dim_student select * from n")
        con.execute("create temp table e as select * from fct_school_enrollment where student_key = ?", [changed])
        con.execute(
            "update e set student_key = 'ffffffffffffffffffffffffffffffff', "
            "school_enrollment_key = md5(school_enrollment_key)"
        )
        con.execute("insert into fct_school_enrollment select * from e")
        for table in ("fct_section_enrollment", "fct_school_enrollment", "dim_student"):
            con.execute(f"delete from {table} where student_key = ?", [withdrawn])
    staged = publish_recipient(publish_config, "learning_app", now=SECOND)
    assert staged.mode == "delta"
    delta = delivered(publish_config, "learning_app")[-1]
    assert validate_bundle(delta).ok
    users = {u["sourcedId"]: u for u in read(delta, "users.csv")}
    stamp = "2025-09-02T06:00:00.000Z"
    assert {k: (u["status"], u["dateLastModified"]) for k, u in users.items()} == {
        f"stu-{changed}": ("active", stamp),
        "stu-ffffffffffffffffffffffffffffffff": ("active", stamp),
        f"stu-{withdrawn}": ("tobedeleted", stamp),
    }
    assert users[f"stu-{changed}"]["familyName"] == "Renamed"
    assert staged.metadata["changes"]["users"] == {"added": 1, "changed": 1, "deleted": 1}
    enrollments = read(delta, "enrollments.csv")
    assert enrollments and {e["status"] for e in enrollments} == {"tobedeleted"}  # the withdrawn's classes
    assert {m["value"] for m in read(delta, "manifest.csv") if m["propertyName"] == "file.users"} == {"delta"}
    modes = {(a["mode"], a["file_name"]) for a in read_audit_log(publish_config.data_dir).to_pylist()}
    assert ("delta", "users.csv") in modes and ("bulk", "users.csv") in modes
    # Files with no change are absent, not header-only (strict consumers refuse those).
    assert "orgs.csv" not in members(delta)
    assert {m["value"] for m in read(delta, "manifest.csv") if m["propertyName"] == "file.orgs"} == {"absent"}
    # Nothing changed since: no bundle at all, nothing audited, the state as it was.
    before = delivered(publish_config, "learning_app")
    audited = read_audit_log(publish_config.data_dir).num_rows
    quiet = publish_recipient(publish_config, "learning_app", now=datetime(2025, 9, 3, tzinfo=UTC))
    assert quiet.unchanged and quiet.destination == ""
    assert delivered(publish_config, "learning_app") == before
    assert read_audit_log(publish_config.data_dir).num_rows == audited


def test_a_bulk_recipient_gets_a_bundle_only_when_its_roster_changed(publish_config: DistrictConfig) -> None:
    first = publish_recipient(publish_config, "reading_vendor", now=FIRST)
    assert first.mode == "bulk" and not first.unchanged
    audited = read_audit_log(publish_config.data_dir).num_rows
    again = publish_recipient(publish_config, "reading_vendor", now=SECOND)
    assert again.unchanged and again.mode == "bulk"
    assert delivered(publish_config, "reading_vendor") == [Path(first.destination)]
    assert read_audit_log(publish_config.data_dir).num_rows == audited
    with duckdb.connect(str(publish_config.build_warehouse_path)) as con:  # as the next dbt build would
        con.execute("update dim_student set last_name = 'Renamed'")
    changed = publish_recipient(publish_config, "reading_vendor", now=datetime(2025, 9, 3, tzinfo=UTC))
    assert not changed.unchanged and len(delivered(publish_config, "reading_vendor")) == 2


def test_a_failed_check_delivers_nothing(publish_config: DistrictConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = Report([Issue("users.csv", 7, "field.required", "givenName is required")])
    monkeypatch.setattr(deliver, "validate_bundle", lambda path: broken)
    with pytest.raises(DeliveryRefused, match=r"users.csv row 7: field.required"):
        publish_recipient(publish_config, "learning_app", now=FIRST)
    assert delivered(publish_config, "learning_app") == []  # not even a temporary file
    assert not (publish_config.data_dir / "publish" / "state").exists()
    assert {a["status"] for a in read_audit_log(publish_config.data_dir).to_pylist()} == {"refused"}
