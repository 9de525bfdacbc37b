"""The SIS's view of the district: a OneRoster 1.2 CSV bulk bundle, as an SIS export drops it.

Program flags that OneRoster has no column for (English learner, IDEA, 504, economically
disadvantaged, homeless) travel as `metadata.*` extension columns on demographics.csv, as SIS
exports commonly do. Output is byte-for-byte deterministic for a given truth: fixed zip
timestamps, fixed file order, so re-generating the same district yields the same fingerprint.
"""

from __future__ import annotations

import io
import zipfile
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from interop_pipeline.simulators.district import RACE_FLAG_COLUMNS, DistrictTruth

ONEROSTER_12_FILES = (
    "academicSessions categories classes classResources courses courseResources demographics "
    "enrollments lineItemLearningObjectiveIds lineItems lineItemScoreScales orgs resources "
    "resultLearningObjectiveIds results resultScoreScales roles scoreScales userProfiles "
    "userResources users"
).split()
SIS_ID_PREFIX = "SIS"
STATE_ID_PREFIX = "State"


def _text(values) -> pa.Array:
    """Any array → strings, nulls kept (written as empty fields); booleans lowercase."""
    array = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    if pa.types.is_boolean(array.type):
        return pc.if_else(array, "true", "false")
    return pc.cast(array, pa.string())


def _stack(*parts: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Concatenate columns (e.g. students' rows, then staff rows) into one array."""
    return pa.concat_arrays([p.combine_chunks() if isinstance(p, pa.ChunkedArray) else p for p in parts])


def _constant(value: str | None, n: int) -> pa.Array:
    return pa.array([value] * n, type=pa.string())


def _bulk_table(n: int, columns: dict[str, object]) -> pa.Table:
    """A bulk-file table: sourcedId first, then blank status and dateLastModified, then the rest."""
    items = list(columns.items())
    ordered = [items[0], ("status", _constant(None, n)), ("dateLastModified", _constant(None, n)), *items[1:]]
    return pa.table({name: _text(value) for name, value in ordered})


def _orgs(truth: DistrictTruth, district_name: str, lea_id: str) -> pa.Table:
    schools = truth.schools
    n = schools.num_rows + 1
    return _bulk_table(
        n,
        {
            "sourcedId": ["org-district", *schools["sourced_id"].to_pylist()],
            "name": [district_name, *schools["name"].to_pylist()],
            "type": ["district"] + ["school"] * schools.num_rows,
            "identifier": [lea_id, *schools["state_school_id"].to_pylist()],
            "parentSourcedId": [None] + ["org-district"] * schools.num_rows,
        },
    )


def _academic_sessions(truth: DistrictTruth) -> pa.Table:
    s = truth.calendar.sessions
    return _bulk_table(
        s.num_rows,
        {
            "sourcedId": s["sourced_id"],
            "title": s["title"],
            "type": s["type"],
            "startDate": s["start_date"],
            "endDate": s["end_date"],
            "parentSourcedId": s["parent_sourced_id"],
            "schoolYear": s["school_year"],
        },
    )


def _courses(truth: DistrictTruth) -> pa.Table:
    c = truth.courses
    school_year = truth.calendar.sessions["sourced_id"][0].as_py()
    return _bulk_table(
        c.num_rows,
        {
            "sourcedId": c["sourced_id"],
            "schoolYearSourcedId": _constant(school_year, c.num_rows),
            "title": c["title"],
            "courseCode": c["course_code"],
            "grades": c["grades"],
            "orgSourcedId": c["school_sourced_id"],
            "subjects": c["subject"],
            "subjectCodes": c["sced_code"],
        },
    )


def _classes(truth: DistrictTruth) -> pa.Table:
    s = truth.sections
    terms = ",".join(
        truth.calendar.sessions.filter(pc.equal(truth.calendar.sessions["type"], "semester"))["sourced_id"].to_pylist()
    )
    return _bulk_table(
        s.num_rows,
        {
            "sourcedId": s["sourced_id"],
            "title": s["title"],
            "grades": s["grades"],
            "courseSourcedId": s["course_sourced_id"],
            "classCode": s["class_code"],
            "classType": s["class_type"],
            "location": pc.binary_join_element_wise("Room ", s["period"], ""),
            "schoolSourcedId": s["school_sourced_id"],
            "termSourcedIds": _constant(terms, s.num_rows),
            "subjects": s["subject"],
            "subjectCodes": s["sced_code"],
            "periods": s["period"],
        },
    )


def _users(truth: DistrictTruth) -> pa.Table:
    st, sf = truth.students, truth.staff
    n_students, n_staff = st.num_rows, sf.num_rows
    n = n_students + n_staff
    blank = _constant(None, n)
    user_ids = pc.binary_join_element_wise(
        f"{{{SIS_ID_PREFIX}:", st["local_id"], f"}},{{{STATE_ID_PREFIX}:", st["state_id"], "}", ""
    )
    staff_ids = pc.binary_join_element_wise(f"{{{SIS_ID_PREFIX}:", sf["staff_id"], "}", "")
    return _bulk_table(
        n,
        {
            "sourcedId": _stack(st["sourced_id"], sf["sourced_id"]),
            "enabledUser": _constant("true", n),
            "username": _stack(st["username"], sf["username"]),
            "userIds": _stack(user_ids, staff_ids),
            "givenName": _stack(st["first_name"], sf["first_name"]),
            "familyName": _stack(st["last_name"], sf["last_name"]),
            "middleName": _stack(st["middle_name"], _constant(None, n_staff)),
            "identifier": _stack(st["local_id"], sf["staff_id"]),
            "email": _stack(st["email"], sf["email"]),
            "sms": blank,
            "phone": blank,
            "agentSourcedIds": blank,
            "grades": _stack(st["grade_level"], _constant(None, n_staff)),
            "password": blank,
            "userMasterIdentifier": _stack(st["state_id"], _constant(None, n_staff)),
            "preferredGivenName": blank,
            "preferredMiddleName": blank,
            "preferredFamilyName": blank,
            "primaryOrgSourcedId": _stack(st["school_sourced_id"], sf["school_sourced_id"]),
            "pronouns": blank,
        },
    )


def _sourced_ids_of(people: pa.Table, person_ids: pa.ChunkedArray) -> pa.Array:
    """Map truth person keys to the SIS sourcedIds of those people."""
    return people["sourced_id"].take(pc.index_in(person_ids, value_set=people["person_id"]))


def _roles(truth: DistrictTruth) -> pa.Table:
    spells, staff = truth.school_enrollments, truth.staff
    n_spells = spells.num_rows
    n = n_spells + staff.num_rows
    return _bulk_table(
        n,
        {
            "sourcedId": serial_ids("role-", n),
            "userSourcedId": _stack(_sourced_ids_of(truth.students, spells["person_id"]), staff["sourced_id"]),
            "roleType": _constant("primary", n),
            "role": _stack(_constant("student", n_spells), staff["role"]),
            "beginDate": _stack(
                _text(spells["entry_date"]), _constant(str(truth.calendar.instructional_days[0]), staff.num_rows)
            ),
            "endDate": _stack(_text(spells["exit_date"]), _constant(None, staff.num_rows)),
            "orgSourcedId": _stack(spells["school_sourced_id"], staff["school_sourced_id"]),
            "userProfileSourcedId": _constant(None, n),
        },
    )


def _enrollments(truth: DistrictTruth) -> pa.Table:
    se, sa, sections = truth.section_enrollments, truth.staff_assignments, truth.sections
    n_students, n_teachers = se.num_rows, sa.num_rows
    n = n_students + n_teachers
    return _bulk_table(
        n,
        {
            "sourcedId": serial_ids("enr-", n),
            "classSourcedId": _stack(se["section_sourced_id"], sa["section_sourced_id"]),
            "schoolSourcedId": _stack(
                se["school_sourced_id"],
                sections["school_sourced_id"].take(
                    pc.index_in(sa["section_sourced_id"], value_set=sections["sourced_id"])
                ),
            ),
            "userSourcedId": _stack(
                _sourced_ids_of(truth.students, se["person_id"]), _sourced_ids_of(truth.staff, sa["person_id"])
            ),
            "role": _stack(_constant("student", n_students), _constant("teacher", n_teachers)),
            "primary": _stack(_constant(None, n_students), _constant("true", n_teachers)),
            "beginDate": _stack(_text(se["begin_date"]), _text(sa["begin_date"])),
            "endDate": _stack(_text(se["end_date"]), _constant(None, n_teachers)),
        },
    )


def _demographics(truth: DistrictTruth) -> pa.Table:
    st = truth.students
    n = st.num_rows
    blank = _constant(None, n)
    race = {
        "americanIndianOrAlaskaNative": "race_AmericanIndianOrAlaskaNative",
        "asian": "race_Asian",
        "blackOrAfricanAmerican": "race_BlackOrAfricanAmerican",
        "nativeHawaiianOrOtherPacificIslander": "race_NativeHawaiianOrOtherPacificIslander",
        "white": "race_White",
    }
    assert set(race.values()) == {f"race_{c}" for c in RACE_FLAG_COLUMNS}
    return _bulk_table(
        n,
        {
            "sourcedId": st["sourced_id"],
            "birthDate": st["birth_date"],
            "sex": st["sex"],
            **{column: st[truth_column] for column, truth_column in race.items()},
            "demographicRaceTwoOrMoreRaces": pc.equal(st["race_ethnicity"], "TwoOrMoreRaces"),
            "hispanicOrLatinoEthnicity": st["hispanic_or_latino"],
            "countryOfBirthCode": blank,
            "stateOfBirthAbbreviation": blank,
            "cityOfBirth": blank,
            "publicSchoolResidenceStatus": blank,
            # Extension columns: program flags the SIS exports beyond the standard.
            "metadata.englishLearner": st["english_learner"],
            "metadata.idea": st["idea"],
            "metadata.section504": st["section_504"],
            "metadata.economicallyDisadvantaged": st["economically_disadvantaged"],
            "metadata.homeless": st["homeless"],
        },
    )


def _csv_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=True, quoting_style="needed"))
    return sink.getvalue()


def _manifest(present: list[str], system_name: str, system_code: str) -> bytes:
    rows = [("manifest.version", "1.0"), ("oneroster.version", "1.2")]
    rows += [(f"file.{name}", "bulk" if name in present else "absent") for name in ONEROSTER_12_FILES]
    rows += [("source.systemName", system_name), ("source.systemCode", system_code)]
    return _csv_bytes(pa.table({"propertyName": [r[0] for r in rows], "value": [r[1] for r in rows]}))


def sis_roster_tables(
    truth: DistrictTruth, *, district_name: str, lea_id: str, first_part: bool = True
) -> dict[str, pa.Table]:
    """The SIS's roster by OneRoster file name, as bulk-file tables (strings; null = blank).
    The CSV bundle writes them; the simulated OneRoster REST API serves the same records.
    Of a district drawn in parts, a later part's leave out the district's own org and the
    sessions, and their roles and enrollments are numbered again when the parts are joined
    (simulators/generate.py)."""
    orgs, sessions = _orgs(truth, district_name, lea_id), _academic_sessions(truth)
    return {
        "orgs": orgs if first_part else orgs.slice(1),  # row 0: the district
        "academicSessions": sessions if first_part else sessions.slice(0, 0),
        "courses": _courses(truth),
        "classes": _classes(truth),
        "users": _users(truth),
        "roles": _roles(truth),
        "enrollments": _enrollments(truth),
        "demographics": _demographics(truth),
    }


def serial_ids(prefix: str, n: int) -> np.ndarray:
    """Role and enrollment sourcedIds only need to be stable and unique: prefix + position."""
    return np.char.add(prefix, np.arange(1, n + 1).astype(str))


def _member(name: str, stamp: tuple[int, ...]) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=stamp)
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_bundle(files: dict[str, pa.Table], out_dir: Path, *, system_name: str, as_of: date) -> Path:
    """Write roster tables (sis_roster_tables) as the SIS's bulk export `sis_oneroster_<as_of>.zip`,
    one file's CSV text at a time."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"sis_oneroster_{as_of.isoformat()}.zip"
    temporary = path.with_suffix(".zip.partial")  # a drop-folder watcher must never see half a zip
    stamp = (as_of.year, as_of.month, as_of.day, 0, 0, 0)
    with zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_member("manifest.csv", stamp), _manifest(list(files), system_name, "sis"))
        for name, table in files.items():
            archive.writestr(_member(f"{name}.csv", stamp), _csv_bytes(table))
    temporary.replace(path)
    return path
