"""Each system's own record of every student and staff member, derived from the truth.

The SIS holds the truth (simulators/sis_oneroster.py renders it as is). Every other system keeps
its own copy, typed in, imported through a spreadsheet or synced from an old roster, so it departs
from the SIS in the ways identity resolution has to cope with, at the rates in `GeneratorRates`:

- names: one-letter typos, a nickname for the given name (William → Bill), given and family name
  swapped, the middle name dropped or cut to an initial;
- birth dates: two digits transposed, day and month swapped;
- IDs: leading zeros lost where a file passed through a spreadsheet, a stale local ID kept from
  before the student left and re-enrolled, the state ID missing, an LMS sis_user_id left blank or
  holding the login;
- coverage: students missing from a vendor's roster, LMS accounts known only by their email.

The result is two truth tables, `system_students` and `system_staff`: one row per (system, person
record), keyed by the truth `person_id`. Vendor files (vendor_files.py) and the REST simulators
serve people from them, so every system carries its noise; identity tests score the crosswalk
against `person_id`. Everything is drawn column-wise with numpy; only the few records that get a
typo or a transposed date go through Python one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Literal

import numpy as np
import pyarrow as pa

from interop_pipeline.config import GeneratorRates
from interop_pipeline.identity.nicknames import NICKNAMES

if TYPE_CHECKING:  # district.py imports this module
    from interop_pipeline.simulators.district import Numbering

STUDENT_COLUMNS = (
    "system",
    "person_id",
    "system_person_id",
    "sis_id",
    "state_id",
    "first_name",
    "middle_name",
    "last_name",
    "birth_date",
    "email",
    "login_id",
    "grade_level",
    "school_sourced_id",
)
STAFF_COLUMNS = (
    "system",
    "person_id",
    "system_person_id",
    "sis_id",
    "first_name",
    "last_name",
    "email",
    "login_id",
    "school_sourced_id",
)


@dataclass(frozen=True)
class SystemProfile:
    """What a system holds about a person and which kinds of noise reach it."""

    system_person_id: Literal["sis_id", "numeric", "state_id"]
    sis_id: Literal["held", "lms", "rare"] = "held"  # lms: sometimes blank or the login
    state_id: Literal["always", "noisy", "none"] = "none"
    middle_name: Literal["full", "initial", "none"] = "none"
    birth_date: bool = False
    grade_level: bool = True
    email: bool = False
    spreadsheet: bool = False  # leading zeros of IDs can be lost
    stale_ids: bool = False
    roster_gaps: bool = False  # some students are missing from the roster
    email_only: bool = False  # some accounts are known only by their email
    name_noise: float = 1.0  # multiplier on the name and birth-date noise rates


STUDENT_SYSTEMS: dict[str, SystemProfile] = {
    "nwea_map": SystemProfile(
        "sis_id",
        state_id="noisy",
        middle_name="initial",
        birth_date=True,
        spreadsheet=True,
        stale_ids=True,
        roster_gaps=True,
    ),
    "iready": SystemProfile("sis_id", state_id="always", stale_ids=True, roster_gaps=True),
    "state_assessment": SystemProfile("state_id", state_id="always", spreadsheet=True, stale_ids=True),
    "canvas": SystemProfile(
        "numeric", sis_id="lms", grade_level=False, email=True, stale_ids=True, roster_gaps=True, name_noise=0.5
    ),
    "google_classroom": SystemProfile(
        "numeric", sis_id="rare", grade_level=False, email=True, email_only=True, name_noise=0.5
    ),
    "edfi": SystemProfile("state_id", state_id="always", middle_name="full", birth_date=True, name_noise=0.3),
}
STAFF_SYSTEMS: dict[str, SystemProfile] = {
    "canvas": SystemProfile("numeric", sis_id="lms", email=True, name_noise=0.5),
    "google_classroom": SystemProfile("numeric", sis_id="rare", email=True, email_only=True, name_noise=0.5),
    "edfi": SystemProfile("sis_id", name_noise=0.3),
    "nwea_map": SystemProfile("sis_id", email=True),
}
RARE_SIS_ID_SHARE = 0.3  # Google accounts that carry the SIS ID as an external ID
KEYBOARD_NEIGHBOURS = {
    c: n
    for row in ("qwertyuiop", "asdfghjkl", "zxcvbnm")
    for i, c in enumerate(row)
    for n in [row[max(i - 1, 0) : i] + row[i + 1 : i + 2]]
}


@dataclass(frozen=True)
class SystemIdentities:
    students: pa.Table
    staff: pa.Table


def derive_identities(
    rng: np.random.Generator, students: pa.Table, staff: pa.Table, rates: GeneratorRates, numbering: Numbering
) -> SystemIdentities:
    """Every system's records of the students and staff, in system order then truth order
    (`numbering`: where each system's own numeric ids carry on, in a district drawn in parts)."""
    stale = _stale_ids(rng, students.num_rows, numbering)
    student_tables = [
        _student_records(rng, system, profile, students, stale, rates, salt=i, numbering=numbering)
        for i, (system, profile) in enumerate(STUDENT_SYSTEMS.items())
    ]
    staff_tables = [
        _staff_records(rng, system, profile, staff, rates, salt=i, numbering=numbering)
        for i, (system, profile) in enumerate(STAFF_SYSTEMS.items())
    ]
    return SystemIdentities(pa.concat_tables(student_tables), pa.concat_tables(staff_tables))


def _column(table: pa.Table, name: str) -> np.ndarray:
    return table[name].to_numpy(zero_copy_only=False).astype(object)


def _stale_ids(rng: np.random.Generator, n: int, numbering: Numbering) -> np.ndarray:
    """An earlier local ID per student, in the SIS's format, never another student's current ID:
    in a district drawn in parts, not one of another part's either (every part's ids are positions
    of one bijection, below the district's size)."""
    from interop_pipeline.simulators.district import LOCAL_IDS, unique_number_positions

    students = numbering.students or numbering.taken["students"]  # the district's, or those drawn

    def current(candidates: np.ndarray) -> np.ndarray:
        positions = unique_number_positions(candidates.astype(np.int64), *LOCAL_IDS, numbering.salts["local_id"])
        return positions < students

    stale = np.char.zfill(rng.integers(*LOCAL_IDS, n).astype(str), 7)
    taken = current(stale)
    while taken.any():
        stale[taken] = np.char.zfill(rng.integers(*LOCAL_IDS, int(taken.sum())).astype(str), 7)
        taken = current(stale) | _duplicated(stale)
    return stale.astype(object)


def _duplicated(values: np.ndarray) -> np.ndarray:
    _, first = np.unique(values, return_index=True)
    out = np.ones(len(values), dtype=bool)
    out[first] = False
    return out


def _numeric_ids(n: int, salt: int, numbering: Numbering) -> np.ndarray:
    """Distinct LMS-style numeric user ids (Canvas, Google), stable for a salt."""
    from interop_pipeline.simulators.district import unique_numbers

    first = numbering.take(f"numeric_ids:{salt}", n)
    return unique_numbers(n, 10_000_000_000, 99_999_999_999, salt, first).astype(str).astype(object)


def _student_records(
    rng: np.random.Generator,
    system: str,
    profile: SystemProfile,
    students: pa.Table,
    stale: np.ndarray,
    rates: GeneratorRates,
    salt: int,
    numbering: Numbering,
) -> pa.Table:
    keep = ~(rng.random(students.num_rows) < rates.vendor_roster_missing) if profile.roster_gaps else None
    people = students.filter(pa.array(keep)) if keep is not None else students
    stale = stale[keep] if keep is not None else stale
    n = people.num_rows
    noise = profile.name_noise
    first, middle, last = _column(people, "first_name"), _column(people, "middle_name"), _column(people, "last_name")
    first, middle, last = _name_noise(rng, first, middle, last, profile, rates, noise)

    sis_id = _column(people, "local_id")
    if profile.stale_ids:
        old = rng.random(n) < rates.identity_stale_id
        sis_id[old] = stale[old]
    if profile.spreadsheet:
        sis_id = _lose_leading_zeros(rng, sis_id, rates.vendor_id_leading_zero_dropped)
    login = _column(people, "username")
    email = _column(people, "email") if profile.email else np.full(n, None, dtype=object)
    sis_id = _sis_id_as_held(rng, sis_id, login, profile, rates)

    state_id = _column(people, "state_id")
    if profile.state_id == "none":
        state_id = np.full(n, None, dtype=object)
    elif profile.state_id == "noisy":
        state_id[rng.random(n) < rates.identity_state_id_blank] = None

    birth = people["birth_date"].to_numpy() if profile.birth_date else None
    if birth is not None:
        birth = _birth_date_noise(rng, birth, rates, noise)

    if profile.email_only:
        only = rng.random(n) < rates.identity_email_only
        for values in (first, middle, last, sis_id):
            values[only] = None
    system_person_id = {
        "sis_id": sis_id,
        "state_id": _column(people, "state_id"),
        "numeric": _numeric_ids(n, 1_000 + salt, numbering),
    }[profile.system_person_id]
    return pa.table(
        {
            "system": pa.array([system] * n, pa.string()),
            "person_id": people["person_id"],
            "system_person_id": pa.array(system_person_id, pa.string()),
            "sis_id": pa.array(sis_id, pa.string()),
            "state_id": pa.array(state_id, pa.string()),
            "first_name": pa.array(first, pa.string()),
            "middle_name": pa.array(middle, pa.string()),
            "last_name": pa.array(last, pa.string()),
            "birth_date": pa.array(birth, pa.date32()) if birth is not None else pa.nulls(n, pa.date32()),
            "email": pa.array(email, pa.string()),
            "login_id": pa.array(login if profile.email else np.full(n, None, dtype=object), pa.string()),
            "grade_level": people["grade_level"] if profile.grade_level else pa.nulls(n, pa.string()),
            "school_sourced_id": people["school_sourced_id"],
        }
    )


def _staff_records(
    rng: np.random.Generator,
    system: str,
    profile: SystemProfile,
    staff: pa.Table,
    rates: GeneratorRates,
    salt: int,
    numbering: Numbering,
) -> pa.Table:
    # NWEA rosters only the teachers of tested classes.
    people = (
        staff.filter(pa.array(np.asarray(staff["role"].to_pylist()) == "teacher")) if system == "nwea_map" else staff
    )
    n = people.num_rows
    first, _, last = _name_noise(
        rng,
        _column(people, "first_name"),
        np.full(n, None, dtype=object),
        _column(people, "last_name"),
        profile,
        rates,
        profile.name_noise,
    )
    login = _column(people, "username")
    sis_id = _sis_id_as_held(rng, _column(people, "staff_id"), login, profile, rates)
    if profile.email_only:
        only = rng.random(n) < rates.identity_email_only
        for values in (first, last, sis_id):
            values[only] = None
    numeric = profile.system_person_id == "numeric"
    system_person_id = _numeric_ids(n, 2_000 + salt, numbering) if numeric else _column(people, "staff_id")
    none = np.full(n, None, dtype=object)
    return pa.table(
        {
            "system": pa.array([system] * n, pa.string()),
            "person_id": people["person_id"],
            "system_person_id": pa.array(system_person_id, pa.string()),
            "sis_id": pa.array(sis_id, pa.string()),
            "first_name": pa.array(first, pa.string()),
            "last_name": pa.array(last, pa.string()),
            "email": pa.array(_column(people, "email") if profile.email else none, pa.string()),
            "login_id": pa.array(login if profile.email else none, pa.string()),
            "school_sourced_id": people["school_sourced_id"],
        }
    )


def _sis_id_as_held(
    rng: np.random.Generator, sis_id: np.ndarray, login: np.ndarray, profile: SystemProfile, rates: GeneratorRates
) -> np.ndarray:
    n = len(sis_id)
    if profile.sis_id == "lms":  # Canvas sis_user_id: sometimes blank, sometimes the login
        draw = rng.random(n)
        sis_id = np.where(draw < rates.identity_sis_id_blank, None, sis_id)
        is_login = (draw >= rates.identity_sis_id_blank) & (
            draw < rates.identity_sis_id_blank + rates.identity_sis_id_is_login
        )
        sis_id[is_login] = login[is_login]
    elif profile.sis_id == "rare":
        sis_id = np.where(rng.random(n) < RARE_SIS_ID_SHARE, sis_id, None)
    return sis_id.astype(object)


def _lose_leading_zeros(rng: np.random.Generator, ids: np.ndarray, rate: float) -> np.ndarray:
    """Excel turns 0123456 into 123456. `rate` is the share of all records; only IDs that start
    with a zero can lose it, so those lose it at rate / (their share)."""
    has_zero = np.array([isinstance(v, str) and v.startswith("0") for v in ids])
    if not has_zero.any():
        return ids
    lost = has_zero & (rng.random(len(ids)) < min(1.0, rate / has_zero.mean()))
    ids = ids.copy()
    ids[lost] = np.array([v.lstrip("0") for v in ids[lost]], dtype=object)
    return ids


def _name_noise(
    rng: np.random.Generator,
    first: np.ndarray,
    middle: np.ndarray,
    last: np.ndarray,
    profile: SystemProfile,
    rates: GeneratorRates,
    scale: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(first)
    first, middle, last = first.copy(), middle.copy(), last.copy()
    nick = (rng.random(n) < rates.identity_nickname * scale) & np.isin(
        np.char.lower(first.astype(str)), list(NICKNAMES)
    )
    choice = rng.integers(0, 3, n)
    for i in np.flatnonzero(nick):
        options = NICKNAMES[first[i].lower()]
        first[i] = options[choice[i] % len(options)].title()

    typo = rng.random(n) < rates.identity_name_typo * scale
    in_last = rng.random(n) < 0.5
    for i in np.flatnonzero(typo):
        if in_last[i]:
            last[i] = _typo(rng, last[i])
        else:
            first[i] = _typo(rng, first[i])

    swapped = rng.random(n) < rates.identity_name_order_swapped * scale
    first[swapped], last[swapped] = last[swapped], first[swapped].copy()

    if profile.middle_name == "none":
        middle = np.full(n, None, dtype=object)
    else:
        middle[rng.random(n) < rates.identity_middle_name_dropped] = None
        if profile.middle_name == "initial":
            middle = np.array([m[:1] if m else None for m in middle], dtype=object)
    return first, middle, last


def _typo(rng: np.random.Generator, name: str) -> str:
    """One slip of the keyboard: a neighbouring key, a dropped, doubled or swapped letter."""
    if len(name) < 3:
        return name
    i = int(rng.integers(1, len(name) - 1))  # the capital initial is rarely mistyped
    kind = int(rng.integers(0, 4))
    c = name[i].lower()
    if kind == 0 and c in KEYBOARD_NEIGHBOURS:
        options = KEYBOARD_NEIGHBOURS[c]
        return name[:i] + options[int(rng.integers(0, len(options)))] + name[i + 1 :]
    if kind == 1:
        return name[:i] + name[i + 1 :]
    if kind == 2:
        return name[:i] + name[i] + name[i:]
    if name[i] != name[i + 1 : i + 2] and i + 1 < len(name):
        return name[:i] + name[i + 1] + name[i] + name[i + 2 :]
    return name[:i] + name[i + 1 :]


def _birth_date_noise(rng: np.random.Generator, birth: np.ndarray, rates: GeneratorRates, scale: float) -> np.ndarray:
    birth = birth.astype("datetime64[D]").copy()
    n = len(birth)
    transposed = np.flatnonzero(rng.random(n) < rates.identity_dob_transposed * scale)
    for i in transposed:
        birth[i] = _transpose_digits(rng, birth[i].item())
    swap = rng.random(n) < rates.identity_dob_day_month_swapped * scale
    months = birth.astype("datetime64[M]")
    day = (birth - months).astype(int) + 1
    month = months.astype(int) % 12 + 1
    swap &= (day <= 12) & (day != month)
    years = birth.astype("datetime64[Y]").astype(int) + 1970
    for i in np.flatnonzero(swap):
        birth[i] = np.datetime64(date(int(years[i]), int(day[i]), int(month[i])))
    return birth


def _transpose_digits(rng: np.random.Generator, value: date) -> np.datetime64:
    """Swap two neighbouring digits of MMDDYYYY (as keyed), keeping only a valid, different date."""
    digits = f"{value.month:02d}{value.day:02d}{value.year}"
    for i in rng.permutation(len(digits) - 1):
        swapped = digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :]
        if swapped == digits:
            continue
        try:
            candidate = date(int(swapped[4:]), int(swapped[:2]), int(swapped[2:4]))
        except ValueError:
            continue
        if abs(candidate.year - value.year) <= 1:  # a plausible age for the grade
            return np.datetime64(candidate)
    return np.datetime64(value)
