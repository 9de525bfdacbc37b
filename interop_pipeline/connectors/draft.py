"""Draft a first file declaration from sample files of one vendor format.

``interop-pipeline draft-declaration FILE… [--name NAME] [--system SYSTEM] [--out PATH]``

What it infers, reading every sample file once as a stream (only per-column statistics, a few
distinct values per column and per-row key digests are held):

- encoding (UTF-8, UTF-8 with BOM, UTF-16, Windows-1252), delimiter (``,`` tab ``|`` ``;``) or a
  fixed-width layout (a ``.txt`` with no delimiter: column boundaries from blank or
  character-class-changing positions aligned across lines; names from a CSV twin when given),
  written as ``delimiter: fixed`` + ``fixed_width:``;
- the header row (title and blank lines above it skipped), snake_case unique field names;
  repeated header names addressed as ``Name[2]``;
- types from ALL values, conservatively: a column with any value that does not parse stays
  string; ids, codes and zero-padded numbers stay string; integer, decimal, boolean, time and
  date with strptime formats (ambiguous day/month orders and dates with times are flagged as
  YAML comments; compact dates that lost a leading zero get ``compact_dates: pad_left``);
- null sentinels seen in typed columns (``--``, ``N/A``, ``No Score``, ``.``...) into
  ``null_values``;
- wide column groups (headers sharing a prefix/suffix pattern across several subjects, measures
  or periods) proposed as ``groups:`` + ``unpivot:``;
- personal fields (names, person ids, birth dates, emails, addresses, demographics);
- ``mode: append`` with a key proposal checked to be unique in the samples, and a
  ``conformance:`` section with the roles it can guess (each marked ``# guessed``).
"""

from __future__ import annotations

import codecs
import csv
import fnmatch
import hashlib
import io
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from interop_pipeline.connectors.tabular import DEFAULT_NULL_VALUES

# --------------------------------------------------------------------------------------------
# Names and header words
# --------------------------------------------------------------------------------------------

_CAMEL_1 = re.compile(r"([a-z])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_LETTER_DIGIT = re.compile(r"([A-Za-z])(\d)|(\d)([A-Za-z])")


def snake(text: str) -> str:
    """A header as a snake_case landing name (may be empty or start with a digit)."""
    text = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", text.replace("\ufeff", "")))
    text = re.sub(r"[^0-9A-Za-z]+", "_", text).strip("_").lower()
    return re.sub(r"_+", "_", text)


def words(header: str) -> list[str]:
    """Lower-case words of a header, split on separators, camelCase and letter/digit changes."""
    text = _LETTER_DIGIT.sub(lambda m: f"{m[1]} {m[2]}" if m[1] else f"{m[3]} {m[4]}", header)
    return [w for w in snake(text).split("_") if w]


def _field_name(header: str, taken: set[str], fallback: str) -> str:
    base = snake(header) or fallback
    if not base[0].isalpha():
        base = f"c_{base}"
    base = base[:63].rstrip("_")
    name, n = base, 2
    while name in taken:
        suffix = f"_{n}"
        name = base[: 63 - len(suffix)].rstrip("_") + suffix
        n += 1
    taken.add(name)
    return name


_OTHER_PEOPLE = {"teacher", "teach", "tch", "staff", "parent", "guardian", "examiner", "proctor", "ta", "rater"}
_NOT_A_PERSON = {
    "school", "sch", "district", "dist", "site", "class", "classroom", "course", "campus", "county", "account",
    "municipality", "community", "program", "organization", "org", "centre", "center", "test", "form", "section",
    "session", "document", "doc", "item", "corporation", "agency", "lea", "state", "region", "esc", "batch",
    "assessment", "syllabus", "qualification", "group", "report", "reporting", "collaboration", "meps", "login",
    "registration", "process", "cycle", "series", "language", "period",
}  # fmt: skip
_STUDENT = {"student", "stu", "std", "child", "pupil", "learner", "candidate"}
_ID_WORDS = {"id", "identifier", "uid", "pid", "sti", "suns", "ssid", "sasid", "lasid", "peims", "wiseid", "stn"}
_ID_WORDS |= {"permid", "tsds", "ssn"}
_CODE_WORDS = _ID_WORDS | {"code", "number", "num", "no", "zip", "phone", "key", "barcode", "uuid", "ein", "nces"}
_DATE_HINT = re.compile(r"(?i)date|dob|birth|bday|_dt$|\bdt\b|dte|timestamp|day")
_DEMOGRAPHIC = {
    "gender", "sex", "race", "ethnicity", "ethn", "hispanic", "latino", "iep", "lep", "ell", "esl", "migrant",
    "disability", "disab", "disadv", "lunch", "homeless", "foster", "504", "gifted", "sped", "ifsp", "fedraceeth",
    "military", "immigrant",
}  # fmt: skip


def _joined(header: str) -> str:
    return "".join(words(header))


def is_personal(header: str) -> bool:
    """Names, person ids, birth dates, emails, addresses and demographics of a person."""
    ws = set(words(header))
    joined = _joined(header)
    if ws & {"email", "mail", "address", "street", "city", "zip", "phone", "ssn"} and not ws & {"school", "district"}:
        return True
    if re.search(r"dob|birth|bday", joined):
        return True
    if ws & _DEMOGRAPHIC or re.fullmatch(r"race[a-z]?|gender|sex", joined):
        return True
    if _name_role(header) or (ws & {"name", "nm", "fi", "mi", "li"} and ws & (_STUDENT | _OTHER_PEOPLE)):
        return True
    if ws & {"name", "nm"} and not ws & _NOT_A_PERSON and not ws & {"test", "measure", "assessment", "file"}:
        return len(ws) <= 3 and bool(ws & (_STUDENT | _OTHER_PEOPLE | {"full", "login", "user"}))
    return _is_person_id(header)


def _is_person_id(header: str) -> bool:
    ws = set(words(header))
    joined = _joined(header)
    if ws & _STUDENT and ws & {"number", "num", "no"} and len(ws) <= 3:
        return True  # Student Number
    if {"test", "taker", "id"} <= ws:
        return True  # the person who took the test
    if not (ws & _ID_WORDS or joined in {"permid", "psid", "wiseid", "stn", "sasid", "lasid", "uid"}):
        return False
    if ws & _NOT_A_PERSON - {"state"} and not ws & _STUDENT:
        return False
    return bool(ws & (_STUDENT | _OTHER_PEOPLE | {"state", "local", "perm", "fast", "ps", "drc", "national"})) or (
        joined in {"id", "uid", "permid", "psid", "wiseid", "stn", "sasid", "lasid", "peimsid", "tsdsuid"}
    )


def _name_role(header: str) -> str | None:
    """first_name / last_name / middle_name of the student (None for teachers, schools...)."""
    ws = words(header)
    s = set(ws)
    if s & _OTHER_PEOPLE or s & _NOT_A_PERSON - {"state"} or "preferred" in s or "grid" in s:
        return None
    joined = "".join(w for w in ws if w not in _STUDENT)
    if joined in {"lastname", "lname", "lastnm", "surname", "lastorsurname", "familyname", "lastnamefamily"}:
        return "last_name"
    if joined in {"firstname", "fname", "firstnm", "givenname"}:
        return "first_name"
    if joined in {"middlename", "mname", "middlenm", "middleinitial", "minitial", "mi", "middlenameinitial"}:
        return "middle_name"
    if s & _STUDENT or len(s) <= 3:
        if "last" in s and s & {"name", "nm"} or ("l" in s and "name" in s):
            return "last_name"
        if "first" in s and s & {"name", "nm"} or ("f" in s and "name" in s):
            return "first_name"
        if ("middle" in s and s & {"name", "nm", "initial"}) or ("mi" in s and s & _STUDENT):
            return "middle_name"
    return None


# --------------------------------------------------------------------------------------------
# Value types (per distinct value, cached: files repeat the same few hundred values)
# --------------------------------------------------------------------------------------------

# Tried for every value with a separator; the first of two formats that both fit is used.
DATE_FORMATS = (
    "%m/%d/%Y", "%d/%m/%Y", "%Y-%m-%d", "%m/%d/%y", "%d/%m/%y", "%m-%d-%Y", "%d-%m-%Y", "%Y/%m/%d",
    "%d.%m.%Y", "%d-%b-%Y", "%d-%b-%y", "%b %d, %Y", "%B %d, %Y", "%Y%m%d",
)  # fmt: skip
COMPACT_FORMATS = ("%Y%m%d", "%m%d%Y", "%d%m%Y", "%m%d%y")
DATETIME_FORMATS = (
    "%m/%d/%Y %H:%M", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M %p", "%m/%d/%Y %I:%M:%S %p",
    "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d %H:%M:%S.%f",
)  # fmt: skip
_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p")
_AMBIGUOUS_PAIRS = (("%m/%d/%Y", "%d/%m/%Y"), ("%m/%d/%y", "%d/%m/%y"), ("%m-%d-%Y", "%d-%m-%Y"), ("%m%d%Y", "%d%m%Y"))
_BOOL_WORDS = {"y", "n", "yes", "no", "true", "false"}
_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
_SENTINEL_WORDS = {v.casefold() for v in DEFAULT_NULL_VALUES} | {
    "n/a", "na", "none", "null", "nil", "no score", "not tested", "not provided", "not available", "not applicable",
    "missing", "blank", "#n/a", "nan", "no data", "not scored", "no response", "ns", "nt", "inv", "invalid",
}  # fmt: skip
_PUNCTUATION = re.compile(r"[-.*_/#?]+")
_YEARS = range(1900, 2101)


def is_sentinel(value: str) -> bool:
    folded = value.casefold()
    return folded in _SENTINEL_WORDS or bool(_PUNCTUATION.fullmatch(value))


@lru_cache(maxsize=65536)
def signature(value: str, compact: bool) -> frozenset[str]:
    """Everything a (stripped, non-blank, non-sentinel) value parses as: int, dec, bool, time,
    d:<date format>, dt:<date-time format>, c:<compact format> and p:<compact format> (fits
    only once left-padded with zeros)."""
    kinds: set[str] = set()
    if _INTEGER.fullmatch(value):
        kinds.update(("int", "dec"))
        if len(value) > 1 and value.lstrip("+-").startswith("0"):
            kinds.add("zero_padded")
    elif _DECIMAL.fullmatch(value[:-1].rstrip() if value.endswith("%") else value):
        kinds.add("dec")
        if re.match(r"[+-]?0\d", value):
            kinds.add("zero_padded")
    if value.casefold() in _BOOL_WORDS:
        kinds.add("bool")
    if value.isdigit():
        if compact:
            for fmt in COMPACT_FORMATS:
                width = len(datetime(2001, 2, 3).strftime(fmt))
                if len(value) == width and _parses(value, fmt):
                    kinds.add(f"c:{fmt}")
                elif len(value) == width - 1 and _parses(value.zfill(width), fmt):
                    kinds.add(f"p:{fmt}")
        return frozenset(kinds)
    if any(ch in value for ch in "/-.:, ") and any(ch.isdigit() for ch in value):
        for fmt in DATE_FORMATS:
            if _parses(value, fmt):
                kinds.add(f"d:{fmt}")
        for fmt in DATETIME_FORMATS:
            if _parses(value, fmt):
                kinds.add(f"dt:{fmt}")
        if ":" in value:
            for fmt in _TIME_FORMATS:
                if _parses(value, fmt, years=False):
                    kinds.add("time")
    return frozenset(kinds)


def _parses(value: str, fmt: str, years: bool = True) -> bool:
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        return False
    return not years or parsed.year in _YEARS


_DISTINCT_KEPT = 40


@dataclass
class ColumnStats:
    """What one column held across all samples (bounded memory)."""

    header: str
    date_hint: bool
    values: int = 0
    blanks: int = 0
    signatures: Counter = field(default_factory=Counter)
    sentinels: Counter = field(default_factory=Counter)
    distinct: Counter = field(default_factory=Counter)
    files: int = 0

    def add(self, value: str) -> None:
        value = value.strip()
        if not value:
            self.blanks += 1
            return
        self.values += 1
        if len(self.distinct) < _DISTINCT_KEPT or value in self.distinct:
            self.distinct[value] += 1
        if is_sentinel(value):
            if len(self.sentinels) < 20 or value in self.sentinels:
                self.sentinels[value] += 1
            return
        self.signatures[signature(value, self.date_hint)] += 1

    def merge(self, other: ColumnStats) -> None:
        self.values += other.values
        self.blanks += other.blanks
        self.signatures.update(other.signatures)
        self.sentinels.update(other.sentinels)
        for value, n in other.distinct.items():
            if len(self.distinct) < _DISTINCT_KEPT or value in self.distinct:
                self.distinct[value] += n
        self.files = max(self.files, other.files)


@dataclass
class TypeGuess:
    type: str = "string"
    formats: list[str] = field(default_factory=list)
    compact_pad: bool = False
    notes: list[str] = field(default_factory=list)
    sentinels: list[str] = field(default_factory=list)  # values landed as null (typed fields only)


def infer_type(stats: ColumnStats) -> TypeGuess:
    """The most specific type every (non-sentinel) value fits; string when any value fits none."""
    sigs = stats.signatures
    sentinels = sorted(stats.sentinels, key=lambda v: (-stats.sentinels[v], v))
    if not sigs:
        return TypeGuess(notes=["no values in the samples"] if not stats.values else [])
    common = frozenset.intersection(*sigs)
    code_like = bool(set(words(stats.header)) & _CODE_WORDS) or _is_person_id(stats.header)
    guess = _date_guess(stats, common)
    if guess is None:
        if "bool" in common:
            guess = TypeGuess("boolean")
        elif "int" in common and "zero_padded" not in _union(sigs) and not code_like:
            if all(len(v.lstrip("+-")) <= 15 for v in stats.distinct):
                guess = TypeGuess("integer")
        elif "dec" in common and "zero_padded" not in _union(sigs) and not code_like:
            guess = TypeGuess("decimal")
        elif "time" in common:
            guess = TypeGuess("time")
        elif datetimes := sorted(k[3:] for k in common if k.startswith("dt:")):
            return TypeGuess(notes=[f"dates with times ({datetimes[0]}): kept as text so the time is not lost"])
        elif "int" in common or "dec" in common:
            why = "zero-padded" if "zero_padded" in _union(sigs) else "an id or code"
            return TypeGuess(notes=[f"numbers, kept as text ({why})"])
    if guess is None:
        return TypeGuess()
    guess.sentinels = sentinels
    return guess


def _union(sigs: Counter) -> frozenset[str]:
    return frozenset().union(*sigs)


def _date_guess(stats: ColumnStats, common: frozenset[str]) -> TypeGuess | None:
    sigs = list(stats.signatures)
    if all(any(k.startswith(("c:", "p:")) for k in s) for s in sigs) and stats.date_hint:
        return _compact_guess(sigs)
    if not all(any(k.startswith("d:") for k in s) for s in sigs):
        return None
    if "int" in common and not stats.date_hint:
        return None
    # The fewest formats that cover every value, in DATE_FORMATS order of preference.
    remaining = [frozenset(k[2:] for k in s if k.startswith("d:")) for s in sigs]
    chosen: list[str] = []
    while remaining:
        best = max(DATE_FORMATS, key=lambda f: (sum(f in r for r in remaining), -DATE_FORMATS.index(f)))
        chosen.append(best)
        remaining = [r for r in remaining if best not in r]
    notes = []
    everywhere = frozenset.intersection(*[frozenset(k[2:] for k in s if k.startswith("d:")) for s in sigs])
    for first, second in _AMBIGUOUS_PAIRS:
        if first in everywhere and second in everywhere:
            notes.append(f"ambiguous dates: both {first} and {second} fit every value; {chosen[0]} chosen, check")
    return TypeGuess("date", chosen, notes=notes)


def _compact_guess(sigs: list[frozenset[str]]) -> TypeGuess | None:
    for fmt in COMPACT_FORMATS:
        exact = all(f"c:{fmt}" in s for s in sigs)
        padded = all(f"c:{fmt}" in s or f"p:{fmt}" in s for s in sigs)
        if not padded:
            continue
        notes = []
        for first, second in _AMBIGUOUS_PAIRS:
            if fmt == first and all(f"c:{second}" in s or f"p:{second}" in s for s in sigs):
                notes.append(f"ambiguous dates: both {first} and {second} fit every value; {first} chosen, check")
        if exact:
            return TypeGuess("date", [fmt], notes=notes)
        width = len(datetime(2001, 2, 3).strftime(fmt))
        note = f"compact_dates: some values have {width - 1} digits for {fmt} (a dropped leading zero)"
        return TypeGuess("date", [fmt], compact_pad=True, notes=[*notes, f"{note}: padded left"])
    return None


# --------------------------------------------------------------------------------------------
# Reading samples: encoding, delimiter, header row
# --------------------------------------------------------------------------------------------

_DELIMITERS = (",", "\t", "|", ";")
_DELIMITER_YAML = {",": '","', "\t": "tab", "|": '"|"', ";": '";"'}
_SNIFF_LINES = 30


def sniff_encoding(path: Path) -> tuple[str, str]:
    """(Python codec, label) of a sample: BOM first, then UTF-16 by NUL bytes, UTF-8 if the whole
    file decodes (checked as a stream), else Windows-1252."""
    with open(path, "rb") as raw:
        head = raw.read(4096)
        if head.startswith(codecs.BOM_UTF8):
            return "utf-8-sig", "utf-8 with BOM"
        if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return "utf-16", "utf-16 with BOM"
        if head and head.count(b"\x00") > len(head) // 4:
            return (
                ("utf-16-le", "utf-16 (little-endian, no BOM)")
                if head[1:2] == b"\x00"
                else (
                    "utf-16-be",
                    "utf-16 (big-endian, no BOM)",
                )
            )
        decoder = codecs.getincrementaldecoder("utf-8")()
        raw.seek(0)
        try:
            while chunk := raw.read(1 << 16):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252", "Windows-1252"
    return "utf-8", "utf-8"


def _open_text(path: Path, codec: str) -> io.TextIOWrapper:
    return open(path, encoding=codec, newline="")  # noqa: SIM115 - the caller closes it


def sniff_delimiter(lines: list[str]) -> str | None:
    """The delimiter that splits the first lines into the most, most consistent, cells."""
    best: tuple[float, str] | None = None
    text = [line for line in lines if line.strip()]
    if not text:
        return None
    for delimiter in _DELIMITERS:
        try:
            counts = [len(row) for row in csv.reader(text, delimiter=delimiter)]
        except csv.Error:
            continue
        if not counts:
            continue
        mode, seen = Counter(counts).most_common(1)[0]
        if mode < 2:
            continue
        score = seen / len(counts) * 1000 + mode
        if best is None or score > best[0]:
            best = (score, delimiter)
    return None if best is None else best[1]


def find_header_row(rows: list[tuple[int, list[str]]]) -> int:
    """Index (into `rows`) of the header: the first record with at least half as many non-blank
    cells as the fullest of the first records, mostly not numbers (title lines above it)."""
    filled = [sum(1 for c in values if c.strip()) for _, values in rows]
    if not filled:
        return 0
    most = max(filled)
    for i, (_, values) in enumerate(rows):
        cells = [c.strip() for c in values if c.strip()]
        numeric = sum(1 for c in cells if _DECIMAL.fullmatch(c))
        if filled[i] >= most / 2 and numeric <= len(cells) / 2:
            return i
    return 0


@dataclass
class SampleFile:
    path: Path
    codec: str
    encoding_label: str
    delimiter: str | None  # None: fixed width
    header_line: int = 1  # physical, 1-based
    header: list[str] = field(default_factory=list)
    data_rows: int = 0
    fixed: list[tuple[int, int]] | None = None  # fixed width: 1-based inclusive spans
    duplicate_keys: int = 0  # rows repeating the proposed key


def _physical_records(text: io.TextIOWrapper, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(text, delimiter=delimiter)
    while True:
        start = reader.line_num + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        yield start, values


def _header_key(name: str) -> str:
    return "".join(name.replace("\ufeff", "").split()).casefold()


def addressed(header: list[str]) -> list[str | None]:
    """How each header cell is addressed in a declaration: its name, or `Name[k]` for the k-th
    occurrence (k >= 2) of a repeated name; None for a blank cell."""
    seen: Counter = Counter()
    out: list[str | None] = []
    for name in header:
        clean = name.replace("\ufeff", "").strip()
        if not clean:
            out.append(None)
            continue
        seen[_header_key(clean)] += 1
        k = seen[_header_key(clean)]
        out.append(clean if k == 1 else f"{clean}[{k}]")
    return out


# --------------------------------------------------------------------------------------------
# Fixed width
# --------------------------------------------------------------------------------------------


def _char_class(ch: str) -> str:
    return " " if ch == " " else "9" if ch.isdigit() else "a" if ch.isalpha() else "."


def fixed_width_spans(path: Path, codec: str) -> list[tuple[int, int]]:
    """Column spans (1-based, inclusive) of a fixed-width file: positions blank on every line
    separate columns; inside a run, a position where every line changes between digits and
    letters starts a new column."""
    blank: list[bool] = []
    change: list[bool] = []
    with _open_text(path, codec) as text:
        for line in text:
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            if len(line) > len(blank):
                grow = len(line) - len(blank)
                blank += [True] * grow
                change += [True] * grow
            for i, ch in enumerate(line):
                if ch != " ":
                    blank[i] = False
                if i and change[i]:
                    before, now = _char_class(line[i - 1]), _char_class(ch)
                    if not ({before, now} == {"9", "a"}):
                        change[i] = False
            for i in range(len(line), len(change)):
                change[i] = False
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, is_blank in enumerate(blank):
        if is_blank:
            if start is not None:
                spans.append((start + 1, i))
                start = None
            continue
        if start is None:
            start = i
        elif change[i]:
            spans.append((start + 1, i))
            start = i
    if start is not None:
        spans.append((start + 1, len(blank)))
    return spans


def _twin_names(spans: list[tuple[int, int]], txt: SampleFile, twin: Path) -> dict[int, str]:
    """Names for fixed-width spans from a CSV twin: a CSV column whose values equal (trimmed) a
    span's text on every row, in the same row order."""
    codec, _ = sniff_encoding(twin)
    with _open_text(twin, codec) as text:
        rows = list(_physical_records(text, ","))[:50]
    if len(rows) < 2:
        return {}
    header = [h.replace("\ufeff", "").strip() for h in rows[0][1]]
    data = [values for _, values in rows[1:] if any(v.strip() for v in values)]
    with _open_text(txt.path, txt.codec) as text:
        lines = [line.rstrip("\r\n") for line in text if line.strip()][: len(data)]
    if len(lines) != len(data):
        return {}
    names: dict[int, str] = {}
    used: set[int] = set()
    for i, (start, end) in enumerate(spans):
        cells = [line[start - 1 : end].strip() for line in lines]
        if not any(cells):
            continue
        for j, name in enumerate(header):
            if j in used or not name:
                continue
            column = [values[j].strip() if j < len(values) else "" for values in data]
            if column == cells:
                names[i] = name
                used.add(j)
                break
    return names


# --------------------------------------------------------------------------------------------
# Column groups (wide layouts)
# --------------------------------------------------------------------------------------------

_SUBJECTS = {
    "math": "Mathematics", "mth": "Mathematics", "amath": "Mathematics", "mathematics": "Mathematics",
    "ma": "Mathematics", "ela": "English Language Arts", "read": "Reading", "reading": "Reading",
    "rdg": "Reading", "areading": "Reading", "sci": "Science", "science": "Science", "soc": "Social Studies",
    "social": "Social Studies", "writing": "Writing", "write": "Writing", "eng": "English",
    "english": "English", "literacy": "Reading", "data": "Mathematics",
}  # fmt: skip
_PERIODS = {"fall", "winter", "spring", "summer", "screening", "boy", "moy", "eoy", "window", "wave", "period"}
_SPLIT_PREFIXES = ("ELA", "Math", "Sci", "Soc", "Read", "Reading", "Science", "Writing", "Data", "Soft")


def _split_points(header: str) -> list[int]:
    """Positions where a header may split into key and measure: word boundaries, plus after a
    known subject prefix written in capitals (ELARS -> ELA|RS)."""
    points: set[int] = set()
    for i in range(1, len(header)):
        a, b = header[i - 1], header[i]
        if not a.isalnum() and b.isalnum():
            points.add(i)
        elif a.isalnum() and not b.isalnum():
            points.add(i)
        elif a.islower() and b.isupper():
            points.add(i)
        elif a.isupper() and b.isupper() and i + 1 < len(header) and header[i + 1].islower():
            points.add(i)
        elif a.isalpha() != b.isalpha() and a.isalnum() and b.isalnum():
            points.add(i)
    for prefix in _SPLIT_PREFIXES:
        if header.startswith(prefix) and len(header) > len(prefix):
            points.add(len(prefix))
    return sorted(points)


@dataclass
class GroupDraft:
    name: str
    key_name: str
    key_first: bool  # the key comes before the measure in the header
    prefix: str
    sep: str
    suffix: str
    keys: list[str]
    measures: list[str]
    columns: dict[tuple[str, str], str]  # (key, measure) -> addressed header
    unpivot: bool = False
    field_names: dict[str, str] = field(default_factory=dict)  # measure -> field name
    types: dict[str, TypeGuess] = field(default_factory=dict)

    @property
    def regex(self) -> str:
        keys = "|".join(re.escape(k) for k in sorted(self.keys, key=lambda k: (-len(k), k)))
        measures = "|".join(re.escape(m) for m in sorted(self.measures, key=lambda m: (-len(m), m)))
        key = f"(?P<{self.key_name}>{keys})"
        measure = f"(?P<measure>{measures})"
        first, second = (key, measure) if self.key_first else (measure, key)
        return f"^{re.escape(self.prefix)}{first}{re.escape(self.sep)}{second}{re.escape(self.suffix)}$"


def detect_groups(headers: Sequence[str], min_columns: int = 4) -> list[GroupDraft]:
    """Column groups: headers that are key + measure (or measure + key) for several keys
    (subjects, periods, measures areas) and several measures, most combinations present."""
    pool = [h for h in headers if h]
    groups: list[GroupDraft] = []
    taken_names: set[str] = set()
    while True:
        best = _best_group(pool)
        if best is None:
            break
        keys, measures, columns, key_first = best
        if len(columns) < min_columns:
            break
        group = _shape_group(keys, measures, columns, key_first, taken_names)
        groups.append(group)
        covered = set(columns.values())
        pool = [h for h in pool if h not in covered]
    return groups


def _best_group(pool: list[str]):
    # key -> measure -> header, for both orientations
    best = None
    for key_first in (True, False):
        table: dict[str, dict[str, str]] = {}
        for header in pool:
            base = re.sub(r"\[\d+\]$", "", header)
            if base != header:
                continue  # repeated names stay fields: their position is their meaning
            for p in _split_points(header):
                left, right = header[:p], header[p:]
                key, measure = (left, right) if key_first else (right, left)
                if not key.strip(" -_/.") or not measure.strip(" -_/."):
                    continue
                table.setdefault(key, {})[measure] = header
        by_signature: dict[frozenset[str], list[str]] = {}
        for key, measures in table.items():
            if len(measures) >= 2:
                by_signature.setdefault(frozenset(measures), []).append(key)
        for sig, keys in by_signature.items():
            if len(keys) < 2:
                continue
            if all(m.strip(" -_/.").isdigit() for m in sig):
                continue  # numbered items: the number is the member, not the measure
            # Members whose measures mostly overlap join the group (a subject lacking one measure).
            need = max(2, -(-len(sig) // 2))
            members = [k for k, ms in table.items() if len(set(ms) & sig) >= need]
            counts = Counter(m for k in members for m in table[k])
            measures = {m for m, n in counts.items() if n >= 2} | set(sig)
            columns = {(k, m): table[k][m] for k in members for m in measures if m in table[k]}
            if len(set(columns.values())) != len(columns):
                continue
            if len(columns) < 0.5 * len(members) * len(measures):
                continue
            # The member side is the one naming subjects or periods, and numbers are members
            # (items), not measures; then fewer measures (fields) is the simpler reading.
            sense = (_key_name([k.strip(" -_/.") for k in members]) in ("subject", "period")) - (
                sum(m.strip(" -_/.").isdigit() for m in measures) > len(measures) / 2
            )
            score = (len(columns), sense, -len(measures), key_first)
            if best is None or score > best[0]:
                best = (score, (members, sorted(measures), columns, key_first))
    return None if best is None else best[1]


def _common_prefix(texts: list[str]) -> str:
    first, last = min(texts), max(texts)
    i = 0
    while i < len(first) and i < len(last) and first[i] == last[i]:
        i += 1
    return first[:i]


def _shape_group(keys, measures, columns, key_first, taken_names: set[str]) -> GroupDraft:
    # Factor the literal text all keys share out of the key group (Assessment Measure-FSF -> FSF).
    prefix = suffix = sep = ""
    if key_first:
        prefix = _boundary_prefix(keys)
        suffix = ""
        sep = _shared_lead(measures)
    else:
        prefix = ""
        sep = _shared_lead(keys)
        suffix = _boundary_prefix([k[::-1] for k in keys])[::-1] if len(keys) > 1 else ""
    key_values = [k[len(prefix) :] if key_first else k[len(sep) : len(k) - len(suffix)] for k in keys]
    measure_values = [m[len(sep) :] for m in measures] if key_first else list(measures)
    if any(not v for v in key_values) or any(not v for v in measure_values):
        prefix, suffix, sep, key_values, measure_values = "", "", "", list(keys), list(measures)
    key_name = _key_name(key_values)
    cols = {}
    for (k, m), header in columns.items():
        kv = k[len(prefix) :] if key_first else k[len(sep) : len(k) - len(suffix)]
        mv = m[len(sep) :] if key_first else m
        if not kv or not mv:
            kv, mv = k, m
        cols[(kv, mv)] = header
    base = f"{key_name}_results"
    name, n = base, 2
    while name in taken_names:
        name, n = f"{base}_{n}", n + 1
    taken_names.add(name)
    return GroupDraft(name, key_name, key_first, prefix, sep, suffix, sorted(set(key_values)),
                      sorted(set(measure_values)), cols)  # fmt: skip


def _boundary_prefix(texts: list[str]) -> str:
    common = _common_prefix(texts)
    # Only up to a separator, so the key stays a whole word (Fall, not F|all).
    cut = max((i + 1 for i, ch in enumerate(common) if not ch.isalnum()), default=0)
    return common[:cut]


def _shared_lead(texts: list[str]) -> str:
    leads = {re.match(r"[^0-9A-Za-z]*", t)[0] for t in texts}
    return leads.pop() if len(leads) == 1 else ""


def _key_name(values: list[str]) -> str:
    folded = [snake(v) for v in values]
    if sum(1 for v in folded if v in _SUBJECTS or v.split("_")[0] in _SUBJECTS) >= len(values) / 2:
        return "subject"
    if any(set(v.split("_")) & _PERIODS for v in folded):
        return "period"
    if all(v.isdigit() for v in folded):
        return "number"
    return "member"


# --------------------------------------------------------------------------------------------
# The draft
# --------------------------------------------------------------------------------------------


@dataclass
class FieldDraft:
    name: str
    column: str  # addressed header name
    type: TypeGuess
    personal: bool
    present_in: int  # number of samples with this column
    required: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class Draft:
    name: str
    system: str
    entity: str
    files: list[SampleFile]
    file_pattern: list[str]
    encoding: str
    delimiter: str  # YAML form: ",", tab, fixed...
    header_row: int
    fields: list[FieldDraft]
    groups: list[GroupDraft]
    fixed_width: dict[str, tuple[int, int]] | None
    null_values: list[str]
    key: list[str]
    conformance: dict
    notes: list[str]
    skipped: list[str]  # header cells no field reads, with the reason

    def roles(self) -> dict[str, bool]:
        """Which conformance roles the draft proposes (for the measurement)."""
        student = self.conformance.get("student", {})
        assessment = self.conformance.get("assessment", {})
        return {
            "student_id": "id" in student,
            "names": "first_name" in student and "last_name" in student,
            "birth_date": "birth_date" in student,
            "test_date": "date" in assessment,
            "subject": "subject" in assessment,
            "scores": bool(self.conformance.get("scores")),
            "levels": bool(self.conformance.get("performance_levels")),
        }

    def to_yaml(self) -> str:
        return _render(self)


def draft_declaration(
    paths: Sequence[Path | str],
    *,
    name: str | None = None,
    system: str | None = None,
) -> Draft:
    """Infer a declaration from sample files of one vendor format (see the module docstring)."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise ValueError("draft-declaration needs at least one sample file")
    default = snake(paths[0].resolve().parent.name) if len({p.resolve().parent for p in paths}) == 1 else ""
    name = _valid_name(name or default or snake(paths[0].stem))
    system = _valid_name(system or name)
    notes: list[str] = []
    samples = [_open_sample(p) for p in paths]
    csv_samples = [s for s in samples if s.delimiter is not None]
    fixed_samples = [s for s in samples if s.delimiter is None]
    if csv_samples and fixed_samples:
        notes.append(
            "fixed-width samples (" + ", ".join(s.path.name for s in fixed_samples) + ") are described by the "
            "fixed_width block below for their own declaration; this draft reads the delimited samples"
        )
    primary = csv_samples or fixed_samples
    fixed_width = None
    if not csv_samples:
        fixed_width, header_names = _fixed_layout(fixed_samples[0], paths, notes)
        for sample in fixed_samples:
            sample.header = header_names
    # Columns (addressed names, a repeated header as Name[k]) across samples, in first-seen order.
    order: list[str] = list(dict.fromkeys(c for s in primary for c in addressed(s.header) if c))
    present = Counter(c for s in primary for c in addressed(s.header) if c)
    skipped: list[str] = []
    # Groups come from the header names alone, so the scan can tell which rows leave them empty.
    groups = detect_groups(order) if not fixed_width else []
    stats: dict[str, ColumnStats] = {}
    blank_with_data: list[str] = []
    empty_rows: Counter = Counter()
    for sample in primary:
        scanned, empties = _scan(sample, fixed_width, groups)
        empty_rows.update(empties)
        for column, col_stats in scanned.items():
            if column.startswith("\x00blank:"):
                if col_stats.values:
                    blank_with_data.append(f"column {column.split(':')[1]} of {sample.path.name}")
                continue
            if column not in stats:
                stats[column] = col_stats
            else:
                stats[column].merge(col_stats)
    if blank_with_data:
        skipped.append("blank header cells holding data (not addressable): " + ", ".join(blank_with_data))
    in_group = {h for g in groups for h in g.columns.values()}
    field_columns = [c for c in order if c not in in_group]
    taken: set[str] = set()
    fields = [
        FieldDraft(
            name=_field_name(column, taken, f"column_{i + 1}"),
            column=column,
            type=infer_type(stats[column]),
            personal=is_personal(re.sub(r"\[\d+\]$", "", column)),
            present_in=present[column],
        )
        for i, column in enumerate(field_columns)
    ]
    for group in groups:
        _type_group(group, stats, taken)
    if groups:
        _choose_unpivot(groups, empty_rows, notes)
    typed = [f.type for f in fields] + [t for g in groups for t in g.types.values()]
    sentinels = sorted({v for t in typed if t.type != "string" for v in t.sentinels}, key=str.casefold)
    defaults = {v.casefold() for v in DEFAULT_NULL_VALUES}
    null_values = [v for v in sentinels if v.casefold() not in defaults]
    null_values = list(dict.fromkeys(null_values))
    conformance = propose_conformance(name, fields, groups, samples, stats)
    key = _propose_key(conformance, fields, groups)
    draft = Draft(
        name=name,
        system=system,
        entity="results",
        files=samples,
        file_pattern=_file_pattern([s.path.name for s in primary]),
        encoding=_encoding(primary, notes),
        delimiter="fixed" if fixed_width else _DELIMITER_YAML[primary[0].delimiter or ","],
        header_row=0 if fixed_width else primary[0].header_line,
        fields=fields,
        groups=groups,
        fixed_width=fixed_width,
        null_values=null_values,
        key=key,
        conformance=conformance,
        notes=notes,
        skipped=skipped,
    )
    if len({s.header_line for s in primary}) > 1:
        notes.append(
            "header rows differ between samples: " + ", ".join(f"{s.path.name} line {s.header_line}" for s in primary)
        )
    if len({s.delimiter for s in primary}) > 1:
        notes.append("delimiters differ between samples; one declaration per delimiter is needed")
    _check_key(draft)
    _mark_required(draft, len(primary))
    return draft


def _valid_name(text: str) -> str:
    name = snake(text) or "vendor_file"
    if not name[0].isalpha():
        name = f"v_{name}"
    return name[:63].rstrip("_")


def _open_sample(path: Path) -> SampleFile:
    codec, label = sniff_encoding(path)
    with _open_text(path, codec) as text:
        head = []
        for _ in range(_SNIFF_LINES):
            line = text.readline()
            if not line:
                break
            head.append(line)
    delimiter = sniff_delimiter(head)
    if delimiter is None or (path.suffix.casefold() == ".txt" and not _consistent(head, delimiter)):
        return SampleFile(path, codec, label, None, header_line=0)
    sample = SampleFile(path, codec, label, delimiter)
    with _open_text(path, codec) as text:
        rows = []
        for start, values in _physical_records(text, delimiter):
            if any(v.strip() for v in values):
                rows.append((start, values))
            if len(rows) >= _SNIFF_LINES:
                break
    index = find_header_row(rows)
    sample.header_line, header = rows[index] if rows else (1, [])
    sample.header = [h.replace("\ufeff", "").strip() for h in header]
    return sample


def _consistent(lines: list[str], delimiter: str) -> bool:
    counts = [len(r) for r in csv.reader([line for line in lines if line.strip()], delimiter=delimiter)]
    return bool(counts) and min(counts) == max(counts) and counts[0] > 1


def _fixed_layout(sample: SampleFile, paths: list[Path], notes: list[str]) -> tuple[dict[str, tuple[int, int]], list]:
    spans = fixed_width_spans(sample.path, sample.codec)
    twins = [p for p in paths if p.suffix.casefold() == ".csv" and p.stem == sample.path.stem]
    twins = twins or [p for p in sample.path.parent.glob(sample.path.stem + ".csv")]
    names = _twin_names(spans, sample, twins[0]) if twins else {}
    if twins:
        notes.append(f"fixed width: {len(names)} of {len(spans)} spans named from the CSV twin {twins[0].name}")
    layout: dict[str, tuple[int, int]] = {}
    for i, span in enumerate(spans):
        layout[names.get(i) or f"Columns {span[0]}-{span[1]}"] = span
    notes.append(
        "fixed width: column boundaries inferred from blank and digit/letter-changing positions aligned on "
        "every line; adjacent fields with no space between them may be merged: check against the vendor layout"
    )
    return layout, list(layout)


def _scan(
    sample: SampleFile, fixed_width: dict[str, tuple[int, int]] | None, groups: Sequence[GroupDraft] = ()
) -> tuple[dict[str, ColumnStats], Counter]:
    """Stream one sample's data rows into per-column statistics; also count, per group, the rows
    where every column of the group is blank or a sentinel (unpivoting it would land nothing)."""
    empty_rows: Counter = Counter()
    if sample.delimiter is None:
        assert fixed_width is not None
        columns = list(fixed_width)
        spans = list(fixed_width.values())
        result = {c: ColumnStats(c, bool(_DATE_HINT.search(c)), files=1) for c in columns}
        with _open_text(sample.path, sample.codec) as text:
            for line in text:
                line = line.rstrip("\r\n")
                if not line.strip():
                    continue
                sample.data_rows += 1
                for column, (start, end) in zip(columns, spans, strict=True):
                    result[column].add(line[start - 1 : end])
        return result, empty_rows
    names = addressed(sample.header)
    result: dict[str, ColumnStats] = {}
    keyed: list[tuple[int, str]] = []
    for i, name in enumerate(names):
        key = name if name is not None else f"\x00blank:{i + 1}"
        result[key] = ColumnStats(name or "", bool(name and _DATE_HINT.search(name)), files=1)
        keyed.append((i, key))
    position = {name: i for i, name in enumerate(names) if name}
    group_at = {g.name: [position[h] for h in g.columns.values() if h in position] for g in groups}
    with _open_text(sample.path, sample.codec) as text:
        records = _physical_records(text, sample.delimiter)
        for start, _ in records:
            if start >= sample.header_line:
                break
        for _, values in records:
            if not any(v.strip() for v in values):
                continue
            sample.data_rows += 1
            for i, key in keyed:
                if i < len(values):
                    result[key].add(values[i])
            for group, at in group_at.items():
                if not any(i < len(values) and _has_value(values[i]) for i in at):
                    empty_rows[group] += 1
    return result, empty_rows


def _has_value(raw: str) -> bool:
    value = raw.strip()
    return bool(value) and not is_sentinel(value)


def _type_group(group: GroupDraft, stats: dict[str, ColumnStats], taken: set[str]) -> None:
    inner: set[str] = set()
    for measure in group.measures:
        merged = ColumnStats(measure, bool(_DATE_HINT.search(measure)))
        for (_, m), header in group.columns.items():
            if m == measure:
                part = stats[header]
                merged.date_hint = merged.date_hint or part.date_hint
                merged.merge(part)
        merged.signatures = Counter({s: n for s, n in merged.signatures.items()})
        if merged.date_hint:  # signatures were computed per column; recompute compact ones if hinted
            pass
        group.types[measure] = infer_type(merged)
        group.field_names[measure] = _field_name(measure, inner | taken, "value")
        inner.add(group.field_names[measure])
    # The group's landed names (its JSON column, its key field) must not collide with fields.
    if group.name in taken:
        group.name = _field_name(group.name, taken, "group")
    taken.add(group.name)
    if group.key_name in taken:
        group.key_name = _field_name(f"{group.key_name}_member", taken, "member")
    taken.add(group.key_name)


def _choose_unpivot(groups: list[GroupDraft], empty_rows: Counter, notes: list[str]) -> None:
    """Unpivot one group: by subject first, then the largest; only a group that has a value on
    every sample row (a row with no member would land nothing)."""
    ranked = sorted(groups, key=lambda g: (g.key_name != "subject", -len(g.columns)))
    for group in ranked:
        if not empty_rows[group.name]:
            group.unpivot = True
            return
    notes.append(
        "no column group has a value on every sample row, so none is unpivoted (each lands as one JSON "
        "column); unpivot: <group> would land nothing for rows where that group is empty"
    )


def _encoding(samples: list[SampleFile], notes: list[str]) -> str:
    labels = sorted({s.encoding_label for s in samples})
    if any(s.codec in ("utf-16-le", "utf-16-be") for s in samples):
        return "utf-16"
    notes.append(f"encoding seen: {', '.join(labels)} (auto reads UTF-8 with or without BOM, UTF-16 with BOM, "
                 "and falls back to Windows-1252)")  # fmt: skip
    return "auto"


def _file_pattern(names: list[str]) -> list[str]:
    stems = [Path(n).stem for n in names]
    suffixes = sorted({Path(n).suffix.casefold() for n in names})
    prefix = _common_prefix(stems) if len(stems) > 1 else re.sub(r"[\d_\-. ]+$", "", stems[0])
    prefix = prefix.rstrip("_- .")
    patterns = [f"{prefix}*{suffix}" for suffix in suffixes] if prefix else [f"*{s}" for s in suffixes]
    if all(any(fnmatch.fnmatchcase(n.casefold(), p.casefold()) for p in patterns) for n in names):
        return patterns
    return names


# --------------------------------------------------------------------------------------------
# Conformance roles and the key
# --------------------------------------------------------------------------------------------

_SCORE_METHODS = (
    (re.compile(r"(?i)\bsem\b|std_?err|standard_error"), "Standard error measurement"),
    (re.compile(r"(?i)lexile|\blex\b"), "Lexile Measure"),
    (re.compile(r"(?i)quantile|\bquant\b"), "Quantile Measure"),
    (re.compile(r"(?i)theta"), "Theta"),
    (re.compile(r"(?i)percentile|\bpctl?\b|\bnpr\b|\bpr\b|\bspr\b|percentile_rank"), "Percentile"),
    (re.compile(r"(?i)scale|scaled|\bss\b|\bvss\b|\brit\b"), "Scale score"),
    (re.compile(r"(?i)\braw\b|\brs\b"), "Raw score"),
    (re.compile(r"(?i)composite"), "Composite Score"),
    (re.compile(r"(?i)score|\bscore\b|total"), "Raw score"),
)
_LEVEL_WORDS = re.compile(
    r"(?i)(^|_)(level|lev|lvl|tier|risk|proficiency|performance|achievement|ach|pld|perf|band|readiness|status_level)"
    r"(_|$)|achlev|perflvl|perf_lvl|performance_level"
)
_NOT_LEVEL = re.compile(r"(?i)grade|class_level|test_level|language|entered|instr|reading_level_of|sem")
_TEST_DATE = re.compile(
    r"(?i)test|tested|assess|admin|taken|completion|completed|end|final|finish|submitted|score|administration|session"
)
_NOT_TEST_DATE = re.compile(r"(?i)birth|dob|enrol|withdraw|entry|exit|due|added|start|first_day|created|updated|bday")


def propose_conformance(
    name: str,
    fields: list[FieldDraft],
    groups: list[GroupDraft],
    samples: list[SampleFile],
    stats: dict[str, ColumnStats],
) -> dict:
    """The roles a first reading of the headers suggests; every entry is a guess to check."""
    student: dict[str, str] = {}
    ranked_ids = sorted(
        (f for f in fields if _is_person_id(f.column) and not set(words(f.column)) & _OTHER_PEOPLE),
        key=lambda f: _id_rank(f.column),
    )
    state = [f for f in ranked_ids if _is_state_id(f.column)]
    local = [f for f in ranked_ids if not _is_state_id(f.column)]
    if local:
        student["id"] = local[0].name
    elif state:
        student["id"] = state[0].name
    if state and student.get("id") != state[0].name:
        student["state_id"] = state[0].name
    for f in fields:
        role = _name_role(f.column)
        if role and role not in student:
            student[role] = f.name
    for f in fields:
        joined = _joined(f.column)
        if "birth_date" not in student and re.search(r"dob|birth|bday", joined) and f.type.type in ("date", "string"):
            if not re.fullmatch(r".*dob[ymd]", joined):
                student["birth_date"] = f.name
        ws = set(words(f.column))
        if "grade" not in student and ws & {"grade"} and not ws & {"assessment", "reported", "assessed", "test"}:
            if not ws & {"letter", "equivalent", "ge", "achieved", "school", "student_grid"}:
                student["grade"] = f.name
        if "sex" not in student and ws & {"gender", "sex"} and not ws & _OTHER_PEOPLE and "respondent" not in ws:
            student["sex"] = f.name
    if "id" not in student:
        return {}
    conformance: dict = {"student": student}
    assessment: dict = {
        "identifier": {"value": name},
        "title": {"value": name.replace("_", " ")},
        "namespace": f"uri://{name.replace('_', '-')}/Assessment",
        "vendor_name": name,
    }
    subject = _subject(fields, groups, samples, stats)
    if subject:
        assessment["subject"] = subject
    date = _test_date(fields)
    if date:
        assessment["date"] = date
        assessment["school_year"] = {"from_date": date}
        assessment["season"] = {"from_date": date}
    else:
        year = _school_year(fields)
        if year:
            assessment["school_year"] = year
    conformance["assessment"] = assessment
    scores, levels = [], []
    unpivoted = next((g for g in groups if g.unpivot), None)
    candidates = [(f.name, f.column, f.type.type) for f in fields]
    if unpivoted:
        candidates += [(unpivoted.field_names[m], m, unpivoted.types[m].type) for m in unpivoted.measures]
    for field_name, column, ftype in candidates:
        if field_name in student.values() or field_name == date:
            continue
        text = snake(column)
        if ftype in ("integer", "decimal"):
            method = next((m for rx, m in _SCORE_METHODS if rx.search(text)), None)
            # Ed-Fi keys a result's scores by reporting method: the first column of each wins.
            if method and all(s["method"] != method for s in scores):
                scores.append({"field": field_name, "method": method,
                               "datatype": "Integer" if ftype == "integer" else "Decimal"})  # fmt: skip
                continue
        if _LEVEL_WORDS.search(text) and not _NOT_LEVEL.search(text):
            proficiency = re.search(r"(?i)prof|pld|perf|ach", text)
            method = "Proficiency level" if proficiency else "Achievement/proficiency level"
            if all(level["method"] != method for level in levels):
                levels.append({"field": field_name, "method": method})
    if scores:
        conformance["scores"] = scores
    if levels:
        conformance["performance_levels"] = levels
    return conformance


def _school_year(fields: list[FieldDraft]) -> str | None:
    for f in fields:
        ws = set(words(f.column))
        if "year" in ws and not ws & {"birth", "dob", "enrollment", "api"} and len(ws) <= 3:
            return f.name
    return None


def _is_state_id(header: str) -> bool:
    ws = set(words(header))
    joined = _joined(header)
    return bool(ws & {"state", "suns", "sti", "ssid", "sasid", "wiseid", "stn", "tsds", "peims", "national"}) or (
        joined in {"wiseid", "stn", "stateid"}
    )


def _id_rank(header: str) -> tuple[int, int]:
    ws = set(words(header))
    joined = _joined(header)
    if ws & {"local", "district", "perm", "permid"} or joined in {"permid", "psid", "psstudentid", "stdpid"}:
        return (0, len(ws))
    vendor_id = ws & {"engage", "drc", "pearson"}
    if (ws & _STUDENT or "taker" in ws) and ws & {"id", "identifier", "number"} and not vendor_id:
        return (1, len(ws))
    if ws & _STUDENT:
        return (2, len(ws))
    return (3, len(ws))


def _test_date(fields: list[FieldDraft]) -> str | None:
    dated = [f for f in fields if f.type.type == "date" and not _NOT_TEST_DATE.search(snake(f.column))]
    hinted = [f for f in dated if _TEST_DATE.search(snake(f.column))]
    if hinted:
        return hinted[0].name
    if len(dated) == 1:
        return dated[0].name
    return None


def _subject(fields, groups, samples, stats) -> dict | str | None:
    for g in groups:
        if g.unpivot and g.key_name == "subject":
            mapping = {k: _SUBJECTS.get(snake(k).split("_")[0]) for k in g.keys}
            return {"field": g.key_name, "map": {k: v for k, v in mapping.items() if v}}
    for f in fields:
        ws = set(words(f.column))
        if ws & {"subject", "content"} or snake(f.column) in {"test_name", "test", "assessment", "test_code"}:
            values = stats[f.column].distinct
            mapping = {v: _subject_of(v) for v in values}
            if mapping and all(mapping.values()):
                return {"field": f.name, "map": mapping}
            if ws & {"subject"}:
                return {"field": f.name}
    for sample in samples:
        found = _subject_of(sample.path.stem)
        if found:
            return {"value": found}
    return None


def _subject_of(text: str) -> str | None:
    for word in words(text):
        if word in _SUBJECTS and word not in ("data", "ma", "eng"):
            return _SUBJECTS[word]
    return None


def _propose_key(conformance: dict, fields: list[FieldDraft], groups: list[GroupDraft]) -> list[str]:
    student = conformance.get("student", {})
    if "id" not in student:
        return []
    key = [student["id"]]
    assessment = conformance.get("assessment", {})
    if "date" in assessment:
        key.append(assessment["date"])
    subject = assessment.get("subject")
    if isinstance(subject, dict) and "field" in subject and subject["field"] in {f.name for f in fields}:
        key.append(subject["field"])
    unpivoted = next((g for g in groups if g.unpivot), None)
    if unpivoted is not None:
        key.append(unpivoted.key_name)  # one landed row per member
    return key


def _check_key(draft: Draft) -> None:
    """Drop the key (keep it as a comment) if it repeats within a sample: it would reject rows."""
    if not draft.key or draft.fixed_width:
        return
    columns = {f.name: f.column for f in draft.fields}
    for sample in draft.files:
        if sample.delimiter is None:
            continue
        names = addressed(sample.header)
        # Unique per row is unique per unpivoted member too (the member key is added).
        at = [names.index(columns[k]) if columns.get(k) in names else None for k in draft.key if k in columns]
        seen: set[bytes] = set()
        with _open_text(sample.path, sample.codec) as text:
            records = _physical_records(text, sample.delimiter)
            for start, _ in records:
                if start >= sample.header_line:
                    break
            for _, values in records:
                if not any(v.strip() for v in values):
                    continue
                joined = "\x1f".join(values[i].strip() if i is not None and i < len(values) else "" for i in at)
                digest = hashlib.blake2b(joined.encode(), digest_size=16).digest()
                if digest in seen:
                    sample.duplicate_keys += 1
                seen.add(digest)
    repeated = [s for s in draft.files if s.duplicate_keys]
    if repeated:
        draft.notes.append(
            f"key: [{', '.join(draft.key)}] repeats in the samples ("
            + ", ".join(f"{s.path.name}: {s.duplicate_keys} rows" for s in repeated)
            + "); not proposed, since repeated keys are rejected as duplicate_row: add the fields that make a "
            "result unique"
        )
        draft.key = []


def _mark_required(draft: Draft, samples: int) -> None:
    student_id = draft.conformance.get("student", {}).get("id")
    for f in draft.fields:
        if f.name == student_id and f.present_in == samples:
            f.required = True


# --------------------------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------------------------


def _q(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _flow(mapping: dict) -> str:
    parts = []
    for key, value in mapping.items():
        if isinstance(value, bool):
            parts.append(f"{key}: {'true' if value else 'false'}")
        elif isinstance(value, list):
            parts.append(f"{key}: [{', '.join(_q(str(v)) for v in value)}]")
        elif isinstance(value, dict):
            parts.append(f"{key}: {_flow(value)}")
        elif key in ("name", "type", "field", "datatype") and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", str(value)):
            parts.append(f"{key}: {value}")
        else:
            parts.append(f"{key}: {_q(str(value))}")
    return "{" + ", ".join(parts) + "}"


def _field_mapping(f: FieldDraft) -> dict:
    mapping: dict = {"name": f.name, "columns": f.column}
    if f.type.type != "string":
        mapping["type"] = f.type.type
    if f.type.formats:
        mapping["formats"] = f.type.formats
    if f.type.compact_pad:
        mapping["compact_dates"] = "pad_left"
    if f.required:
        mapping["required"] = True
    if f.personal:
        mapping["personal"] = True
    return mapping


def _comment(notes: list[str]) -> str:
    return f"  # {'; '.join(notes)}" if notes else ""


def _render(draft: Draft) -> str:
    out: list[str] = []
    files = ", ".join(f"{s.path.name} ({s.data_rows} rows)" for s in draft.files)
    out.append(f"# Drafted by `interop-pipeline draft-declaration` from {files}.")
    out.append("# A first draft: check every comment, the types, the key and each `# guessed` role.")
    for note in draft.notes:
        out.append(f"# NOTE: {note}")
    out += [
        f"name: {draft.name}",
        f"system: {draft.system}",
        f"entity: {draft.entity}",
        f"description: {_q(f'{draft.name} results (drafted from sample files; review before use)')}",
        f"file_pattern: [{', '.join(_q(p) for p in draft.file_pattern)}]",
        f"encoding: {draft.encoding}",
    ]
    if draft.fixed_width is not None:
        out.append("delimiter: fixed")
        out.append("header_row: 0")
        out.append("fixed_width:")
        for column, (start, end) in draft.fixed_width.items():
            out.append(f"  {_q(column)}: [{start}, {end}]")
    else:
        out.append(f"delimiter: {draft.delimiter}")
        out.append(f"header_row: {max(draft.header_row, 1)}")
        if draft.header_row > 1:
            out[-1] += f"  # title lines above the header at line {draft.header_row} are skipped"
    out.append("mode: append  # each drop adds results; a later export never replaces earlier ones")
    if draft.key:
        out.append(f"key: [{', '.join(draft.key)}]  # guessed: unique in the samples")
    else:
        out.append("# key: none proposed (see the notes); add the fields that make one result unique")
    if draft.null_values:
        out.append(f"null_values: [{', '.join(_q(v) for v in draft.null_values)}]  # sentinels seen in typed columns")
    out.append("fields:")
    for f in draft.fields:
        notes = list(f.type.notes)
        if f.type.sentinels and f.type.type != "string":
            notes.append("null sentinels seen: " + ", ".join(f.type.sentinels))
        if f.present_in < len([s for s in draft.files if s.delimiter is not None or draft.fixed_width]):
            notes.append(f"in {f.present_in} of the samples")
        out.append(f"  - {_flow(_field_mapping(f))}{_comment(notes)}")
    if draft.skipped:
        out.append("  # not read:")
        out += [f"  #   {_one_line(s)}" for s in draft.skipped]
    out += _render_groups(draft)
    out += _render_conformance(draft)
    return "\n".join(out) + "\n"


def _one_line(text: str) -> str:
    return text.replace("\n", " ").replace("\r", " ")


def _render_groups(draft: Draft) -> list[str]:
    if not draft.groups:
        return []
    lines = ["groups:"]
    for g in draft.groups:
        lines.append(f"  - name: {g.name}  # {len(g.columns)} columns, {len(g.keys)} {g.key_name} values")
        lines.append(f"    columns: {_q(g.regex)}")
        lines.append("    measure: measure")
        lines.append("    fields:")
        for m in g.measures:
            t = g.types[m]
            spec: dict = {"name": g.field_names[m], "columns": m}
            if t.type != "string":
                spec["type"] = t.type
            if t.formats:
                spec["formats"] = t.formats
            if t.compact_pad:
                spec["compact_dates"] = "pad_left"
            lines.append(f"      - {_flow(spec)}{_comment(t.notes)}")
    unpivot = next((g for g in draft.groups if g.unpivot), None)
    if unpivot:
        lines.append(f"unpivot: {unpivot.name}  # one landed row per {unpivot.key_name}; other groups land as JSON")
    return lines


def _render_conformance(draft: Draft) -> list[str]:
    conf = draft.conformance
    if not conf:
        return ["# conformance: no student id column recognised; add a conformance section by hand"]
    lines = ["conformance:", "  student:"]
    for role, name in conf["student"].items():
        lines.append(f"    {role}: {name}  # guessed")
    assessment = dict(conf.get("assessment", {}))
    missing = []
    placeholder = assessment and "subject" not in assessment
    if placeholder:
        assessment["subject"] = {"value": "Other"}
    if assessment and "school_year" not in assessment:
        missing.append("school year (no test date or year column recognised)")
    if assessment and not (conf.get("scores") or conf.get("performance_levels")):
        missing.append("scores or performance levels")
    results: list[str] = []
    if assessment:
        results.append("  assessment:")
        for role, value in assessment.items():
            shown = _flow(value) if isinstance(value, dict) else value
            why = "no subject found: set the Ed-Fi AcademicSubject" if role == "subject" and placeholder else "guessed"
            results.append(f"    {role}: {shown}  # {why}")
    for section in ("scores", "performance_levels"):
        if conf.get(section):
            results.append(f"  {section}:")
            results += [f"    - {_flow(item)}  # guessed" for item in conf[section]]
    if missing and results:
        # Incomplete: the results part would not load; kept as comments to finish by hand.
        lines.append(f"  # results not proposed: no {', '.join(missing)} found; finish and uncomment:")
        lines += [f"  #{line}" for line in results]
    else:
        lines += results
    return lines


# --------------------------------------------------------------------------------------------
# Entry point for the CLI
# --------------------------------------------------------------------------------------------


def write_draft(paths: Iterable[Path | str], out: Path | None, *, name: str | None, system: str | None) -> str:
    draft = draft_declaration(list(paths), name=name, system=system)
    text = draft.to_yaml()
    if out is not None:
        Path(out).write_text(text, encoding="utf-8")
    return text


__all__ = [
    "ColumnStats",
    "Draft",
    "addressed",
    "detect_groups",
    "draft_declaration",
    "fixed_width_spans",
    "infer_type",
    "is_personal",
    "propose_conformance",
    "snake",
    "write_draft",
]
