"""OneRoster 1.1/1.2 CSV bundle connector (bulk and delta), run against real ZIP files written into tmp_path."""

from __future__ import annotations

import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors.oneroster_csv import (
    OTHER_FILES,
    OneRosterBundleError,
    land_oneroster_bundle,
)
from tests.hub_fixture import build_oneroster_bundle

AT = datetime(2025, 8, 18, 6, 0, 0, tzinfo=UTC)
LATER = datetime(2025, 9, 1, 6, 0, 0, tzinfo=UTC)
CHANGED = "2025-08-30T12:00:00.000Z"  # a delta row's dateLastModified
LIMIT = 10_000_000
LINEAGE = ["_district_code", "_source_system", "_batch_id", "_extracted_at", "_source_ref"]

# Headers written out by hand from the OneRoster 1.2.1 CSV binding (not imported from the module).
HEADERS = {
    "orgs.csv": "sourcedId,status,dateLastModified,name,type,identifier,parentSourcedId",
    "academicSessions.csv": "sourcedId,status,dateLastModified,title,type,startDate,endDate,parentSourcedId,schoolYear",
    "courses.csv": "sourcedId,status,dateLastModified,schoolYearSourcedId,title,courseCode,grades,"
    "orgSourcedId,subjects,subjectCodes",
    "classes.csv": "sourcedId,status,dateLastModified,title,grades,courseSourcedId,classCode,"
    "classType,location,schoolSourcedId,termSourcedIds,subjects,subjectCodes,periods",
    "users.csv": "sourcedId,status,dateLastModified,enabledUser,username,userIds,givenName,"
    "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password,"
    "userMasterIdentifier,preferredGivenName,preferredMiddleName,preferredFamilyName,"
    "primaryOrgSourcedId,pronouns",
    "roles.csv": "sourcedId,status,dateLastModified,userSourcedId,roleType,role,beginDate,endDate,"
    "orgSourcedId,userProfileSourcedId",
    "enrollments.csv": "sourcedId,status,dateLastModified,classSourcedId,schoolSourcedId,"
    "userSourcedId,role,primary,beginDate,endDate",
    "demographics.csv": "sourcedId,status,dateLastModified,birthDate,sex,"
    "americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,"
    "nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,"
    "hispanicOrLatinoEthnicity,countryOfBirthCode,stateOfBirthAbbreviation,cityOfBirth,"
    "publicSchoolResidenceStatus",
    "userProfiles.csv": "sourcedId,status,dateLastModified,userSourcedId,profileType,vendorId,"
    "applicationId,description,credentialType,username,password",
}
# OneRoster 1.1 differs in users.csv only (among the landed files), and has no roles/userProfiles.
HEADERS_11 = {
    **{name: header for name, header in HEADERS.items() if name not in ("users.csv", "roles.csv", "userProfiles.csv")},
    "users.csv": "sourcedId,status,dateLastModified,enabledUser,orgSourcedIds,role,username,userIds,givenName,"
    "familyName,middleName,identifier,email,sms,phone,agentSourcedIds,grades,password",
}
PROGRAM_FLAGS = [
    "metadata.englishLearner",
    "metadata.idea",
    "metadata.section504",
    "metadata.economicallyDisadvantaged",
    "metadata.homeless",
]
# Landed columns whatever the version: 1.2's, then 1.1-only ones, then expected extensions.
EXTRA_COLUMNS = {"users.csv": ["orgSourcedIds", "role"], "demographics.csv": PROGRAM_FLAGS}


def canonical(member: str) -> list[str]:
    return [*HEADERS[member].split(","), *EXTRA_COLUMNS.get(member, []), *LINEAGE]


ENTITY = {
    "orgs.csv": "orgs",
    "academicSessions.csv": "academic_sessions",
    "courses.csv": "courses",
    "classes.csv": "classes",
    "users.csv": "users",
    "roles.csv": "roles",
    "enrollments.csv": "enrollments",
    "demographics.csv": "demographics",
    "userProfiles.csv": "user_profiles",
}

OTHER_FILES_11 = ["categories", "classResources", "courseResources", "lineItems", "resources", "results"]

# Data rows of a small, valid district.
ROWS = {
    "orgs.csv": [
        "d1,,,Demo District,district,,",
        "s1,,,Lincoln Elementary,school,NCES123,d1",
    ],
    "academicSessions.csv": [
        "y2025,,,2024-25,schoolYear,2024-08-15,2025-06-10,,2025",
        "t1,,,Fall,term,2024-08-15,2024-12-20,y2025,2025",
    ],
    "courses.csv": ["c1,,,y2025,Math 3,M3,03,s1,math,"],
    "classes.csv": ['k1,,,Math 3 - A,03,c1,M3A,scheduled,Room 4,s1,"t1,y2025",,,1'],
    "users.csv": [
        "u1,,,true,ava.s,{SIS:1001},Ava,Smith,,1001,,,,g1,03,,,,,,s1,",
        "u2,,,true,t.jones,,Tom,Jones,,,tjones@example.org,,,,,,,,,,s1,",
        "g1,,,true,pat.s,,Pat,Smith,,,,,,,,,,,,,,",
    ],
    "roles.csv": [
        "r1,,,u1,primary,student,,,s1,",
        "r2,,,u2,primary,teacher,,,s1,",
        "r3,,,g1,primary,guardian,,,s1,",
    ],
    "enrollments.csv": [
        "e1,,,k1,s1,u1,student,,2024-08-15,",
        "e2,,,k1,s1,u2,teacher,true,,",
    ],
    "demographics.csv": ["u1,,,2015-03-02,female,false,false,false,false,true,false,true,,,,"],
    "userProfiles.csv": ["p1,,,u1,app,vendorX,,,password,ava.s.app,"],
}
# The same district as a rostering hub exports it in 1.1: roles inside users, {Local:...} ids.
ROWS_11 = {
    **ROWS,
    "users.csv": [
        "u1,,,true,s1,student,ava.s,{Local:863},Ava,Smith,,863,,,,g1,03,",
        'u2,,,true,"d1,s1",teacher,t.jones,{Local:12},Tom,Jones,,,tjones@example.org,,,,,',
        "g1,,,true,s1,guardian,pat.s,,Pat,Smith,,,,,,,,",
    ],
}
ROWS_LANDED = {entity: len(ROWS[member]) for member, entity in ENTITY.items()}  # valid rows all land
VERSIONS = {"1.2": (HEADERS, ROWS, OTHER_FILES), "1.1": (HEADERS_11, ROWS_11, OTHER_FILES_11)}


def manifest_text(modes: dict[str, str] | None = None, extra: str = "", version: str = "1.2") -> str:
    headers, _, other_files = VERSIONS[version]
    modes = {**{name[:-4]: "bulk" for name in headers}, **{f: "absent" for f in other_files}, **(modes or {})}
    manifest_version = "1.0" if version == "1.2" else "1"  # hubs write "1" in 1.1 exports
    lines = ["propertyName,value", f"manifest.version,{manifest_version}", f"oneroster.version,{version}"]
    lines += ["source.systemName,Demo SIS", *(f"file.{name},{mode}" for name, mode in modes.items())]
    return "\n".join(lines) + "\n" + extra


def csv_text(name: str, rows: list[str] | None = None, nl: str = "\n", version: str = "1.2") -> str:
    headers, default_rows, _ = VERSIONS[version]
    rows = default_rows[name] if rows is None else rows
    return nl.join([headers[name], *rows]) + nl


def default_files(version: str = "1.2") -> dict[str, str | bytes]:
    files: dict[str, str | bytes] = {"manifest.csv": manifest_text(version=version)}
    files.update({name: csv_text(name, version=version) for name in VERSIONS[version][0]})
    return files


def write_zip(path: Path, files: dict[str, str | bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(zipfile.ZipInfo(name), content)
    return path


def bundle(
    tmp_path: Path, name: str = "sis_roster_2025-08-18.zip", version: str = "1.2", **overrides: str | bytes | None
) -> Path:
    """Valid bulk bundle, with members replaced (`users_csv="..."`) or dropped (`=None`)."""
    files = default_files(version)
    for key, content in overrides.items():
        member = key.replace("_csv", ".csv")
        if content is None:
            files.pop(member, None)
        else:
            files[member] = content
    return write_zip(tmp_path / name, files)


def delta_bundle(tmp_path: Path, rows: dict[str, list[str]], name: str = "sis_delta.zip", version: str = "1.2") -> Path:
    """A bundle whose files in `rows` are delta files; every other file is absent."""
    modes = {member[:-4]: "delta" if member in rows else "absent" for member in VERSIONS[version][0]}
    files: dict[str, str | bytes] = {"manifest.csv": manifest_text(modes, version=version)}
    files.update({member: csv_text(member, member_rows, version=version) for member, member_rows in rows.items()})
    return write_zip(tmp_path / name, files)


def land(zip_path: Path, root: Path, **kwargs):
    kwargs.setdefault("max_uncompressed_bytes", LIMIT)
    kwargs.setdefault("extracted_at", AT)
    return land_oneroster_bundle(zip_path, root, source_system="sis", district_code="D001", **kwargs)


def read(root: Path, entity: str, batch_id: str) -> list[dict]:
    return pq.read_table(root / "sis" / entity / f"{batch_id}.parquet").to_pylist()


def rejects(root: Path, batch_id: str) -> list[dict]:
    return read(root, "_rejects", batch_id)


def landed_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def assert_nothing_landed(root: Path) -> None:
    assert landed_files(root) == []
    assert not list(root.glob("*/.tmp-*"))


# ------------------------------------------------------------------------------------------
# Happy path
# ------------------------------------------------------------------------------------------


def test_valid_bundle_lands_every_entity_with_lineage(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    result = land(bundle(tmp_path), root)

    assert not result.already_landed
    assert result.rows_landed == ROWS_LANDED
    assert sum(result.rows_rejected.values()) == 0 and result.rejects_by_rule == {}
    assert result.files_not_ingested == []
    assert result.batch_id.startswith("20250818T060000.000000Z-")

    for member, entity in ENTITY.items():
        table = pq.read_table(root / "sis" / entity / f"{result.batch_id}.parquet")
        assert table.column_names == canonical(member)
    users = read(root, "users", result.batch_id)
    assert [u["sourcedId"] for u in users] == ["u1", "u2", "g1"]
    assert users[0]["_source_ref"] == "sis_roster_2025-08-18.zip!users.csv:2"
    assert users[2]["_source_ref"] == "sis_roster_2025-08-18.zip!users.csv:4"
    assert users[0]["_district_code"] == "D001" and users[0]["_source_system"] == "sis"
    assert users[0]["_batch_id"] == result.batch_id and users[0]["_extracted_at"] == AT
    assert users[0]["status"] is None  # blank bulk status lands as null
    classes = read(root, "classes", result.batch_id)
    assert classes[0]["termSourcedIds"] == "t1,y2025"

    record = read(root, "_batches", result.batch_id)
    assert record[0]["source_name"] == "sis_roster_2025-08-18.zip"
    assert json.loads(record[0]["rows_landed"]) == result.rows_landed
    details = json.loads(record[0]["details"])
    assert details == {"oneroster_version": "1.2", "modes": {entity: "bulk" for entity in ENTITY.values()}}
    assert result.modes == details["modes"] and result.oneroster_version == "1.2"
    assert result.warnings == {} and result.warnings_by_file == {}
    assert rejects(root, result.batch_id) == []
    assert not list((root / "sis").glob(".tmp-*"))


def test_absent_files_land_empty_with_spec_columns(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    modes = {"demographics": "absent", "userProfiles": "absent"}
    path = bundle(tmp_path, manifest_csv=manifest_text(modes), demographics_csv=None, userProfiles_csv=None)
    result = land(path, root)
    for entity, member in (("demographics", "demographics.csv"), ("user_profiles", "userProfiles.csv")):
        table = pq.read_table(root / "sis" / entity / f"{result.batch_id}.parquet")
        assert table.num_rows == 0
        assert table.column_names == canonical(member)
    assert result.rows_landed["demographics"] == 0
    assert result.modes["demographics"] == "absent" and result.modes["users"] == "bulk"


def test_status_and_date_last_modified_accepted_when_filled(tmp_path: Path) -> None:
    rows = [
        "d1,active,2025-08-01T12:00:00.000Z,Demo District,district,,",
        "s1,active,2025-08-01T12:00:00.000Z,Lincoln Elementary,school,,d1",
    ]
    result = land(bundle(tmp_path, orgs_csv=csv_text("orgs.csv", rows)), tmp_path / "landing")
    assert result.rows_landed["orgs"] == 2 and result.rows_rejected["orgs"] == 0


def test_metadata_extension_columns_are_landed(tmp_path: Path) -> None:
    text = HEADERS["orgs.csv"] + ",metadata.region\n" + "\n".join(r + ",north" for r in ROWS["orgs.csv"]) + "\n"
    root = tmp_path / "landing"
    result = land(bundle(tmp_path, orgs_csv=text), root)
    orgs = read(root, "orgs", result.batch_id)
    assert orgs[0]["metadata.region"] == "north"
    assert list(orgs[0])[:8] == [*HEADERS["orgs.csv"].split(","), "metadata.region"]


def test_gradebook_files_are_listed_not_landed(tmp_path: Path) -> None:
    path = bundle(
        tmp_path,
        manifest_csv=manifest_text({"categories": "bulk"}),
        categories_csv="sourcedId,status,dateLastModified,title,weight\ncat1,,,Homework,0.5\n",
    )
    root = tmp_path / "landing"
    result = land(path, root)
    assert result.files_not_ingested == ["categories.csv"]
    assert not (root / "sis" / "categories").exists()


# ------------------------------------------------------------------------------------------
# Text encoding details and source line numbers
# ------------------------------------------------------------------------------------------


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    path = bundle(
        tmp_path, manifest_csv="\ufeff" + manifest_text(), users_csv=("\ufeff" + csv_text("users.csv")).encode("utf-8")
    )
    result = land(path, root)
    users = pq.read_table(root / "sis" / "users" / f"{result.batch_id}.parquet")
    assert users.column_names[0] == "sourcedId"
    assert result.rows_landed["users"] == 3


def test_crlf_line_endings(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    files = {name: csv_text(name, nl="\r\n") for name in HEADERS}
    files["manifest.csv"] = manifest_text().replace("\n", "\r\n")
    result = land(write_zip(tmp_path / "crlf.zip", files), root)
    assert sum(result.rows_rejected.values()) == 0
    users = read(root, "users", result.batch_id)
    assert users[2]["pronouns"] is None and users[2]["sourcedId"] == "g1"  # no stray \r
    assert users[2]["_source_ref"] == "crlf.zip!users.csv:4"


def test_quoted_commas_doubled_quotes_and_embedded_newline(tmp_path: Path) -> None:
    rows = [
        'd1,,,"Demo District, North",district,,',
        's1,,,"The ""Lincoln""\nElementary",school,,d1',  # record spans lines 3-4
        "s2,,,Washington,school,,d1",  # so this one starts on line 5
        "s3,,,Adams,schol,,d1",  # line 6, bad type -> reject
    ]
    root = tmp_path / "landing"
    result = land(bundle(tmp_path, orgs_csv=csv_text("orgs.csv", rows)), root)
    orgs = read(root, "orgs", result.batch_id)
    assert orgs[0]["name"] == "Demo District, North"
    assert orgs[1]["name"] == 'The "Lincoln"\nElementary'
    assert [o["_source_ref"].rsplit(":", 1)[1] for o in orgs] == ["2", "3", "5"]
    [bad] = rejects(root, result.batch_id)
    assert bad["_source_ref"] == "sis_roster_2025-08-18.zip!orgs.csv:6"
    assert bad["rule"] == "enum"


def test_blank_lines_are_skipped_without_shifting_line_numbers(tmp_path: Path) -> None:
    text = HEADERS["orgs.csv"] + "\n" + ROWS["orgs.csv"][0] + "\n\n" + ROWS["orgs.csv"][1] + "\n"
    root = tmp_path / "landing"
    result = land(bundle(tmp_path, orgs_csv=text), root)
    assert [o["_source_ref"][-1] for o in read(root, "orgs", result.batch_id)] == ["2", "4"]


# ------------------------------------------------------------------------------------------
# Fatal bundle errors: nothing lands
# ------------------------------------------------------------------------------------------


def fatal(path: Path, root: Path, match: str, **kwargs) -> OneRosterBundleError:
    with pytest.raises(OneRosterBundleError, match=match) as info:
        land(path, root, **kwargs)
    assert_nothing_landed(root)
    return info.value


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "roster.zip"
    path.write_text("sourcedId,status\n")
    fatal(path, tmp_path / "landing", "roster.zip: is not a readable ZIP")


def test_missing_manifest(tmp_path: Path) -> None:
    err = fatal(bundle(tmp_path, manifest_csv=None), tmp_path / "landing", "no manifest.csv")
    assert "sis_roster_2025-08-18.zip" in str(err)


def test_manifest_inside_a_folder_gets_a_hint(tmp_path: Path) -> None:
    files = {f"export/{name}": text for name, text in default_files().items()}
    fatal(write_zip(tmp_path / "b.zip", files), tmp_path / "landing", "must be at the ZIP root")


@pytest.mark.parametrize(
    ("manifest", "match"),
    [
        ("name,value\nmanifest.version,1.0\n", "header must be 'propertyName,value'"),
        (
            manifest_text().replace("manifest.version,1.0", "manifest.version,1"),
            "manifest.version must be '1.0'; found '1'",
        ),
        (
            manifest_text().replace("oneroster.version,1.2", "oneroster.version,1.0"),
            "oneroster.version must be one of '1.1', '1.2'; found '1.0'",
        ),
        (
            manifest_text(version="1.1").replace("manifest.version,1", "manifest.version,2"),
            "manifest.version must be '1.0' or '1'; found '2'",
        ),
        (manifest_text(extra="file.widgets,bulk\n"), "unknown properties: file.widgets"),
        (manifest_text(extra="file.orgs,bulk\n"), "repeats property 'file.orgs'"),
        (manifest_text().replace("file.orgs,bulk\n", ""), "missing property file.orgs"),
        (manifest_text().replace("oneroster.version,1.2\n", ""), "missing property oneroster.version"),
        (manifest_text({"roles": "maybe"}), "file.roles must be one of absent, bulk, delta"),
    ],
)
def test_bad_manifest(tmp_path: Path, manifest: str, match: str) -> None:
    fatal(bundle(tmp_path, manifest_csv=manifest), tmp_path / "landing", match)


def test_file_marked_absent_but_present(tmp_path: Path) -> None:
    path = bundle(tmp_path, manifest_csv=manifest_text({"roles": "absent"}))
    fatal(path, tmp_path / "landing", "roles.csv is in the archive but manifest.csv marks it absent")


def test_file_marked_bulk_but_missing(tmp_path: Path) -> None:
    fatal(
        bundle(tmp_path, roles_csv=None),
        tmp_path / "landing",
        "marks roles.csv bulk but the archive has no such member",
    )


def test_wrong_header_order_names_file_and_both_orders(tmp_path: Path) -> None:
    swapped = HEADERS["orgs.csv"].replace("name,type", "type,name")
    text = swapped + "\n" + "d1,,,district,Demo District,,\n"
    err = fatal(bundle(tmp_path, orgs_csv=text), tmp_path / "landing", "orgs.csv header")
    message = str(err)
    assert "sis_roster_2025-08-18.zip" in message
    assert f"Expected, in this order: {HEADERS['orgs.csv']}" in message
    assert f"Found: {swapped}" in message
    assert "column 4: expected name, found type" in message


def test_missing_column_is_named(tmp_path: Path) -> None:
    header = HEADERS["users.csv"].replace(",pronouns", "")
    fatal(
        bundle(tmp_path, users_csv=header + "\n"), tmp_path / "landing", "users.csv header .*missing columns: pronouns"
    )


def test_extension_columns_must_be_metadata_and_last(tmp_path: Path) -> None:
    text = HEADERS["orgs.csv"] + ",region\n"
    fatal(bundle(tmp_path, orgs_csv=text), tmp_path / "landing", "must be named metadata")


def test_unknown_column_in_a_real_header_is_named(tmp_path: Path) -> None:
    header = HEADERS["orgs.csv"].replace("identifier", "ncesId")
    err = fatal(bundle(tmp_path, orgs_csv=header + "\n"), tmp_path / "landing", "missing columns: identifier")
    assert "column 6: expected identifier, found ncesId" in str(err)


def test_file_without_header_does_not_echo_personal_values(tmp_path: Path) -> None:
    err = fatal(
        bundle(tmp_path, users_csv="\n".join(ROWS["users.csv"]) + "\n"), tmp_path / "landing", "users.csv header"
    )
    for value in ("Ava", "Smith", "ava.s", "tjones@example.org"):
        assert value not in str(err)


def test_empty_data_file(tmp_path: Path) -> None:
    fatal(bundle(tmp_path, courses_csv=""), tmp_path / "landing", "courses.csv is empty")


@pytest.mark.parametrize("evil", ["../evil.csv", "/abs.csv", "C:/evil.csv", "dir\\evil.csv", "a/../../evil.csv"])
def test_unsafe_member_paths_are_refused_before_anything_lands(tmp_path: Path, evil: str) -> None:
    files = default_files()
    files[evil] = "x\n"
    root = tmp_path / "landing"
    err = fatal(write_zip(tmp_path / "b.zip", files), root, "unsafe path")
    assert repr(evil) in str(err)
    assert not (tmp_path / "evil.csv").exists() and not Path("/abs.csv").exists()


def test_oversized_archive_is_refused(tmp_path: Path) -> None:
    path = bundle(tmp_path, metadata_pad="x" * 5000)  # pads the total uncompressed size
    fatal(path, tmp_path / "landing", "exceeds the limit of 4000 bytes", max_uncompressed_bytes=4000)


def test_failure_mid_bundle_leaves_no_partial_batch(tmp_path: Path) -> None:
    # Headers are fine, so orgs..classes are streamed into the work dir before users.csv
    # turns out to hold invalid UTF-8 halfway down.
    broken = csv_text("users.csv").encode() + b"u9,,,true,x,,Zo\xff,Q,,,,,,,,,,,,,s1,\n"
    err = fatal(bundle(tmp_path, users_csv=broken), tmp_path / "landing", "users.csv is not valid UTF-8")
    assert "Zo" not in str(err)


# ------------------------------------------------------------------------------------------
# Row rules -> rejects
# ------------------------------------------------------------------------------------------


def only_reject(root: Path, batch_id: str) -> dict:
    found = rejects(root, batch_id)
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    ("member", "row", "rule", "field"),
    [
        ("orgs.csv", "s9,,,,school,,d1", "required", "name"),
        ("orgs.csv", "s 9,,,Nine,school,,d1", "sourced_id_format", "sourcedId"),
        ("orgs.csv", "s9,,,Nine,School,,d1", "enum", "type"),
        ("orgs.csv", "s9,,,Nine,school,,d1,extra", "field_count", None),
        ("orgs.csv", "s9,,,Nine,school,,nowhere", "dangling_reference", "parentSourcedId"),
        ("academicSessions.csv", "t9,,,Spring,term,2025-01-06,2025-02-30,y2025,2025", "date_format", "endDate"),
        ("academicSessions.csv", "t9,,,Spring,quarter,2025-01-06,2025-03-30,y2025,2025", "enum", "type"),
        ("academicSessions.csv", "t9,,,Spring,term,2025-01-06,2025-03-30,y2025,25", "date_format", "schoolYear"),
        ("courses.csv", "c9,,,t1,Art,,,s1,,", "dangling_reference", "schoolYearSourcedId"),
        ("courses.csv", "c9,,,y2025,Art,,,nowhere,,", "dangling_reference", "orgSourcedId"),
        ("classes.csv", "k9,,,Art,,c1,,scheduled,,d1,t1,,,", "dangling_reference", "schoolSourcedId"),
        ("classes.csv", 'k9,,,Art,,c1,,scheduled,,s1,"t1,t7",,,', "dangling_reference", "termSourcedIds"),
        ("classes.csv", "k9,,,Art,,c1,,lecture,,s1,t1,,,", "enum", "classType"),
        ("users.csv", "u9,,,TRUE,z.q,,Zoe,Quinn,,,,,,,,,,,,,s1,", "enum", "enabledUser"),
        ("users.csv", "u9,,,true,z.q,,Zoe,Quinn,,,,,,nobody,,,,,,,s1,", "dangling_reference", "agentSourcedIds"),
        ("users.csv", "u9,,,true,z.q,,Zoe,Quinn,,,,,,,,,,,,,nowhere,", "dangling_reference", "primaryOrgSourcedId"),
        ("roles.csv", "r9,,,u1,primary,janitor,,,s1,", "enum", "role"),
        ("roles.csv", "r9,,,u1,main,student,,,s1,", "enum", "roleType"),
        ("roles.csv", "r9,,,u1,primary,student,2024/08/15,,s1,", "date_format", "beginDate"),
        ("roles.csv", "r9,,,nobody,primary,student,,,s1,", "dangling_reference", "userSourcedId"),
        ("enrollments.csv", "e9,,,k1,s1,u1,student,yes,,", "enum", "primary"),
        ("enrollments.csv", "e9,,,k1,d1,u1,student,,,", "dangling_reference", "schoolSourcedId"),
        ("enrollments.csv", "e9,,,k1,s1,u1,pupil,,,", "enum", "role"),
        ("demographics.csv", "g1,,,2010-01-01,female,maybe,,,,,,,,,,", "enum", "americanIndianOrAlaskaNative"),
        ("demographics.csv", "nobody,,,,,,,,,,,,,,,", "dangling_reference", "sourcedId"),
        ("userProfiles.csv", "p9,,,u1,app,,,,password,z,", "required", "vendorId"),
        ("userProfiles.csv", "p9,,,nobody,app,v,,,password,z,", "dangling_reference", "userSourcedId"),
    ],
)
def test_row_rule_produces_a_reject(tmp_path: Path, member: str, row: str, rule: str, field: str | None) -> None:
    root = tmp_path / "landing"
    rows = [*ROWS[member], row]
    result = land(bundle(tmp_path, **{member.replace(".csv", "_csv"): csv_text(member, rows)}), root)
    bad = only_reject(root, result.batch_id)
    assert (bad["rule"], bad["field"]) == (rule, field)
    assert bad["entity"] == ENTITY[member]
    assert bad["_source_ref"] == f"sis_roster_2025-08-18.zip!{member}:{len(rows) + 1}"
    assert bad["_batch_id"] == result.batch_id
    raw = json.loads(bad["raw_record"])
    assert raw["sourcedId"] == row.split(",")[0]
    assert result.rejects_by_rule == {rule: 1}
    assert result.rows_rejected[ENTITY[member]] == 1
    assert result.rows_landed[ENTITY[member]] == len(ROWS[member])


def test_extended_enum_values_are_accepted(tmp_path: Path) -> None:
    rows = [*ROWS["orgs.csv"], "s9,,,Nine,ext:charter,,d1"]
    result = land(bundle(tmp_path, orgs_csv=csv_text("orgs.csv", rows)), tmp_path / "landing")
    assert result.rows_landed["orgs"] == 3


def test_duplicate_sourced_id_keeps_the_first(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    rows = [*ROWS["courses.csv"], "c1,,,y2025,Math 3 again,M3,03,s1,math,"]
    result = land(bundle(tmp_path, courses_csv=csv_text("courses.csv", rows)), root)
    [course] = read(root, "courses", result.batch_id)
    assert course["title"] == "Math 3"
    bad = only_reject(root, result.batch_id)
    assert bad["rule"] == "duplicate_sourced_id"
    assert bad["_source_ref"].endswith("courses.csv:3")


def test_rejected_class_cascades_to_its_enrollments(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    classes = ['k1,,,Math 3 - A,03,c1,M3A,seminar,Room 4,s1,"t1,y2025",,,1']  # bad classType
    result = land(bundle(tmp_path, classes_csv=csv_text("classes.csv", classes)), root)
    found = {(r["entity"], r["rule"], r["field"]) for r in rejects(root, result.batch_id)}
    assert found == {
        ("classes", "enum", "classType"),
        ("enrollments", "dangling_reference", "classSourcedId"),
    }
    assert result.rows_rejected["enrollments"] == 2
    assert result.rows_landed["enrollments"] == 0


def test_self_reference_cascade_regardless_of_row_order(tmp_path: Path) -> None:
    # s1's parent d1 appears AFTER it and is itself rejected, so s1 goes too, and with it the
    # course, class and enrollments at that school.
    rows = ["s1,,,Lincoln Elementary,school,,d1", "d1,,,,district,,"]
    root = tmp_path / "landing"
    result = land(bundle(tmp_path, orgs_csv=csv_text("orgs.csv", rows)), root)
    by_entity = {(r["entity"], r["rule"]) for r in rejects(root, result.batch_id)}
    assert ("orgs", "required") in by_entity
    assert ("orgs", "dangling_reference") in by_entity
    assert result.rows_landed["orgs"] == 0
    assert result.rows_landed["classes"] == 0 and result.rows_landed["enrollments"] == 0


def test_agent_defined_later_in_file_is_valid(tmp_path: Path) -> None:
    # u1 names g1 as agent before g1's row; the first pass makes that fine.
    result = land(bundle(tmp_path), tmp_path / "landing")
    assert result.rows_rejected["users"] == 0


def test_reject_details_never_carry_personal_values(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    demographics = ["u1,,,2015-02-30,Female-ish,T,,,,,,,,,,"]
    users = [*ROWS["users.csv"], "u 9,,,Yes,secret.name,,Secretgiven,Secretfamily,,,,,,,,,,,,,s1,"]
    path = bundle(
        tmp_path, demographics_csv=csv_text("demographics.csv", demographics), users_csv=csv_text("users.csv", users)
    )
    result = land(path, root)
    found = rejects(root, result.batch_id)
    assert {r["rule"] for r in found} == {"date_format", "sourced_id_format"}
    demo = next(r for r in found if r["entity"] == "demographics")
    assert "birthDate is not a YYYY-MM-DD date" in demo["detail"]
    assert "sex is not one of" in demo["detail"]
    for secret in ("2015-02-30", "Female-ish", "secret.name", "Secretgiven", "Secretfamily"):
        assert all(secret not in (r["detail"] or "") for r in found)
    assert json.loads(demo["raw_record"])["birthDate"] == "2015-02-30"  # kept only in raw


# ------------------------------------------------------------------------------------------
# Idempotency
# ------------------------------------------------------------------------------------------


def test_same_bundle_twice_is_a_no_op(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    path = bundle(tmp_path)
    first = land(path, root)
    before = landed_files(root)
    second = land(path, root, extracted_at=datetime(2025, 8, 19, tzinfo=UTC))
    assert second.already_landed and second.batch_id == first.batch_id
    assert landed_files(root) == before


def test_renamed_copy_is_recognised(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    first = land(bundle(tmp_path), root)
    before = landed_files(root)
    copy = shutil.copy(tmp_path / "sis_roster_2025-08-18.zip", tmp_path / "resent.zip")
    again = land(Path(copy), root)
    assert again.already_landed and again.batch_id == first.batch_id
    assert landed_files(root) == before


def test_failed_bundle_can_land_after_fix(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    with pytest.raises(OneRosterBundleError):
        land(bundle(tmp_path, name="bad.zip", roles_csv=None), root)
    result = land(bundle(tmp_path, name="good.zip"), root)
    assert not result.already_landed and result.rows_landed["roles"] == 3


# ------------------------------------------------------------------------------------------
# Trailing empty fields (rostering hubs end some rows with one field more than the header)
# ------------------------------------------------------------------------------------------


def test_trailing_empty_fields_are_ignored_and_counted(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    users = [ROWS_11["users.csv"][0] + ",", *ROWS_11["users.csv"][1:2], ROWS_11["users.csv"][2] + ",,"]
    enrollments = [ROWS["enrollments.csv"][0] + ",", ROWS["enrollments.csv"][1]]
    manifest = manifest_text(version="1.1").replace("file.users,bulk\n", "file.users,bulk,\n")
    path = bundle(
        tmp_path,
        version="1.1",
        manifest_csv=manifest,
        users_csv=csv_text("users.csv", users, version="1.1"),
        enrollments_csv=csv_text("enrollments.csv", enrollments, version="1.1"),
    )
    result = land(path, root)

    assert result.rejects_by_rule == {}
    assert result.rows_landed["users"] == 3 and result.rows_landed["enrollments"] == 2
    assert result.warnings == {"trailing_empty_fields": 4}
    assert result.warnings_by_file == {
        "manifest.csv": {"trailing_empty_fields": 1},
        "users.csv": {"trailing_empty_fields": 2},
        "enrollments.csv": {"trailing_empty_fields": 1},
    }
    # The rows land as if the extra fields were never there.
    clean = land(bundle(tmp_path, name="clean.zip", version="1.1"), tmp_path / "clean")
    strip = lambda rows: [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]  # noqa: E731
    for entity in ("users", "enrollments"):
        assert strip(read(root, entity, result.batch_id)) == strip(read(tmp_path / "clean", entity, clean.batch_id))
    details = json.loads(read(root, "_batches", result.batch_id)[0]["details"])
    assert details["warnings"] == result.warnings and details["warnings_by_file"] == result.warnings_by_file


def test_an_extra_field_with_a_value_still_rejects_the_row(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    users = [ROWS_11["users.csv"][0] + ",863", *ROWS_11["users.csv"][1:]]
    result = land(bundle(tmp_path, version="1.1", users_csv=csv_text("users.csv", users, version="1.1")), root)

    assert result.warnings == {}
    bad = {r["entity"]: r for r in rejects(root, result.batch_id)}
    assert (bad["users"]["rule"], bad["users"]["detail"]) == (
        "field_count",
        "expected 18 fields as in the header, found 19",
    )
    assert json.loads(bad["users"]["raw_record"])["_extra_1"] == "863"
    # The user is gone, so are its enrollment and demographics.
    assert (bad["enrollments"]["rule"], bad["enrollments"]["field"]) == ("dangling_reference", "userSourcedId")
    assert (bad["demographics"]["rule"], bad["demographics"]["field"]) == ("dangling_reference", "sourcedId")


def test_whitespace_beyond_the_header_counts_as_empty(tmp_path: Path) -> None:
    orgs = [ROWS["orgs.csv"][0], ROWS["orgs.csv"][1] + ",  "]
    result = land(bundle(tmp_path, orgs_csv=csv_text("orgs.csv", orgs)), tmp_path / "landing")
    assert result.rows_landed["orgs"] == 2 and result.warnings == {"trailing_empty_fields": 1}


def test_hub_district_bundle_lands_without_rejects(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    result = land(build_oneroster_bundle(tmp_path), root)

    assert result.oneroster_version == "1.1" and result.rejects_by_rule == {}
    assert result.rows_landed == {
        "orgs": 3,
        "academic_sessions": 3,
        "courses": 4,
        "classes": 4,
        "users": 23,
        "roles": 0,
        "enrollments": 29,
        "demographics": 20,
        "user_profiles": 0,
    }
    assert result.warnings_by_file == {"users.csv": {"trailing_empty_fields": 5}}
    users = read(root, "users", result.batch_id)
    assert all(u["identifier"] is None and u["status"] is None for u in users)
    assert all(u["userIds"].startswith("{") for u in users)
    courses = read(root, "courses", result.batch_id)
    assert {c["orgSourcedId"] for c in courses} == {"org-d0631"}  # the district's course catalog
    orgs = read(root, "orgs", result.batch_id)
    assert all(o["identifier"] is None for o in orgs)


# ------------------------------------------------------------------------------------------
# OneRoster 1.1 bundles
# ------------------------------------------------------------------------------------------


def test_hub_style_1_1_bundle_lands_into_the_same_entities(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    path = bundle(tmp_path, version="1.1")
    assert "manifest.version,1\n" in zipfile.ZipFile(path).read("manifest.csv").decode()
    result = land(path, root)

    assert result.oneroster_version == "1.1" and result.rejects_by_rule == {}
    assert result.rows_landed == {**ROWS_LANDED, "roles": 0, "user_profiles": 0}
    # roles live inside 1.1 users.csv, so the roles entity follows users' mode; 1.1 has no userProfiles.
    assert result.modes == {**{e: "bulk" for e in ENTITY.values()}, "user_profiles": "absent"}
    users = read(root, "users", result.batch_id)
    assert [(u["sourcedId"], u["role"], u["orgSourcedIds"]) for u in users] == [
        ("u1", "student", "s1"),
        ("u2", "teacher", "d1,s1"),
        ("g1", "guardian", "s1"),
    ]
    assert users[0]["userIds"] == "{Local:863}" and users[0]["status"] is None
    assert users[0]["primaryOrgSourcedId"] is None and users[0]["pronouns"] is None  # 1.2-only: null
    record = read(root, "_batches", result.batch_id)[0]
    assert json.loads(record["details"])["oneroster_version"] == "1.1"


@pytest.mark.parametrize(
    ("row", "rule", "field"),
    [
        ("u9,,,true,s1,principal,z.q,,Zoe,Quinn,,,,,,,,", "enum", "role"),  # a 1.2 role, not 1.1
        ("u9,,,true,,student,z.q,,Zoe,Quinn,,,,,,,,", "required", "orgSourcedIds"),
        ("u9,,,true,s1,,z.q,,Zoe,Quinn,,,,,,,,", "required", "role"),
        ('u9,,,true,"s1,nowhere",student,z.q,,Zoe,Quinn,,,,,,,,', "dangling_reference", "orgSourcedIds"),
        ("u9,,,true,s1,student,z.q,,Zoe,Quinn,,,,,,nobody,,", "dangling_reference", "agentSourcedIds"),
    ],
)
def test_1_1_user_rules(tmp_path: Path, row: str, rule: str, field: str) -> None:
    root = tmp_path / "landing"
    users = csv_text("users.csv", [*ROWS_11["users.csv"], row], version="1.1")
    result = land(bundle(tmp_path, version="1.1", users_csv=users), root)
    bad = only_reject(root, result.batch_id)
    assert (bad["rule"], bad["field"]) == (rule, field)
    assert result.rows_landed["users"] == 3


def test_1_1_manifest_has_no_roles_file(tmp_path: Path) -> None:
    manifest = manifest_text(version="1.1", extra="file.roles,bulk\n")
    fatal(
        bundle(tmp_path, version="1.1", manifest_csv=manifest), tmp_path / "landing", "unknown properties: file.roles"
    )


def test_1_1_users_file_in_a_1_2_bundle_is_named(tmp_path: Path) -> None:
    users = csv_text("users.csv", version="1.1")
    fatal(bundle(tmp_path, users_csv=users), tmp_path / "landing", "this is the OneRoster 1.1 header")


# ------------------------------------------------------------------------------------------
# Canonical landing columns
# ------------------------------------------------------------------------------------------


def test_every_entity_has_the_same_columns_from_1_1_and_1_2(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    first = land(bundle(tmp_path, name="v12.zip"), root)
    second = land(bundle(tmp_path, name="v11.zip", version="1.1"), root, extracted_at=LATER)
    for member, entity in ENTITY.items():
        schemas = [pq.read_schema(root / "sis" / entity / f"{r.batch_id}.parquet") for r in (first, second)]
        assert schemas[0].names == schemas[1].names == canonical(member)


def test_expected_extension_columns_land_as_null_when_missing(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    result = land(bundle(tmp_path), root)  # demographics.csv has no metadata.* columns
    [row] = read(root, "demographics", result.batch_id)
    assert all(row[name] is None for name in PROGRAM_FLAGS)


def test_extension_columns_are_configurable_and_others_still_land(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    text = HEADERS["orgs.csv"] + ",metadata.region\n" + "\n".join(r + ",north" for r in ROWS["orgs.csv"]) + "\n"
    expected = {"orgs": ["metadata.ncesDistrict", "metadata.region"]}
    result = land(bundle(tmp_path, orgs_csv=text), root, extension_columns=expected)
    orgs = read(root, "orgs", result.batch_id)
    assert list(orgs[0])[7:9] == ["metadata.ncesDistrict", "metadata.region"]
    assert orgs[0]["metadata.ncesDistrict"] is None and orgs[0]["metadata.region"] == "north"
    demographics = pq.read_schema(root / "sis" / "demographics" / f"{result.batch_id}.parquet")
    assert "metadata.idea" not in demographics.names  # the default applies only when none is given


@pytest.mark.parametrize(
    ("columns", "match"),
    [({"orgs": ["region"]}, "must be named metadata"), ({"schools": ["metadata.x"]}, "unknown entity 'schools'")],
)
def test_bad_extension_columns_are_refused(tmp_path: Path, columns: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        land(bundle(tmp_path), tmp_path / "landing", extension_columns=columns)


# ------------------------------------------------------------------------------------------
# Delta bundles
# ------------------------------------------------------------------------------------------


def land_bulk_then_delta(tmp_path: Path, rows: dict[str, list[str]]):
    root = tmp_path / "landing"
    land(bundle(tmp_path), root)
    return root, land(delta_bundle(tmp_path, rows), root, extracted_at=LATER)


def test_delta_with_updates_additions_and_deletions_lands(tmp_path: Path) -> None:
    rows = {
        "users.csv": [
            f"u1,active,{CHANGED},true,ava.s,,Ava,Smith-Jones,,1001,,,,g1,03,,,,,,s1,",  # update
            f"u3,active,{CHANGED},true,bo.l,,Bo,Lee,,1003,,,,,04,,,,,,s1,",  # addition
            f"u2,tobedeleted,{CHANGED},,,,,,,,,,,,,,,,,,,",  # deletion: only the id is needed
        ],
        "roles.csv": [f"r4,active,{CHANGED},u3,primary,student,,,s1,", f"r2,tobedeleted,{CHANGED},,,,,,,"],
    }
    root, result = land_bulk_then_delta(tmp_path, rows)
    assert result.rejects_by_rule == {}
    assert result.rows_landed["users"] == 3 and result.rows_landed["roles"] == 2
    assert result.rows_landed["orgs"] == 0  # absent: earlier batches stay in effect
    assert result.modes["users"] == "delta" and result.modes["orgs"] == "absent"
    record = read(root, "_batches", result.batch_id)[0]
    assert json.loads(record["details"])["modes"] == result.modes
    users = read(root, "users", result.batch_id)
    assert [(u["sourcedId"], u["status"]) for u in users] == [("u1", "active"), ("u3", "active"), ("u2", "tobedeleted")]


def test_delta_may_reference_rows_of_the_earlier_bulk_batch(tmp_path: Path) -> None:
    rows = {
        "enrollments.csv": [f"e3,active,{CHANGED},k1,s1,u1,student,,2025-08-30,"],
        "orgs.csv": [f"s2,active,{CHANGED},Adams Middle,school,,d1"],  # parent from the landing zone
    }
    _, result = land_bulk_then_delta(tmp_path, rows)
    assert result.rejects_by_rule == {}
    assert result.rows_landed["enrollments"] == 1 and result.rows_landed["orgs"] == 1


@pytest.mark.parametrize(
    ("member", "row", "field"),
    [
        ("enrollments.csv", f"e3,active,{CHANGED},k1,s1,nobody,student,,,", "userSourcedId"),
        ("enrollments.csv", f"e3,active,{CHANGED},k1,d1,u1,student,,,", "schoolSourcedId"),  # landed, not a school
        ("orgs.csv", f"s2,active,{CHANGED},Adams Middle,school,,nowhere", "parentSourcedId"),
    ],
)
def test_delta_referencing_nothing_is_dangling(tmp_path: Path, member: str, row: str, field: str) -> None:
    root, result = land_bulk_then_delta(tmp_path, {member: [row]})
    bad = only_reject(root, result.batch_id)
    assert (bad["rule"], bad["field"]) == ("dangling_reference", field)


def test_delta_cannot_reference_a_row_deleted_in_this_or_an_earlier_delta(tmp_path: Path) -> None:
    root, first = land_bulk_then_delta(tmp_path, {"users.csv": [f"u2,tobedeleted,{CHANGED},,,,,,,,,,,,,,,,,,,"]})
    assert first.rejects_by_rule == {}
    rows = {
        "users.csv": [f"g1,tobedeleted,{CHANGED},,,,,,,,,,,,,,,,,,,"],
        "roles.csv": [f"r5,active,{CHANGED},u2,primary,teacher,,,s1,", f"r6,active,{CHANGED},g1,primary,parent,,,s1,"],
    }
    later = land(delta_bundle(tmp_path, rows, name="second_delta.zip"), root, extracted_at=LATER.replace(day=2))
    found = {(r["entity"], r["rule"], r["field"]) for r in rejects(root, later.batch_id)}
    assert found == {("roles", "dangling_reference", "userSourcedId")}
    assert later.rows_rejected["roles"] == 2


@pytest.mark.parametrize(
    ("row", "rule", "field"),
    [
        (f"c9,,{CHANGED},y2025,Art,,,s1,,", "required", "status"),
        ("c9,active,,y2025,Art,,,s1,,", "required", "dateLastModified"),
        (f"c9,inactive,{CHANGED},y2025,Art,,,s1,,", "enum", "status"),
        ("c9,active,2025-08-30,y2025,Art,,,s1,,", "date_format", "dateLastModified"),
        ("c9,active,2025-02-30T12:00:00.000Z,y2025,Art,,,s1,,", "date_format", "dateLastModified"),
        (f"c9,active,{CHANGED},y2025,,,,s1,,", "required", "title"),  # an active row keeps every rule
    ],
)
def test_malformed_delta_rows_are_rejected(tmp_path: Path, row: str, rule: str, field: str) -> None:
    root, result = land_bulk_then_delta(tmp_path, {"courses.csv": [row]})
    bad = only_reject(root, result.batch_id)
    assert (bad["rule"], bad["field"]) == (rule, field)
    assert result.rows_landed["courses"] == 0


def test_bulk_files_may_reference_an_entity_the_bundle_leaves_absent(tmp_path: Path) -> None:
    # orgs absent: the orgs of the earlier bulk batch are still current, so courses may use them.
    root = tmp_path / "landing"
    land(bundle(tmp_path), root)
    modes = {"orgs": "absent"}
    later = land(
        bundle(tmp_path, name="no_orgs.zip", manifest_csv=manifest_text(modes), orgs_csv=None), root, extracted_at=LATER
    )
    assert later.rejects_by_rule == {} and later.rows_landed["courses"] == 1
    assert later.modes["orgs"] == "absent" and later.modes["courses"] == "bulk"


def test_delta_without_an_earlier_bulk_batch_checks_against_itself(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    rows = {"orgs.csv": [f"d1,active,{CHANGED},Demo District,district,,", f"s1,active,{CHANGED},Lincoln,school,,d1"]}
    result = land(delta_bundle(tmp_path, rows), root)
    assert result.rows_landed["orgs"] == 2 and result.rejects_by_rule == {}


def test_1_1_delta_users_carry_the_roles_mode(tmp_path: Path) -> None:
    root = tmp_path / "landing"
    land(bundle(tmp_path, version="1.1"), root)
    rows = {"users.csv": [f"u4,active,{CHANGED},true,s1,student,cy.d,,Cy,Day,,,,,,,05,"]}
    result = land(delta_bundle(tmp_path, rows, version="1.1"), root, extracted_at=LATER)
    assert result.rejects_by_rule == {} and result.rows_landed["users"] == 1
    assert result.modes["roles"] == "delta" and result.modes["user_profiles"] == "absent"
