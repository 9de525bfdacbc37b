"""Fuzzed inputs: every real vendor sample and every OneRoster fixture, mutated, through the real
landing entry points.

Inputs: the anonymized vendor exports in ``tests/fixtures/vendor_samples/`` (Apache-2.0,
Education Analytics' earthmover_edfi_bundles; see that folder's README), each landed with a
declaration inferred from its own header; the hub district's MAP and i-Ready files with the
built-in declarations; and the OneRoster bundles the connector tests build (the hub's 1.1 bulk
bundle, the hand-written 1.2 and 1.1 bundles of test_oneroster_csv.py).

Mutations (deterministic: each case seeds its own random generator from its id): cut at a
random byte, a random bit or byte changed, re-encoded (UTF-16 with and without a byte-order
mark, Latin-1 with non-ASCII letters), the header line repeated, an empty file, NUL bytes, a
UTF-8 BOM in the middle, a stray double quote (in the header too), a header that lost its line
break, a cut inside a quoted value; for zips: cut, bytes changed (anywhere or in the
central directory), an empty zip, a zip bomb (declared and lying about its size), nested zips,
member paths escaping the folder (``../``, absolute, backslash), repeated member names, headers
zipfile trusts (an unsupported or wrong compression method, a central directory offset that puts
members at negative offsets, a member name flagged UTF-8 that is not).

Every case must end in exactly one of:

- landed: landed rows plus rejected rows account for every data row of the file, each reject
  carries a rule and a detail, and no reject detail echoes a personal value;
- refused: the connector's own refusal (:class:`VendorFileError`, :class:`OneRosterBundleError`)
  whose message names the delivered file and echoes no personal value, and nothing landed.

Anything else (UnicodeError, IndexError, KeyError, a raw zipfile.BadZipFile...) is a failure,
and so is a case running past its timeout.
"""

from __future__ import annotations

import csv
import io
import random
import re
import struct
import traceback
import warnings
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import NoReturn

import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors import tabular
from interop_pipeline.connectors.oneroster_csv import (
    VERSIONS,
    OneRosterBundleError,
    land_oneroster_bundle,
)
from interop_pipeline.connectors.tabular import FileDeclaration, VendorFileError
from tests.connectors.test_oneroster_csv import default_files
from tests.hub_fixture import IREADY_DIR, NWEA_MAP_DIR, ONEROSTER_DIR
from tests.samples import VENDOR_SAMPLES

AT = datetime(2025, 10, 1, 6, 0, 0, tzinfo=UTC)
LIMIT = 3_999_989  # max_uncompressed_bytes for every case: the bombs expand past it
BOMB_SIZE = LIMIT + 1_048_583  # odd sizes: a refusal quoting them cannot look like an id
MAX_LINES = 200  # big samples are cut to their first lines before mutating
TIMEOUT = 30
_ZIP_TIME = (2025, 10, 1, 5, 0, 0)

TEXT_MUTATIONS = (
    "cut",
    "cut_header",
    "cut_in_quotes",
    "bitflip",
    "byteflip",
    "utf16",
    "utf16le_nobom",
    "latin1",
    "dup_header",
    "empty",
    "nul",
    "bom_mid",
    "stray_quote",
    "quote_in_header",
    "merged_header",
)
ZIP_MUTATIONS = (
    "zip",
    "zip_cut",
    "zip_flip",
    "zip_flip_cd",
    "zip_empty",
    "zip_bomb",
    "zip_bomb_lying",
    "zip_nested",
    "zip_nested_member",
    "zip_dotdot",
    "zip_absolute",
    "zip_backslash",
    "zip_dup_member",
    "zip_method_unknown",
    "zip_method_bz2",
    "zip_cd_offset",
    "zip_utf8_name",
)


def seed_of(case_id: str) -> int:
    return zlib.crc32(case_id.encode("utf-8"))


# ------------------------------------------------------------------------------------------
# Mutations of one text file (bytes in, bytes out)
# ------------------------------------------------------------------------------------------


def _line_starts(data: bytes) -> list[int]:
    return [0, *(m.end() for m in re.finditer(rb"\r\n|\n|\r", data) if m.end() < len(data))]


def _text(data: bytes) -> str:
    return data.decode("utf-8-sig", errors="replace")


def mutate_text(data: bytes, mutation: str, rng: random.Random, header_line: int = 0) -> bytes:
    """`data` changed by `mutation`; `header_line` is the 0-based physical line of the header."""
    starts = _line_starts(data)
    if mutation == "cut":
        return data[: rng.randrange(1, len(data))]
    if mutation == "cut_in_quotes":  # an incomplete download ending inside a quoted value
        opening = [m.start() for m in re.finditer(rb'(?:^|[,\t|;\r\n])"', data)]
        if not opening:
            return data[: rng.randrange(1, len(data))]
        at = rng.choice(opening) + 2
        close = data.find(b'"', at)
        return data[: rng.randrange(at, close if close > at else at + 1)]
    if mutation == "cut_header":
        start = starts[min(header_line, len(starts) - 1)]
        end = starts[header_line + 1] if header_line + 1 < len(starts) else len(data)
        return data[: rng.randrange(start + 1, max(start + 2, end))]
    if mutation == "bitflip":
        i = rng.randrange(len(data))
        return data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
    if mutation == "byteflip":
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.randrange(256)]) + data[i + 1 :]
    if mutation == "utf16":
        return _text(data).encode("utf-16")
    if mutation == "utf16le_nobom":
        return _text(data).encode("utf-16-le")
    if mutation == "latin1":
        chars = list(_text(data))
        letters = [i for i, c in enumerate(chars) if c.isalpha() and c.isascii()]
        for i in rng.sample(letters, min(5, len(letters))):
            chars[i] = rng.choice("éñüçøÉÑß")
        return "".join(chars).encode("latin-1", errors="replace")
    if mutation == "dup_header":
        start = starts[min(header_line, len(starts) - 1)]
        end = starts[header_line + 1] if header_line + 1 < len(starts) else len(data)
        line = data[start:end].removeprefix(b"\xef\xbb\xbf")
        if not line.endswith((b"\n", b"\r")):
            line += b"\n"
        return data[:end] + line + data[end:]
    if mutation == "empty":
        return b""
    if mutation == "nul":
        out = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            out.insert(rng.randrange(len(out) + 1), 0)
        return bytes(out)
    if mutation == "bom_mid":
        at = rng.choice(starts[1:] or [len(data) // 2]) if rng.random() < 0.5 else rng.randrange(1, len(data))
        return data[:at] + b"\xef\xbb\xbf" + data[at:]
    if mutation == "stray_quote":
        at = rng.randrange(1, len(data))
        return data[:at] + b'"' + data[at:]
    if mutation == "quote_in_header":  # the header runs on into the data rows
        start = starts[min(header_line, len(starts) - 1)]
        end = starts[header_line + 1] if header_line + 1 < len(starts) else len(data)
        at = rng.randrange(start, end)
        return data[:at] + b'"' + data[at:]
    if mutation == "merged_header":  # the header's line break lost: the first row continues it
        if header_line + 1 >= len(starts):
            return data
        end = starts[header_line + 1]
        cut = end - (2 if data[end - 2 : end] == b"\r\n" else 1)
        return data[:cut] + rng.choice([b"", b",", b" "]) + data[end:]
    raise AssertionError(f"unknown mutation {mutation}")


# ------------------------------------------------------------------------------------------
# Zips: well-formed ones, and the hostile ones
# ------------------------------------------------------------------------------------------


def write_zip(path: Path, members: dict[str, bytes] | list[tuple[str, bytes]]) -> Path:
    items = members.items() if isinstance(members, dict) else members
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        warnings.simplefilter("ignore", UserWarning)  # a repeated member name is the point of one case
        for name, content in items:
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return path


def write_bomb(path: Path, name: str, head: bytes, expands_to: int) -> Path:
    """A member `name` starting with `head`, then zeros up to `expands_to` bytes: written chunk by
    chunk (a few MB of zeros deflate to a few KB; nothing big is ever held in memory)."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(info, "w") as member:
            member.write(head)
            left = expands_to - len(head)
            while left > 0:
                member.write(chunk[: min(left, len(chunk))])
                left -= len(chunk)
    return path


def lie_about_size(path: Path, declared: int) -> Path:
    """Rewrite a one-member zip's local and central headers to declare `declared` bytes
    uncompressed: the size check passes, the stream still expands far past it."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    struct.pack_into("<I", data, 22, declared)  # local header: uncompressed size
    central = data.rindex(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)  # central directory: uncompressed size
    path.write_bytes(bytes(data))
    return path


def patch_headers(path: Path, mutation: str, rng: random.Random) -> Path:
    """Damage the headers of a written zip where zipfile trusts them: a member's compression
    method (unsupported; bzip2 over a deflate stream), the central directory's offset (members
    then sit at a negative offset), a member name flagged UTF-8 that is not."""
    data = bytearray(path.read_bytes())
    entries = [m.start() for m in re.finditer(rb"PK\x01\x02", data)]
    entry = rng.choice(entries)
    local = struct.unpack_from("<I", data, entry + 42)[0]
    if mutation in ("zip_method_unknown", "zip_method_bz2"):
        method = 99 if mutation == "zip_method_unknown" else 12
        struct.pack_into("<H", data, entry + 10, method)
        struct.pack_into("<H", data, local + 8, method)
    elif mutation == "zip_cd_offset":
        end = data.rindex(b"PK\x05\x06")
        offset = struct.unpack_from("<I", data, end + 16)[0]
        struct.pack_into("<I", data, end + 16, offset + rng.randrange(1, 64))
    elif mutation == "zip_utf8_name":
        flags = struct.unpack_from("<H", data, entry + 8)[0]
        struct.pack_into("<H", data, entry + 8, flags | 0x800)
        data[entry + 46] = rng.choice([0xFF, 0xC3, 0x80])
    path.write_bytes(bytes(data))
    return path


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), content)
    return buffer.getvalue()


def mutate_zip(
    path: Path, members: dict[str, bytes], mutation: str, rng: random.Random
) -> tuple[Path, dict[str, bytes] | None]:
    """Write the archive `path` from `members`, changed by `mutation`. Returns the path and the
    members a landing reads, when they are known (None: bytes the zip itself decides)."""
    names = sorted(members)
    victim = rng.choice(names)
    if mutation == "zip":
        return write_zip(path, members), members
    if mutation in ("zip_cut", "zip_flip", "zip_flip_cd"):
        data = write_zip(path, members).read_bytes()
        if mutation == "zip_cut":
            data = data[: rng.randrange(1, len(data))]
        else:
            low = data.index(b"PK\x01\x02") if mutation == "zip_flip_cd" else 0
            i = rng.randrange(low, len(data))
            data = data[:i] + bytes([data[i] ^ (1 << rng.randrange(8))]) + data[i + 1 :]
        path.write_bytes(data)
        return path, None
    if mutation == "zip_empty":
        return write_zip(path, {}), {}
    if mutation == "zip_bomb":
        return write_bomb(path, victim, members[victim], BOMB_SIZE), None
    if mutation == "zip_bomb_lying":
        write_bomb(path, victim, members[victim], BOMB_SIZE)
        return lie_about_size(path, len(members[victim])), None
    if mutation == "zip_nested":
        return write_zip(path, {"inner.zip": zip_bytes(members)}), None
    if mutation == "zip_nested_member":
        return write_zip(path, {**members, victim: zip_bytes({victim: members[victim]})}), None
    escaped = {
        "zip_dotdot": f"../{victim}",
        "zip_absolute": f"/tmp/{victim}",
        "zip_backslash": f"..\\{victim}",
    }
    if mutation in escaped:
        return write_zip(path, [*members.items(), (escaped[mutation], members[victim])]), None
    if mutation == "zip_dup_member":
        return write_zip(path, [*members.items(), (victim, members[victim])]), None
    if mutation in ("zip_method_unknown", "zip_method_bz2", "zip_cd_offset", "zip_utf8_name"):
        return patch_headers(write_zip(path, members), mutation, rng), None
    raise AssertionError(f"unknown zip mutation {mutation}")


# ------------------------------------------------------------------------------------------
# Vendor samples: a declaration inferred from each file's own header
# ------------------------------------------------------------------------------------------

_PERSONAL = re.compile(
    r"(?i)name|birth|dob|student.?(id|number|identifier)|local.?id|state.?id|^stn$|suns|email|login"
    r"|barcode|permid|psid|std_pid|candidate|fast.?id|test.?taker"
)
# Names of places and programs are not personal.
_NOT_PERSONAL = re.compile(
    r"(?i)(district|school|site|program|account|municipality|organi[sz]ation|campus|community|county|course"
    r"|assessment|test|centre|center|class|div|sch|respondent|state|series|qualification)[ _]?(nm|name)"
)
_DATE_FORMATS = ["%m/%d/%Y", "%Y-%m-%d", "%m/%d/%y", "%Y-%m-%d %H:%M:%S", "%m/%d/%Y %H:%M"]
_SENTINELS = {v.casefold() for v in tabular.DEFAULT_NULL_VALUES}
MAX_FIELDS = 16


@dataclass(frozen=True)
class VendorInput:
    """One delivered vendor file: its bytes (cut to MAX_LINES), the declarations that read it,
    and the values of its personal columns."""

    key: str  # readable id part
    name: str  # delivered file name
    data: bytes
    declarations: tuple[FileDeclaration, ...]
    header_line: int
    personal_values: frozenset[str]


def _snake(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", text.casefold()).strip("_")[:50] or "col"
    if not base[0].isalpha():
        base = f"c_{base}"
    name, n = base, 1
    while name in used:
        n += 1
        name = f"{base}_{n}"
    used.add(name)
    return name


def _head_lines(data: bytes) -> bytes:
    starts = _line_starts(data)
    return data if len(starts) <= MAX_LINES else data[: starts[MAX_LINES]]


def _infer_type(values: list[str]) -> dict:
    filled = [v.strip() for v in values if v.strip() and v.strip().casefold() not in _SENTINELS]
    if not filled:
        return {}
    if all(re.fullmatch(r"[+-]?\d+", v) for v in filled):
        return {"type": "integer"}
    if all(re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)%?", v) for v in filled):
        return {"type": "decimal"}

    def is_date(v: str) -> bool:
        for fmt in _DATE_FORMATS:
            try:
                datetime.strptime(v, fmt)
                return True
            except ValueError:
                continue
        return False

    if all(is_date(v) for v in filled):
        return {"type": "date", "formats": _DATE_FORMATS}
    return {}


def _sample_declaration(folder: str, path: Path, data: bytes, index: int, extra_patterns: list[str]) -> tuple:
    rows = list(csv.reader(io.StringIO(_text(data), newline="")))
    header_at = max(range(min(4, len(rows))), key=lambda i: (sum(bool(c.strip()) for c in rows[i]), -i))
    header, body = rows[header_at], rows[header_at + 1 :]
    counts: dict[str, int] = {}
    for name in header:
        key = "".join(name.replace("\ufeff", "").split()).casefold()
        counts[key] = counts.get(key, 0) + 1
    usable = [
        (i, name)
        for i, name in enumerate(header)
        if name.strip() and counts["".join(name.replace("\ufeff", "").split()).casefold()] == 1
    ]
    is_personal = lambda name: bool(_PERSONAL.search(name)) and not _NOT_PERSONAL.search(name)  # noqa: E731
    personal = [(i, n) for i, n in usable if is_personal(n)][:8]
    others = [(i, n) for i, n in usable if not is_personal(n)][: MAX_FIELDS - len(personal)]
    # The header's last column is required too (when usable): a header that lost its line break
    # then misses it, and the refusal must not quote the data row run into it.
    last = (len(header) - 1, header[-1])
    if last in usable and last not in personal + others:
        others.append(last)
    chosen = sorted(personal + others)
    used: set[str] = set()
    fields = []
    for i, name in chosen:
        spec: dict = {"name": _snake(name, used), "columns": [name.replace("\ufeff", "")]}
        spec.update(_infer_type([row[i] for row in body if i < len(row)]))
        if (i, name) in personal:
            spec["personal"] = True
        fields.append(spec)
    # The first personal column identifies the student: required, and not null where the
    # sample always fills it.
    first_at, _ = personal[0] if personal else chosen[0]
    first = fields[[i for i, _ in chosen].index(first_at)]
    first["required"] = True
    if last in chosen:
        fields[chosen.index(last)]["required"] = True
    if all(first_at < len(row) and row[first_at].strip() for row in body if any(c.strip() for c in row)):
        first["not_null"] = True
    stem = re.sub(r"[^a-z0-9]+", "_", path.stem.casefold()).strip("_")
    declaration = FileDeclaration.model_validate(
        {
            "name": f"fuzz_{index}_{stem}"[:63],
            "system": f"vs_{re.sub(r'[^a-z0-9]+', '_', folder.casefold())}"[:63],
            "entity": f"e_{stem}"[:63],
            "description": f"Fuzz declaration inferred from {folder}/{path.name}.",
            "file_pattern": [path.name, *extra_patterns],
            "header_row": header_at + 1,
            "mode": "snapshot" if index % 2 else "append",
            "fields": fields,
        }
    )
    # Personal values worth looking for in messages: not also a header name or a public value.
    public = {c.strip() for c in header} | {
        row[i].strip() for row in body for i in range(len(row)) if i not in {p for p, _ in personal}
    }
    secrets = {row[i].strip() for row in body for i, _ in personal if i < len(row)} - public
    return declaration, header_at, {v for v in secrets if _worth_checking(v) and not _in_any(v, header)}


def _in_any(value: str, names: Iterable[str]) -> bool:
    """Whether `value` is part of a column name (a refusal may quote those)."""
    return any(value.casefold() in name.casefold() for name in names)


def _worth_checking(value: str) -> bool:
    # Long enough not to appear in a message by chance (a line number, a count, "true").
    return len(value) >= 5 and not re.fullmatch(r"\d{1,6}", value) and value.casefold() not in _SENTINELS


# The fixed-width PreACT export and SC Alternate's JSON-lines side file have no declaration of
# their own: a district that drops them lands them with their CSV twin's (they must be refused
# or land cleanly, never crash).
_TWINS = {"Records_anonymized.txt": "Records_anonymized.csv", "columns_by_year.jsonl": "columns_by_year.csv"}


@cache
def vendor_inputs() -> dict[str, VendorInput]:
    inputs: dict[str, VendorInput] = {}
    if VENDOR_SAMPLES.is_dir():
        paths = sorted(p for p in VENDOR_SAMPLES.glob("*/*") if p.suffix in (".csv", ".txt", ".jsonl"))
        made: dict[Path, tuple] = {}
        for index, path in enumerate(p for p in paths if p.name not in _TWINS):
            twins = [name for name, twin in _TWINS.items() if twin == path.name and (path.parent / name).exists()]
            made[path] = _sample_declaration(path.parent.name, path, path.read_bytes(), index, twins)
        for path in paths:
            declaration, header_at, secrets = made[path.parent / _TWINS.get(path.name, path.name)]
            key = f"{path.parent.name}/{path.name}"
            inputs[key] = VendorInput(
                key, path.name, _head_lines(path.read_bytes()), (declaration,), header_at, frozenset(secrets)
            )
    # The hub district's own MAP and i-Ready exports, with the built-in declarations.
    builtins = tabular.builtin_declarations()
    for folder, system in ((NWEA_MAP_DIR, "nwea_map"), (IREADY_DIR, "iready")):
        declarations = tuple(d for d in builtins.values() if d.system == system)
        for path in sorted(folder.glob("*.csv")):
            key = f"hub/{system}/{path.name}"
            secrets = _personal_values_builtin(path.read_bytes(), declarations, path.name)
            inputs[key] = VendorInput(key, path.name, path.read_bytes(), declarations, 0, secrets)
    return inputs


def _personal_values_builtin(data: bytes, declarations: tuple[FileDeclaration, ...], name: str) -> frozenset[str]:
    declaration = next(d for d in declarations if d.matches(name))
    personal = {c for f in declaration.fields if f.personal for c in f.columns}
    rows = list(csv.reader(io.StringIO(_text(data), newline="")))
    at = [i for i, column in enumerate(rows[0]) if column in personal]
    values = {row[i].strip() for row in rows[1:] for i in at if i < len(row)}
    return frozenset(v for v in values if _worth_checking(v) and not _in_any(v, rows[0]))


# ------------------------------------------------------------------------------------------
# OneRoster bundles
# ------------------------------------------------------------------------------------------


@cache
def oneroster_bundles() -> dict[str, dict[str, bytes]]:
    """Bundle name -> members (name -> bytes): the hub's 1.1 export, the tests' 1.2 and 1.1."""
    as_bytes = lambda files: {n: c.encode("utf-8") if isinstance(c, str) else c for n, c in files.items()}  # noqa: E731
    return {
        "hub11": {p.name: p.read_bytes() for p in sorted(ONEROSTER_DIR.iterdir()) if p.is_file()},
        "tests12": as_bytes(default_files("1.2")),
        "tests11": as_bytes(default_files("1.1")),
    }


def _oneroster_personal_values(members: dict[str, bytes]) -> frozenset[str]:
    """Values of personal columns (names, usernames, birth dates...) that appear in no public
    column, no header and no list of allowed values a message may quote."""
    specs = {spec.member: spec for version in VERSIONS.values() for spec in version.specs}
    personal: set[str] = set()
    public: set[str] = {c for spec in specs.values() for c in spec.columns} | {"true", "false"}
    public |= {value for spec in specs.values() for _, values in spec.enums for value in values}
    for member, data in members.items():
        rows = list(csv.reader(io.StringIO(_text(data), newline="")))
        if not rows:
            continue
        spec = specs.get(member)
        for row in rows[1:]:
            for column, value in zip(rows[0], row, strict=False):
                value = value.strip()
                (personal if spec is not None and column in spec.personal else public).add(value)
    columns = {c for spec in specs.values() for c in spec.columns}
    return frozenset(v for v in personal - public if _worth_checking(v) and not _in_any(v, columns))


# ------------------------------------------------------------------------------------------
# Cases
# ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    source: str  # VendorInput key, or bundle name
    target: str  # the member a text mutation changes ("" for a plain file or a zip mutation)
    mutation: str
    zipped: bool


def _vendor_cases() -> list[Case]:
    cases: list[Case] = []
    inputs = vendor_inputs()
    for n, key in enumerate(inputs):
        cases.append(Case(f"{key}-intact", key, "", "intact", False))
        cases += [Case(f"{key}-{m}", key, "", m, False) for m in TEXT_MUTATIONS]
        # Two zip mutations per file, round robin: every one runs on several vendors' files.
        for k in (2 * n, 2 * n + 1):
            mutation = ZIP_MUTATIONS[k % len(ZIP_MUTATIONS)]
            cases.append(Case(f"{key}-{mutation}", key, "", mutation, True))
    # The MAP Comprehensive Data File as NWEA delivers it: one zip of three files.
    cdf = "hub/nwea_map/CDF.zip"
    cases += [Case(f"{cdf}-{m}", cdf, "", m, True) for m in ZIP_MUTATIONS]
    for member in sorted(p.name for p in NWEA_MAP_DIR.glob("*.csv")):
        cases += [Case(f"{cdf}!{member}-{m}", cdf, member, m, True) for m in ("cut", "byteflip", "latin1", "nul")]
    return cases


def _oneroster_cases() -> list[Case]:
    cases: list[Case] = []
    for bundle, members in oneroster_bundles().items():
        cases.append(Case(f"{bundle}-intact", bundle, "", "zip", True))
        for member in sorted(members):
            cases += [Case(f"{bundle}!{member}-{m}", bundle, member, m, True) for m in TEXT_MUTATIONS]
        cases += [Case(f"{bundle}-{m}", bundle, "", m, True) for m in ZIP_MUTATIONS if m != "zip"]
        cases += [Case(f"{bundle}-{m}-2", bundle, "", m, True) for m in ("zip_cut", "zip_flip", "zip_flip_cd")]
        cases.append(Case(f"{bundle}-zip_subfolder", bundle, "", "zip_subfolder", True))
    return cases


VENDOR_CASES = _vendor_cases()
ONEROSTER_CASES = _oneroster_cases()


def test_there_are_enough_cases() -> None:
    assert len(VENDOR_CASES) + len(ONEROSTER_CASES) >= 500
    if VENDOR_SAMPLES.is_dir():
        assert len({c.source for c in VENDOR_CASES}) >= 46 + 5


# ------------------------------------------------------------------------------------------
# Checking one outcome
# ------------------------------------------------------------------------------------------


def _landed_nothing(root: Path) -> None:
    leftovers = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
    assert leftovers == [], f"a refused file left files behind: {leftovers[:5]}"


def _refusal_checks(exc: Exception, delivered: str, secrets: frozenset[str], root: Path) -> None:
    message = str(exc)
    assert delivered in message, f"the refusal does not name the file {delivered!r}: {message}"
    echoed = sorted(s for s in secrets if s in message)
    assert not echoed, f"the refusal echoes personal values {echoed}: {message}"
    _landed_nothing(root)


def _rejects_checks(root: Path, system: str, batch_id: str, prefix: str, secrets: frozenset[str]) -> list[dict]:
    rejects = pq.read_table(root / system / "_rejects" / f"{batch_id}.parquet").to_pylist()
    for reject in rejects:
        assert reject["rule"] and reject["detail"], f"a reject without a rule or reason: {reject}"
        assert reject["raw_record"] not in (None, "{}"), f"a reject that lost its raw record: {reject}"
        assert reject["_source_ref"].startswith(prefix), reject["_source_ref"]
        echoed = sorted(s for s in secrets if s in reject["detail"])
        assert not echoed, f"a reject detail echoes personal values {echoed}: {reject['detail']}"
    return rejects


def _unexpected(case: Case, exc: BaseException) -> NoReturn:
    pytest.fail(
        f"{case.id}: {type(exc).__name__} leaked from the connector instead of a refusal:\n"
        + "".join(traceback.format_exception(exc)),
        pytrace=False,
    )


# ------------------------------------------------------------------------------------------
# Vendor files
# ------------------------------------------------------------------------------------------


def vendor_records(data: bytes, encoding: str, declaration: FileDeclaration) -> int:
    """Data records of a declared file, counted independently of the engine: the non-blank CSV
    records after the header (RFC 4180 quoting). A record that is not valid CSV counts once per
    physical line it spans: a stray quote must not hide the rows it ran on over."""
    held: list[str] = []

    def lines() -> Iterator[str]:
        for line in io.StringIO(data.decode(encoding), newline=""):
            held.append(line)
            yield line

    physical = lines()
    for _ in range(declaration.header_row - 1):
        next(physical, None)
    reader = csv.reader(physical, delimiter=declaration.delimiter, strict=True)
    header_seen, count = False, 0
    while True:
        held.clear()
        try:
            records = [next(reader)]
        except StopIteration:
            return count
        except csv.Error:
            assert header_seen, "the engine landed a file whose header is not valid CSV"
            records = []
            for line in held:
                try:
                    records.append(next(csv.reader([line], delimiter=declaration.delimiter, strict=True), []))
                except csv.Error:
                    records.append(["not valid CSV"])
        for values in records:
            if not any(v.strip() for v in values):
                continue
            if header_seen:
                count += 1
            header_seen = True


def _build_vendor_drop(case: Case, vendor: VendorInput, folder: Path) -> tuple[Path, dict[str, bytes] | None]:
    rng = random.Random(seed_of(case.id))
    if case.source == "hub/nwea_map/CDF.zip":
        members = {p.name: p.read_bytes() for p in sorted(NWEA_MAP_DIR.glob("*.csv"))}
        path = folder / "MAP_CDF_Fall_2025-2026.zip"
        if case.target:
            members[case.target] = mutate_text(members[case.target], case.mutation, rng)
            return write_zip(path, members), members
        return mutate_zip(path, members, case.mutation, rng)
    if case.zipped:
        return mutate_zip(folder / f"{Path(vendor.name).stem}.zip", {vendor.name: vendor.data}, case.mutation, rng)
    data = vendor.data
    if case.mutation != "intact":
        data = mutate_text(data, case.mutation, rng, vendor.header_line)
    path = folder / vendor.name
    path.write_bytes(data)
    return path, {vendor.name: data}


def _vendor_declarations(case: Case) -> tuple[FileDeclaration, ...]:
    if case.source == "hub/nwea_map/CDF.zip":
        return tuple(d for d in tabular.builtin_declarations().values() if d.system == "nwea_map")
    return vendor_inputs()[case.source].declarations


def _vendor_secrets(case: Case) -> frozenset[str]:
    if case.source == "hub/nwea_map/CDF.zip":
        inputs = vendor_inputs()
        return frozenset().union(*(v.personal_values for k, v in inputs.items() if k.startswith("hub/nwea_map/")))
    return vendor_inputs()[case.source].personal_values


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("case", VENDOR_CASES, ids=lambda case: case.id)
def test_mutated_vendor_file_lands_or_is_refused(case: Case, tmp_path: Path) -> None:
    vendor = vendor_inputs().get(case.source)
    declarations = _vendor_declarations(case)
    secrets = _vendor_secrets(case)
    drops = tmp_path / "drops"
    drops.mkdir()
    path, members = _build_vendor_drop(case, vendor, drops)
    root = tmp_path / "landing"
    try:
        result = tabular.land_vendor_file(
            path, declarations, root, district_code="d001", max_uncompressed_bytes=LIMIT, extracted_at=AT
        )
    except VendorFileError as exc:
        _refusal_checks(exc, path.name, secrets, root)
        if Path(case.source).name not in _TWINS:
            assert case.mutation not in ("intact", "zip"), f"an intact file was refused: {exc}"
        return
    except Exception as exc:
        _unexpected(case, exc)
    assert not result.already_landed
    system = declarations[0].system
    rejects = _rejects_checks(root, system, result.batch_id, path.name, secrets)
    assert len(rejects) == result.total_rejected
    for entity, landed in result.entities.items():
        rows = pq.read_table(root / system / entity / f"{result.batch_id}.parquet").num_rows
        assert rows == landed.rows_landed == result.rows_landed[entity]
        assert landed.rows_rejected == result.rows_rejected[entity]
        if members is None:
            continue  # a damaged zip: what its member holds is the zip's business
        member = landed.source.split("!", 1)[1] if "!" in landed.source else path.name
        declaration = next(d for d in declarations if d.name == landed.declaration)
        expected = vendor_records(members[member], landed.encoding, declaration)
        assert landed.rows_landed + landed.rows_rejected == expected, (
            f"{landed.source}: {landed.rows_landed} landed + {landed.rows_rejected} rejected != {expected} data records"
        )
    if case.mutation in ("intact", "zip"):
        assert result.total_rejected == 0 or case.source.startswith("hub/"), result.rejects_by_rule


# ------------------------------------------------------------------------------------------
# OneRoster bundles
# ------------------------------------------------------------------------------------------


def oneroster_records(data: bytes) -> int:
    """Data rows of a bundle member, counted independently: non-blank CSV records after the
    header. A landed member must be valid CSV (one ending inside a quoted field is truncated)
    and text (NUL bytes are not)."""
    text = data.decode("utf-8-sig")
    assert "\x00" not in text, "a member with NUL bytes landed"
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""), strict=True) if r]
    except csv.Error as exc:
        raise AssertionError(f"a member that is not valid CSV landed ({exc})") from None
    return max(len(rows) - 1, 0)


def _build_bundle(case: Case, folder: Path) -> tuple[Path, dict[str, bytes] | None]:
    rng = random.Random(seed_of(case.id))
    members = dict(oneroster_bundles()[case.source])
    path = folder / f"oneroster_{case.source}_2025-10-01.zip"
    if case.target:
        members[case.target] = mutate_text(members[case.target], case.mutation, rng)
        return write_zip(path, members), members
    if case.mutation == "zip_subfolder":
        return write_zip(path, {f"export/{name}": data for name, data in members.items()}), None
    return mutate_zip(path, members, case.mutation, rng)


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("case", ONEROSTER_CASES, ids=lambda case: case.id)
def test_mutated_oneroster_bundle_lands_or_is_refused(case: Case, tmp_path: Path) -> None:
    original = oneroster_bundles()[case.source]
    drops = tmp_path / "drops"
    drops.mkdir()
    path, members = _build_bundle(case, drops)
    secrets = _oneroster_personal_values(original) | (
        _oneroster_personal_values(members) if members is not None else frozenset()
    )
    root = tmp_path / "landing"
    try:
        result = land_oneroster_bundle(
            path, root, source_system="sis", district_code="d001", max_uncompressed_bytes=LIMIT, extracted_at=AT
        )
    except OneRosterBundleError as exc:
        _refusal_checks(exc, path.name, secrets, root)
        assert case.mutation != "zip" or case.target, f"an intact bundle was refused: {exc}"
        return
    except Exception as exc:
        _unexpected(case, exc)
    assert not result.already_landed
    rejects = _rejects_checks(root, "sis", result.batch_id, f"{path.name}!", secrets)
    assert len(rejects) == sum(result.rows_rejected.values())
    version = VERSIONS[result.oneroster_version]
    for entity, landed in result.rows_landed.items():
        assert pq.read_table(root / "sis" / entity / f"{result.batch_id}.parquet").num_rows == landed
        spec = version.spec_for(entity)
        if members is None or spec is None or result.modes[entity] == "absent":
            continue
        expected = oneroster_records(members[spec.member])
        assert landed + result.rows_rejected[entity] == expected, (
            f"{spec.member}: {landed} landed + {result.rows_rejected[entity]} rejected != {expected} data rows"
        )
