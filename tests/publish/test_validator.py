"""The OneRoster validator against hand-made bundles: a good 1.2 and 1.1 bundle pass, and each
bad bundle breaks exactly one rule, which the report names with its file and row."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from interop_pipeline.publish.validator import FILE_NAMES, validate_bundle

LEAD = "sourcedId,status,dateLastModified"
GOOD_12 = {
    "orgs.csv": [f"{LEAD},name,type,identifier,parentSourcedId", "d1,,,District,district,,", "s1,,,School,school,,d1"],
    "academicSessions.csv": [
        f"{LEAD},title,type,startDate,endDate,parentSourcedId,schoolYear",
        "y1,,,2025-2026,schoolYear,2025-08-18,2026-06-05,,2026",
        "t1,,,Fall,semester,2025-08-18,2026-01-14,y1,2026",
    ],
    "courses.csv": [
        f"{LEAD},schoolYearSourcedId,title,courseCode,grades,orgSourcedId,subjects,subjectCodes",
        'c1,,,y1,Math 3,M3,03,s1,"Math,Science","m,s"',
    ],
    "classes.csv": [
        f"{LEAD},title,grades,courseSourcedId,classCode,classType,location,schoolSourcedId,termSourcedIds,"
        "subjects,subjectCodes,periods",
        "k1,,,Math 3 - 1,03,c1,M3-1,scheduled,Room 1,s1,t1,,,1",
    ],
    "users.csv": [
        f"{LEAD},enabledUser,username,userIds,givenName,familyName,middleName,identifier,email,sms,phone,"
        "agentSourcedIds,grades,password,userMasterIdentifier,preferredGivenName,preferredMiddleName,"
        "preferredFamilyName,primaryOrgSourcedId,pronouns",
        "u1,,,true,ava,{SIS:1},Ava,Smith,,1,,,,,03,,,,,,s1,",
        "u2,,,true,tom,{SIS:2},Tom,Teach,,2,,,,,,,,,,,s1,",
    ],
    "roles.csv": [
        f"{LEAD},userSourcedId,roleType,role,beginDate,endDate,orgSourcedId,userProfileSourcedId",
        "r1,,,u1,primary,student,2025-08-18,,s1,",
        "r2,,,u2,primary,teacher,,,s1,",
    ],
    "enrollments.csv": [
        f"{LEAD},classSourcedId,schoolSourcedId,userSourcedId,role,primary,beginDate,endDate",
        "e1,,,k1,s1,u1,student,,2025-08-18,",
        "e2,,,k1,s1,u2,teacher,true,,",
    ],
    "demographics.csv": [
        f"{LEAD},birthDate,sex,americanIndianOrAlaskaNative,asian,blackOrAfricanAmerican,"
        "nativeHawaiianOrOtherPacificIslander,white,demographicRaceTwoOrMoreRaces,hispanicOrLatinoEthnicity,"
        "countryOfBirthCode,stateOfBirthAbbreviation,cityOfBirth,publicSchoolResidenceStatus,metadata.ell",
        "u1,,,2017-03-04,female,false,false,false,false,true,false,false,,,,,true",
    ],
}


def manifest(version: str, files: dict[str, list[str]], mode: str = "bulk") -> list[str]:
    lines = ["propertyName,value", "manifest.version,1.0", f"oneroster.version,{version}"]
    present = {name.removesuffix(".csv") for name in files}
    return lines + [f"file.{n},{mode if n in present else 'absent'}" for n in FILE_NAMES[version]]


def write(tmp_path: Path, files: dict[str, list[str]], manifest_lines: list[str] | None, name="b.zip") -> Path:
    path = tmp_path / name
    with zipfile.ZipFile(path, "w") as zf:
        if manifest_lines is not None:
            zf.writestr("manifest.csv", "\r\n".join(manifest_lines) + "\r\n")
        for member, lines in files.items():
            zf.writestr(member, "\r\n".join(lines) + "\r\n")
    return path


def good_11() -> dict[str, list[str]]:
    files = {k: v for k, v in GOOD_12.items() if k not in ("roles.csv", "users.csv")}
    files["users.csv"] = [
        f"{LEAD},enabledUser,orgSourcedIds,role,username,userIds,givenName,familyName,middleName,identifier,email,"
        "sms,phone,agentSourcedIds,grades,password",
        "u1,,,true,s1,student,ava,{SIS:1},Ava,Smith,,1,,,,,03,",
        "u2,,,true,s1,teacher,tom,{SIS:2},Tom,Teach,,2,,,,,,",
    ]
    return files


def test_good_bundles_pass(tmp_path: Path) -> None:
    report = validate_bundle(write(tmp_path, GOOD_12, manifest("1.2", GOOD_12)))
    assert report.ok, report.summary()
    assert report.rows_checked == 13
    files = good_11()
    assert validate_bundle(write(tmp_path, files, manifest("1.1", files), "b11.zip")).ok


def replace_line(member: str, index: int, line: str) -> dict[str, list[str]]:
    files = {k: list(v) for k, v in GOOD_12.items()}
    files[member][index] = line
    return files


U = "true,ava,{SIS:1},Ava,Smith,,1,,,,,03,,,,,,s1,"  # users.csv after sourcedId,status,dateLastModified
# (rule, file, row, bundle files, manifest override) — each bundle breaks one rule only.
BAD_ROWS = [
    ("field.required", "orgs.csv", 3, replace_line("orgs.csv", 2, "s1,,,,school,,d1"), None),
    (
        "field.sourced_id",
        "enrollments.csv",
        3,
        replace_line("enrollments.csv", 2, "e 2,,,k1,s1,u2,teacher,true,,"),
        None,
    ),
    (
        "field.date",
        "academicSessions.csv",
        3,
        replace_line("academicSessions.csv", 2, "t1,,,Fall,semester,2025-13-18,2026-01-14,y1,2026"),
        None,
    ),
    ("field.boolean", "users.csv", 2, replace_line("users.csv", 1, f"u1,,,TRUE,{U[5:]}"), None),
    (
        "field.school_year",
        "academicSessions.csv",
        2,
        replace_line("academicSessions.csv", 1, "y1,,,2025-2026,schoolYear,2025-08-18,2026-06-05,,25-26"),
        None,
    ),
    ("field.enum", "roles.csv", 3, replace_line("roles.csv", 2, "r2,,,u2,primary,janitor,,,s1,"), None),
    ("field.user_ids", "users.csv", 2, replace_line("users.csv", 1, f"u1,,,true,ava,SIS-1,{U.split(',', 3)[3]}"), None),
    (
        "field.grades",
        "courses.csv",
        2,
        replace_line("courses.csv", 1, 'c1,,,y1,Math 3,M3,3rd,s1,"Math,Science","m,s"'),
        None,
    ),
    (
        "field.list_pairing",
        "courses.csv",
        2,
        replace_line("courses.csv", 1, 'c1,,,y1,Math 3,M3,03,s1,"Math,Science",m'),
        None,
    ),
    # The strict reading consumers apply: subjects with subjectCodes blank is a mismatch too.
    (
        "field.list_pairing",
        "classes.csv",
        2,
        replace_line("classes.csv", 1, "k1,,,Math 3 - 1,03,c1,M3-1,scheduled,Room 1,s1,t1,homeroom,,1"),
        None,
    ),
    ("status.bulk_not_blank", "orgs.csv", 2, replace_line("orgs.csv", 1, "d1,active,,District,district,,"), None),
    (
        "unique.sourced_id",
        "enrollments.csv",
        3,
        replace_line("enrollments.csv", 2, "e1,,,k1,s1,u2,teacher,true,,"),
        None,
    ),
    (
        "ref.missing",
        "enrollments.csv",
        2,
        replace_line("enrollments.csv", 1, "e1,,,k9,s1,u1,student,,2025-08-18,"),
        None,
    ),
    (
        "ref.type",
        "classes.csv",
        2,
        replace_line("classes.csv", 1, "k1,,,Math 3 - 1,03,c1,M3-1,scheduled,Room 1,d1,t1,,,1"),
        None,
    ),
    (
        "roles.one_primary",
        "roles.csv",
        4,
        {**GOOD_12, "roles.csv": [*GOOD_12["roles.csv"], "r3,,,u1,primary,student,,,s1,"]},
        None,
    ),
    (
        "users.primary_org_role",
        "users.csv",
        2,
        replace_line("users.csv", 1, "u1,,,true,ava,{SIS:1},Ava,Smith,,1,,,,,03,,,,,,d1,"),
        None,
    ),
    (
        "enrollments.primary_not_teacher",
        "enrollments.csv",
        2,
        replace_line("enrollments.csv", 1, "e1,,,k1,s1,u1,student,false,2025-08-18,"),
        None,
    ),
    ("row.field_count", "enrollments.csv", 3, replace_line("enrollments.csv", 2, "e2,,,k1,s1,u2,teacher,true,"), None),
    (
        "header.columns",
        "orgs.csv",
        1,
        replace_line("orgs.csv", 0, f"{LEAD},type,name,identifier,parentSourcedId"),
        None,
    ),
    (
        "header.extension",
        "orgs.csv",
        1,
        replace_line("orgs.csv", 0, f"{LEAD},name,type,identifier,parentSourcedId,x"),
        None,
    ),
]


@pytest.mark.parametrize(("rule", "member", "row", "files", "_"), BAD_ROWS, ids=[b[0] for b in BAD_ROWS])
def test_each_row_rule(tmp_path: Path, rule: str, member: str, row: int, files, _) -> None:
    report = validate_bundle(write(tmp_path, files, manifest("1.2", files)))
    assert {(i.file, i.row, i.rule) for i in report.issues} == {(member, row, rule)}, report.summary()
    assert "Ava" not in report.summary()  # never a value


def test_delta_rules(tmp_path: Path) -> None:
    files = {
        "orgs.csv": [
            GOOD_12["orgs.csv"][0],
            "s1,active,2025-09-01T06:00:00.000Z,School,school,,d1",
            "s2,,,School 2,school,,d1",
            "s3,active,2025-09-01,School 3,school,,d1",
        ]
    }
    report = validate_bundle(write(tmp_path, files, manifest("1.2", files, mode="delta")))
    assert {(i.row, i.rule) for i in report.issues} == {(3, "status.delta_required"), (4, "field.datetime")}


def bad_manifest(change) -> list[str]:
    lines = manifest("1.2", GOOD_12)
    return change(lines)


MANIFEST_CASES = [
    ("manifest.missing", GOOD_12, None),
    ("manifest.header", GOOD_12, bad_manifest(lambda m: ["name,value", *m[1:]])),
    ("manifest.unknown_property", GOOD_12, bad_manifest(lambda m: [*m, "file.grades,absent"])),
    (
        "manifest.duplicate_property",
        GOOD_12,
        bad_manifest(lambda m: [*m, "source.systemName,A", "source.systemName,B"]),
    ),
    ("manifest.missing_property", GOOD_12, bad_manifest(lambda m: [x for x in m if not x.startswith("file.results")])),
    ("manifest.version", GOOD_12, bad_manifest(lambda m: [m[0], "manifest.version,1", *m[2:]])),
    (
        "manifest.file_mode",
        GOOD_12,
        bad_manifest(lambda m: [x.replace("file.results,absent", "file.results,none") for x in m]),
    ),
    ("manifest.absent_but_present", {**GOOD_12, "results.csv": ["x"]}, manifest("1.2", GOOD_12)),
    ("manifest.missing_file", {k: v for k, v in GOOD_12.items() if k != "courses.csv"}, manifest("1.2", GOOD_12)),
    ("package.unknown_file", {**GOOD_12, "notes.csv": ["a"]}, manifest("1.2", GOOD_12)),
    ("package.nested_path", {**GOOD_12, "x/orgs.csv": ["a"]}, manifest("1.2", GOOD_12)),
    # A header-only file: strict consumers want it absent from the package instead.
    ("file.no_rows", {**GOOD_12, "demographics.csv": GOOD_12["demographics.csv"][:1]}, manifest("1.2", GOOD_12)),
]


@pytest.mark.parametrize(("rule", "files", "manifest_lines"), MANIFEST_CASES, ids=[c[0] for c in MANIFEST_CASES])
def test_each_package_rule(tmp_path: Path, rule: str, files, manifest_lines) -> None:
    report = validate_bundle(write(tmp_path, files, manifest_lines))
    assert rule in report.rules(), report.summary()
    assert not report.ok


def test_encoding_and_malformed_csv(tmp_path: Path) -> None:
    files = {**GOOD_12, "orgs.csv": [GOOD_12["orgs.csv"][0], "d1,,,Distr\udcff,district,,"]}
    path = tmp_path / "enc.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("manifest.csv", "\r\n".join(manifest("1.2", GOOD_12)))
        for member, lines in files.items():
            data = "\r\n".join(lines).encode("utf-8", "surrogateescape")
            zf.writestr(member, data)
    assert ("orgs.csv", "csv.encoding") in {(i.file, i.rule) for i in validate_bundle(path).issues}
    broken = replace_line("orgs.csv", 2, 's1,,,"School,school,,d1')
    report = validate_bundle(write(tmp_path, broken, manifest("1.2", broken), "q.zip"))
    assert ("orgs.csv", "csv.malformed") in {(i.file, i.rule) for i in report.issues}


def test_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "bundle.zip"
    path.write_text("not a zip")
    assert validate_bundle(path).rules() == {"package.not_zip"}
