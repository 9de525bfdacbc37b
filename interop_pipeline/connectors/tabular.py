"""Declarative connector for vendor CSV/TSV files: one engine, one YAML declaration per format.

A declaration (see :class:`FileDeclaration`) says which file names it accepts, how the text is
encoded and delimited, which header names (current and historical) feed each landing field,
how values are typed and normalised, which fields are derived from others, and which fields
identify a record. The built-in formats ship as ``formats/*.yaml`` next to this module; a
district adds a vendor file by writing one more declaration, without code.

File-level problems (empty file, header only, missing required columns, no matching
declaration, truncated or binary content) raise :class:`VendorFileError` and nothing lands.
Row-level problems become rejects (``field_count``, ``quoting``, ``type``, ``not_null``,
``unmapped_code``, ``derive``, ``duplicate_row``); every other row lands. Files are streamed
through ``csv`` and flushed by :class:`LandingBatch`; only record keys stay in memory.

Tolerated defects land and are counted as warnings (``EntityLanding.warnings`` and the batch
details' ``entities.<entity>.warnings``), counted over landed rows only:

``trailing_empty_fields``
    rows with empty cells beyond the header (spreadsheet exports add them): the cells are
    ignored. A non-empty cell beyond the header still rejects the row (``field_count``).
``short_last_record``
    the file's last record is short only by trailing fields that are optional (neither
    ``required`` nor ``not_null``, or columns no field reads): the missing values land as
    null. A last record that lacks a required or not_null field is a ``field_count`` reject,
    and without a final line break the file is refused as truncated; so is a file that ends
    inside a quoted field. A short record before the last is a ``field_count`` reject. A file
    whose header ends in unknown columns and whose every record is shorter than the header is
    refused whole: its header ran on into the first record (a lost line break), which no
    reject could otherwise hold.
``null_sentinel:<field>``
    values that are a vendor's way of writing "no value" (``N/A``, ``Not Provided``, ...),
    landed as null. In a ``not_null`` field a sentinel rejects the row (``not_null``).
``unpivot_empty_member`` / ``unpivot_empty_row``
    members of the unpivoted column group whose fields are all blank or sentinels (an untaken
    subject) are skipped; a record with no member left lands nothing. Neither is a reject.

The language (column groups and unpivot, ``Name[k]`` for repeated header names, fixed width,
compact dates, blocks, typed and multi-field derivations) is documented with one example per
feature in ``docs/declarations.md``.

Null sentinels: :data:`DEFAULT_NULL_VALUES`, plus the declaration's top-level ``null_values``,
form the shared list; it applies to every typed field (integer, decimal, date, time, boolean,
lexile, quantile) and to no string field, unless the field says otherwise with
``null_sentinels: true`` / ``false``. A field's own ``null_values`` are sentinels for that
field whatever its type. Matching is case-insensitive on the trimmed value; a value the field
itself declares (a ``code_map`` key, a ``true_values``/``false_values`` spelling) is data, not
a sentinel. Example::

    null_values: ["Not Tested"]            # added to the shared list for this file
    fields:
      - {name: score, columns: Score, type: integer}            # N/A, Not Tested -> null
      - {name: level, columns: Level, null_sentinels: true}     # a string that opts in
      - {name: home_language, columns: Language, null_values: [Unknown]}  # only Unknown

Privacy: values of fields declared ``personal`` never appear in reject details or errors.
"""

from __future__ import annotations

import csv
import difflib
import fnmatch
import hashlib
import io
import json
import logging
import re
import string
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache, lru_cache
from pathlib import Path
from typing import IO, Annotated, Literal, NamedTuple, Protocol

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from interop_pipeline.connectors.archive import open_checked_zip, open_member
from interop_pipeline.connectors.conformance import Conformance
from interop_pipeline.connectors.conformance import check as conformance_problems
from interop_pipeline.connectors.landing import (
    BatchCounts,
    EntityWriter,
    LandingBatch,
    find_landed_batch,
    sha256_file,
)

FORMATS_DIR = Path(__file__).resolve().parent / "formats"
_log = logging.getLogger(__name__)

# Landing column / folder names: snake_case, so they are valid path parts and SQL identifiers,
# and can never collide with the "_"-prefixed lineage columns.
SnakeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
FieldType = Literal["string", "integer", "decimal", "date", "time", "boolean", "lexile", "quantile"]
Encoding = Literal["auto", "utf-8", "utf-8-sig", "cp1252", "utf-16"]

_DEFAULT_TIME_FORMATS = ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p")
_DEFAULT_TRUE = ("true", "t", "yes", "y", "1")
_DEFAULT_FALSE = ("false", "f", "no", "n", "0")
_DELIMITER_WORDS = {"tab": "\t", "comma": ",", "pipe": "|", "semicolon": ";"}
_SHOWN_CHARS = 40  # longest value quoted back in a reject detail
_DERIVED_VALUES_KEPT = 20  # distinct derived values recorded per field in the batch details
_MEMO_VALUES = 4096  # distinct raw values whose landed value a field remembers (see _RowRules)
# What vendors write for "no value" in a typed column. Beyond the common spellings: "N/A*"
# (FastBridge percentiles), "-" (Cambridge levels, SC READY item scores), "Not Provided"
# (i-Ready flags), "No Score" and "*" (suppressed or missing scores). Blank is null anyway.
DEFAULT_NULL_VALUES: tuple[str, ...] = ("Not Provided", "N/A", "N/A*", "NA", "-", "--", "*", "NULL", "No Score")


class DeclarationError(ValueError):
    """A file declaration is missing, unreadable or invalid (the message names file and key)."""


class VendorFileError(ValueError):
    """The vendor file (or a member of its zip) is refused as a whole; nothing was landed."""


# --------------------------------------------------------------------------------------------
# Value normalisation (used by the declarations' validators and by the row rules)
# --------------------------------------------------------------------------------------------


class _BadValue(Exception):
    """A value does not parse as its declared type; ``expected`` says what would have, and
    ``reason`` (when set) replaces "expected ..." where the value is refused for another cause."""

    def __init__(self, expected: str, reason: str | None = None):
        super().__init__(expected)
        self.expected = expected
        self.reason = reason


_INTEGER = re.compile(r"[+-]?\d+")
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)")
# MetaMetrics measures: "585L", "BR120L" (beginning reader: below 0L), "1650Q", "EM400Q"
# (emerging mathematician: below 0Q). Landed as signed integers so they sort and compare.
_LEXILE = re.compile(r"(?i)(?P<below>BR)?\s*(?P<sign>-)?(?P<n>\d+)\s*L?")
_QUANTILE = re.compile(r"(?i)(?P<below>EM)?\s*(?P<sign>-)?(?P<n>\d+)\s*Q?")


def _as_integer(spec: FieldSpec, value: str) -> str:
    if not _INTEGER.fullmatch(value):
        raise _BadValue("an integer")
    return str(int(value))


def _as_decimal(spec: FieldSpec, value: str) -> str:
    # A trailing % is only a unit: "Percent Progress (%)" columns sometimes repeat it per cell.
    number = value[:-1].rstrip() if value.endswith("%") else value
    if not _DECIMAL.fullmatch(number):
        raise _BadValue("a decimal number")
    return format(Decimal(number), "f")


def _as_date(spec: FieldSpec, value: str) -> str:
    ambiguous: str | None = None
    for pattern in spec.formats:
        width = _compact_width(pattern)
        candidate = value
        if width is not None and len(value) != width:
            if spec.compact_dates == "pad_left" and value.isdigit() and len(value) < width:
                candidate = value.zfill(width)  # the vendor dropped a leading zero (1062015)
            else:
                # strptime would guess where MDDYYYY splits: 1112015 is Jan 11 or Nov 1.
                ambiguous = ambiguous or (
                    f"ambiguous compact date: {len(value)} digits for {pattern} ({_compact_picture(pattern)})"
                )
                continue
        parsed = _strptime(candidate, (pattern,), "%Y-%m-%d")
        if parsed is not None:
            return parsed
    raise _BadValue(f"a date as {' or '.join(spec.formats)}", ambiguous)


# Widths of the directives a date written without separators is made of (%m%d%Y, %Y%m%d, ...).
_COMPACT_WIDTHS = {"Y": 4, "y": 2, "m": 2, "d": 2, "j": 3}
_COMPACT_PICTURES = {"Y": "YYYY", "y": "YY", "m": "MM", "d": "DD", "j": "DDD"}


@cache
def _compact_width(pattern: str) -> int | None:
    """The exact width of a separator-less date format, or None for any other format."""
    parts = pattern.split("%")
    if parts[0] or len(parts) < 3 or any(len(part) != 1 or part not in _COMPACT_WIDTHS for part in parts[1:]):
        return None
    return sum(_COMPACT_WIDTHS[part] for part in parts[1:])


def _compact_picture(pattern: str) -> str:
    return "".join(_COMPACT_PICTURES[part] for part in pattern.split("%")[1:])


def _as_time(spec: FieldSpec, value: str) -> str:
    formats = tuple(spec.formats) or _DEFAULT_TIME_FORMATS
    parsed = _strptime(value, formats, "%H:%M:%S")
    if parsed is None:
        raise _BadValue(f"a time as {' or '.join(formats)}")
    return parsed


@lru_cache(maxsize=8192)
def _strptime(value: str, formats: tuple[str, ...], output: str) -> str | None:
    # strptime is slow and a file repeats the same few hundred dates: cache by value.
    for pattern in formats:
        try:
            return datetime.strptime(value, pattern).strftime(output)
        except ValueError:
            continue
    return None


def _as_boolean(spec: FieldSpec, value: str) -> str:
    trues = tuple(spec.true_values) or _DEFAULT_TRUE
    falses = tuple(spec.false_values) or _DEFAULT_FALSE
    folded = value.casefold()
    if folded in _casefolded(trues):
        return "true"
    if folded in _casefolded(falses):
        return "false"
    raise _BadValue(f"a boolean ({'/'.join(trues + falses)})")


@cache
def _casefolded(values: tuple[str, ...]) -> frozenset[str]:
    return frozenset(v.casefold() for v in values)


def _measure(pattern: re.Pattern[str], unit: str, below: str) -> Callable[[FieldSpec, str], str]:
    def convert(spec: FieldSpec, value: str) -> str:
        match = pattern.fullmatch(value)
        if match is None or (match["below"] and match["sign"]):
            raise _BadValue(f"a {unit} measure like 585{unit[0].upper()} or {below}120{unit[0].upper()}")
        number = int(match["n"])
        return str(-number if (match["below"] or match["sign"]) and number else number)

    return convert


_CONVERTERS: dict[str, Callable[[FieldSpec, str], str]] = {
    "string": lambda spec, value: value,
    "integer": _as_integer,
    "decimal": _as_decimal,
    "date": _as_date,
    "time": _as_time,
    "boolean": _as_boolean,
    "lexile": _measure(_LEXILE, "lexile", "BR"),
    "quantile": _measure(_QUANTILE, "quantile", "EM"),
}


# --------------------------------------------------------------------------------------------
# The declaration schema
# --------------------------------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _as_list(value: object) -> object:
    # YAML authors write one pattern or column as a plain string; accept it as a one-item list.
    return [value] if isinstance(value, str) else value


Names = Annotated[list[Annotated[str, StringConstraints(min_length=1)]], BeforeValidator(_as_list)]


def _trimmed_sentinel(value: str) -> str:
    # Values are compared trimmed, so a blank or padded sentinel could never match.
    if not value.strip():
        raise ValueError("a null value cannot be blank (blank cells are null already)")
    if value != value.strip():
        raise ValueError("a null value cannot start or end with spaces (cells are compared trimmed)")
    return value


NullValues = Annotated[list[Annotated[str, AfterValidator(_trimmed_sentinel)]], BeforeValidator(_as_list)]


def _null_codes(value: object) -> object:
    # `Code: null` (YAML null, or the word quoted) maps that code to null, never to ''.
    if isinstance(value, dict):
        return {k: None if isinstance(v, str) and v.strip().casefold() == "null" else v for k, v in value.items()}
    return value


CodeMap = Annotated[dict[str, str | None], BeforeValidator(_null_codes)]


class FieldSpec(_Strict):
    """One landing column: where it comes from in the header, its type and its row rules."""

    name: SnakeName
    columns: Names = Field(default_factory=list, description="header names, current first, then historical variants")
    type: FieldType = "string"
    formats: list[str] = Field(default_factory=list, description="strptime patterns (date, time), tried in order")
    true_values: list[str] = Field(default_factory=list)
    false_values: list[str] = Field(default_factory=list)
    required: bool = Field(default=False, description="the column must be in the header, else the file is refused")
    not_null: bool = Field(default=False, description="a blank value rejects the row")
    code_map: CodeMap | None = Field(
        default=None, description="raw value -> value (null: no value), matched case-insensitively"
    )
    unmapped: Literal["keep", "reject"] = "keep"
    constant: str | None = Field(default=None, description="the same value for every row; no column")
    personal: bool = Field(default=False, description="values never appear in messages")
    null_values: NullValues = Field(
        default_factory=list,
        description="this field's own null sentinels (case-insensitive), landed as null whatever the type",
    )
    null_sentinels: bool | None = Field(
        default=None,
        description="whether the shared sentinels (built-in list and the declaration's null_values) apply; "
        "default: yes for typed fields, no for string fields",
    )
    compact_dates: Literal["strict", "pad_left"] = Field(
        default="strict",
        description="dates without separators (%m%d%Y): a value of another width is refused (strict) or "
        "left-padded with zeros to the format's width (pad_left)",
    )

    @property
    def takes_shared_sentinels(self) -> bool:
        # Typed fields: a sentinel can never be a valid integer, date or flag, so it can only mean
        # "no value". String fields: "NA" may be a real value (initials, a code, a name), so
        # they take the shared list only when the declaration says so.
        return self.type != "string" if self.null_sentinels is None else self.null_sentinels

    @property
    def explicit_values(self) -> frozenset[str]:
        """Values the field itself declares (casefolded): these are data, never sentinels."""
        declared = [*(self.code_map or {}), *self.true_values, *self.false_values]
        return frozenset(value.strip().casefold() for value in declared)

    @model_validator(mode="after")
    def _one_source(self) -> FieldSpec:
        if self.constant is not None and self.columns:
            raise ValueError("a field has either columns or a constant, not both")
        if self.constant is None and not self.columns:
            raise ValueError("a field needs columns (header names) or a constant")
        if self.required and self.constant is not None:
            raise ValueError("a constant field cannot be required (it has no column)")
        if self.constant is not None:
            try:
                _CONVERTERS[self.type](self, self.constant.strip())
            except _BadValue as bad:
                raise ValueError(f"constant is not {bad.expected}") from None
        return self

    @model_validator(mode="after")
    def _type_options(self) -> FieldSpec:
        # Options that do not apply to the type are mistakes worth naming, not silently ignored.
        if self.type == "date" and not self.formats:
            raise ValueError("a date field needs formats, e.g. ['%m/%d/%Y']")
        if self.formats and self.type not in ("date", "time"):
            raise ValueError("formats apply only to date and time fields")
        for pattern in self.formats:
            _check_strptime(pattern)
        if self.compact_dates != "strict" and self.type != "date":
            raise ValueError("compact_dates applies only to date fields")
        if (self.true_values or self.false_values) and self.type != "boolean":
            raise ValueError("true_values/false_values apply only to boolean fields")
        overlap = {v.casefold() for v in self.true_values} & {v.casefold() for v in self.false_values}
        if overlap:
            raise ValueError(f"values both true and false: {', '.join(sorted(overlap))}")
        both = sorted({v.casefold() for v in self.null_values} & self.explicit_values)
        if both:
            raise ValueError(f"null_values also in code_map or true/false values: {', '.join(both)}")
        return self

    @model_validator(mode="after")
    def _code_map_keys(self) -> FieldSpec:
        if self.code_map is None:
            if self.unmapped == "reject":
                raise ValueError("unmapped: reject needs a code_map")
            return self
        folded = [key.strip().casefold() for key in self.code_map]
        if len(set(folded)) != len(folded):
            raise ValueError("code_map has keys that differ only in case or surrounding spaces")
        return self


def _check_strptime(pattern: str) -> None:
    sample = datetime(2001, 2, 3, 4, 5, 6)
    try:
        parsed = datetime.strptime(sample.strftime(pattern), pattern)
    except ValueError:
        parsed = None
    if "%" not in pattern or parsed is None:
        raise ValueError(f"format {pattern!r} is not a usable strptime pattern")


class DeriveOutput(_Strict):
    """One derived field: a named group of the pattern, or a template over several groups."""

    group: str | None = None
    template: str | None = Field(default=None, description="str.format over the groups, e.g. '{position}_{grade}'")
    lowercase: bool = False
    code_map: CodeMap | None = None
    type: FieldType = Field(default="string", description="the derived value is typed like a field's")
    formats: list[str] = Field(default_factory=list, description="strptime patterns for a date or time output")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: object) -> object:
        return {"group": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_source(self) -> DeriveOutput:
        if (self.group is None) == (self.template is None):
            raise ValueError("give exactly one of group or template")
        self.as_field("derived")  # type options are checked as a field's are
        return self

    def as_field(self, name: str) -> FieldSpec:
        """The output as a field, so derived values are typed by the same rules."""
        return FieldSpec(name=name, columns=[name], type=self.type, formats=self.formats)

    def groups(self) -> set[str]:
        if self.group is not None:
            return {self.group}
        assert self.template is not None
        return {name for _, name, _, _ in string.Formatter().parse(self.template) if name}


class DeriveSpec(_Strict):
    """Fields computed from other fields' normalised values by a regex with named groups; with
    several sources (``from: [a, b]``) the pattern sees their values joined by ``|``."""

    sources: Annotated[list[SnakeName], BeforeValidator(_as_list)] = Field(alias="from", min_length=1)
    pattern: str
    fields: dict[SnakeName, DeriveOutput] = Field(min_length=1)
    no_match: Literal["reject", "null"] = "reject"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("no_match", mode="before")
    @classmethod
    def _null_word(cls, value: object) -> object:
        # `no_match: null` unquoted is YAML's null: the author meant the word.
        return "null" if value is None else value

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"does not compile as a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _groups_exist(self) -> DeriveSpec:
        compiled = re.compile(self.pattern)
        for name, output in self.fields.items():
            unknown = output.groups() - set(compiled.groupindex)
            if unknown:
                raise ValueError(f"fields.{name} uses groups not in the pattern: {', '.join(sorted(unknown))}")
        return self


class LayoutSpec(_Strict):
    """A named header signature: the layout applies when all its columns are present."""

    name: SnakeName
    columns: Names = Field(min_length=1)


class GroupKey(_Strict):
    """A key of a column group (a named group of its regex other than the measure)."""

    code_map: CodeMap | None = Field(default=None, description="key value -> value, matched case-insensitively")


class GroupSpec(_Strict):
    """Columns that repeat one set of fields per member (subject, period, goal, window).

    ``columns`` is a regex matched in full against each header name (the k-th repeat of a name
    reads ``Name[k]``); its ``measure`` group says which field a column feeds, every other named
    group is a key: one value combination of the keys is one member.
    """

    name: SnakeName
    columns: str = Field(description="regex, full match on header names, with named groups")
    measure: str = Field(default="measure", description="the named group whose value picks the field")
    fields: list[FieldSpec] = Field(min_length=1, description="their columns are measure values, not header names")
    keys: dict[SnakeName, GroupKey] = Field(default_factory=dict)

    @field_validator("columns")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"does not compile as a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _groups_fit(self) -> GroupSpec:
        named = list(re.compile(self.columns).groupindex)
        if self.measure not in named:
            raise ValueError(f"the pattern has no named group {self.measure!r} (the measure)")
        bad = [name for name in self.key_names if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name)]
        if bad:
            raise ValueError(f"key groups become fields and need snake_case names: {', '.join(bad)}")
        unknown = sorted(set(self.keys) - set(self.key_names))
        if unknown:
            raise ValueError(f"keys not among the pattern's named groups: {', '.join(unknown)}")
        for spec in self.fields:
            if spec.constant is not None:
                raise ValueError(f"fields.{spec.name}: a group field reads columns, not a constant")
        names = self.output_columns
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"names used more than once (keys and fields): {', '.join(repeated)}")
        return self

    @property
    def key_names(self) -> list[str]:
        """The key groups, in pattern order: every named group but the measure."""
        return [name for name in re.compile(self.columns).groupindex if name != self.measure]

    @property
    def output_columns(self) -> list[str]:
        """A member's values: its keys, then its fields."""
        return self.key_names + [spec.name for spec in self.fields]


def _expand_blocks(raw: object) -> object:
    """`- use: name` entries in fields become the block's fields, with `prefix` added to their
    header names and `name_prefix` to their field names (a block is a list of fields)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("fields"), list):
        return raw
    blocks = raw.get("blocks") or {}
    fields: list[object] = []
    for i, item in enumerate(raw["fields"]):
        if not (isinstance(item, dict) and "use" in item):
            fields.append(item)
            continue
        extra = sorted(set(item) - {"use", "prefix", "name_prefix"})
        if extra:
            raise ValueError(f"fields[{i}]: unknown keys beside use: {', '.join(extra)} (use, prefix, name_prefix)")
        block = blocks.get(item["use"]) if isinstance(blocks, dict) else None
        if not isinstance(block, list):
            known = ", ".join(blocks) if isinstance(blocks, dict) and blocks else "none"
            raise ValueError(f"fields[{i}].use: no block named {item['use']!r} (blocks: {known})")
        fields.extend(_prefixed(spec, item.get("prefix") or "", item.get("name_prefix") or "") for spec in block)
    return {**raw, "fields": fields}


def _prefixed(spec: object, prefix: str, name_prefix: str) -> object:
    if not isinstance(spec, dict):
        return spec  # the block's own validation names the problem
    out = dict(spec)
    if isinstance(out.get("name"), str):
        out["name"] = name_prefix + out["name"]
    columns = _as_list(out.get("columns"))
    if isinstance(columns, list):
        out["columns"] = [prefix + c if isinstance(c, str) else c for c in columns]
    return out


_Position = Annotated[int, Field(ge=1)]
# Header name -> (start, end): 1-based and inclusive, as vendors' layout documents print them.
FixedWidth = dict[Annotated[str, StringConstraints(min_length=1)], tuple[_Position, _Position]]


class FileDeclaration(_Strict):
    """How one vendor file maps to one landing entity."""

    name: SnakeName
    system: SnakeName = Field(description="landing folder of the source system")
    entity: SnakeName = Field(description="landing entity folder")
    description: str = Field(min_length=1)
    file_pattern: Names = Field(min_length=1, description="globs on the file name (or zip member), case-insensitive")
    encoding: Encoding = "auto"
    delimiter: Literal[",", "\t", "|", ";", "fixed"] = ","
    fixed_width: FixedWidth | None = Field(
        default=None, description="delimiter fixed: header name -> [start, end], 1-based and inclusive"
    )
    header_row: int = Field(
        default=1, ge=0, description="1-based; lines before it are skipped; 0: no header line (fixed width default)"
    )
    mode: Literal["snapshot", "append"]
    fields: list[FieldSpec] = Field(min_length=1)
    derive: list[DeriveSpec] = Field(default_factory=list)
    groups: list[GroupSpec] = Field(default_factory=list)
    unpivot: SnakeName | None = Field(default=None, description="the group landed as one row per member")
    blocks: dict[SnakeName, list[FieldSpec]] = Field(default_factory=dict, description="fields reused by `- use:`")
    key: list[SnakeName] = Field(default_factory=list)
    layouts: list[LayoutSpec] = Field(default_factory=list)
    null_values: NullValues = Field(
        default_factory=list,
        description="null sentinels added to the built-in list for the fields that take the shared list",
    )
    conformance: Conformance | None = Field(
        default=None, description="what the rows mean: student, assessment, scores, levels (conformance.py)"
    )

    @model_validator(mode="after")
    def _conformance_resolves(self) -> FileDeclaration:
        if self.conformance is not None:
            problems = conformance_problems(self.conformance, self.output_columns, self.group_fields)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def group_fields(self) -> dict[str, list[str]]:
        """Column groups landed as one JSON column (not unpivoted) → their member field names."""
        return {group.name: group.output_columns for group in self.json_groups}

    @property
    def json_groups(self) -> list[GroupSpec]:
        """The groups not unpivoted: each lands as one JSON column named after it."""
        return [group for group in self.groups if group.name != self.unpivot]

    @property
    def unpivoted(self) -> GroupSpec | None:
        return next((group for group in self.groups if group.name == self.unpivot), None)

    @property
    def record_key(self) -> list[str]:
        """What identifies a landed row: the declared key and, for an unpivoted file (one row
        per member of its group), the member's keys."""
        if not self.key:
            return []
        unpivoted = self.unpivoted
        return [*self.key, *(k for k in (unpivoted.key_names if unpivoted else []) if k not in self.key)]

    @model_validator(mode="before")
    @classmethod
    def _defaults_and_blocks(cls, value: object) -> object:
        if isinstance(value, dict) and "header_row" not in value and value.get("delimiter") == "fixed":
            value = {**value, "header_row": 0}  # fixed-width exports rarely carry a header line
        return _expand_blocks(value)

    @model_validator(mode="after")
    def _fixed_width(self) -> FileDeclaration:
        if (self.delimiter == "fixed") != (self.fixed_width is not None):
            raise ValueError("delimiter: fixed and fixed_width go together")
        if self.header_row == 0 and self.delimiter != "fixed":
            raise ValueError("header_row: 0 (no header line) needs delimiter: fixed")
        for name, (start, end) in (self.fixed_width or {}).items():
            if end < start:
                raise ValueError(f"fixed_width.{name}: end {end} is before start {start}")
        return self

    @property
    def shared_null_values(self) -> frozenset[str]:
        """The shared sentinels, casefolded: the built-in list and this declaration's own."""
        return frozenset(value.casefold() for value in (*DEFAULT_NULL_VALUES, *self.null_values))

    @field_validator("delimiter", mode="before")
    @classmethod
    def _delimiter_word(cls, value: object) -> object:
        return _DELIMITER_WORDS.get(value, value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _names_resolve(self) -> FileDeclaration:
        declared = [f.name for f in self.fields]
        derived = [name for rule in self.derive for name in rule.fields]
        landed = self.output_columns
        repeated = sorted({n for n in landed if landed.count(n) > 1})
        if repeated:
            raise ValueError(f"landed names used more than once (fields, derive, groups): {', '.join(repeated)}")
        if self.unpivot is not None and self.unpivoted is None:
            raise ValueError(f"unpivot: {self.unpivot!r} is not one of the groups")
        for i, rule in enumerate(self.derive):
            for source in rule.sources:
                if source not in declared:
                    raise ValueError(f"derive[{i}].from: {source!r} is not one of the fields")
        member = self.unpivoted.output_columns if self.unpivoted is not None else []
        unknown_keys = [k for k in self.key if k not in declared + derived + member]
        if unknown_keys:
            raise ValueError(f"key: not declared fields: {', '.join(unknown_keys)}")
        return self

    @property
    def output_columns(self) -> list[str]:
        """Landed data columns, in order: the fields, the derived fields, the unpivoted group's
        keys and fields, then one JSON column per other group."""
        member = self.unpivoted.output_columns if self.unpivoted is not None else []
        return [
            *(f.name for f in self.fields),
            *(name for rule in self.derive for name in rule.fields),
            *member,
            *(group.name for group in self.json_groups),
        ]

    def matches(self, file_name: str) -> bool:
        base = file_name.rsplit("/", 1)[-1].casefold()
        return any(fnmatch.fnmatchcase(base, pattern.casefold()) for pattern in self.file_pattern)


# --------------------------------------------------------------------------------------------
# Loading declarations
# --------------------------------------------------------------------------------------------


class _TextLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser where built
    """YAML with scalars kept as written: `Y`, `No`, `01` and `TRUE` stay text (YAML 1.1 would
    turn `No` into False and `01` into 1, breaking code maps and boolean spellings). Pydantic
    still reads "true" / "3" as bool / int where the schema says so."""


_TextLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag in ("tag:yaml.org,2002:null", "tag:yaml.org,2002:merge")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_declaration(path: Path | str) -> FileDeclaration:
    """Read and validate one declaration file; problems raise DeclarationError naming the file
    and the key path (``fields[2].type``)."""
    path = Path(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_TextLoader)  # a safe loader
    except FileNotFoundError:
        raise DeclarationError(f"{path}: declaration file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise DeclarationError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise DeclarationError(f"{path}: expected a mapping (name, system, entity, fields, ...) at the top level")
    try:
        return FileDeclaration.model_validate(raw)
    except ValidationError as exc:
        problems = "\n  ".join(_explain(error, raw) for error in exc.errors())
        raise DeclarationError(f"{path}: invalid file declaration:\n  {problems}") from None


def load_declarations(paths: Iterable[Path | str]) -> dict[str, FileDeclaration]:
    """Declarations by name from files and folders (a folder contributes its *.yaml/*.yml)."""
    found: dict[str, FileDeclaration] = {}
    origin: dict[str, Path] = {}
    for path in _declaration_files(paths):
        declaration = load_declaration(path)
        if declaration.name in found:
            raise DeclarationError(
                f"{path}: declaration name {declaration.name!r} is also used by {origin[declaration.name]}"
            )
        found[declaration.name] = declaration
        origin[declaration.name] = path
    return found


def builtin_declarations() -> dict[str, FileDeclaration]:
    """The formats shipped with the code (formats/*.yaml), by name."""
    return dict(_builtin())


@cache
def _builtin() -> dict[str, FileDeclaration]:
    return load_declarations([FORMATS_DIR])


def _declaration_files(paths: Iterable[Path | str]) -> Iterator[Path]:
    for item in paths:
        path = Path(item)
        if path.is_dir():
            yield from sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        else:
            yield path


def _explain(error: dict, raw: dict) -> str:
    """One validation error as `key.path[i]: message`, naming the field for list items."""
    path, named = _key_path(error["loc"], raw)
    where = f"{path} (field {named})" if named else path
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"{where}: unknown key"
    if kind == "missing":
        return f"{where}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    given = error.get("input")
    shown = f" (got {given!r})" if isinstance(given, str | int | float) and not isinstance(given, bool) else ""
    return f"{where}: {message}{shown}" if where else f"{message}{shown}"


def _key_path(loc: tuple, raw: object) -> tuple[str, str | None]:
    path, named, node = "", None, raw
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("name"), str):
                named = node["name"]
        else:
            path += f".{part}" if path else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return path, named


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityLanding:
    """What one declared file contributed to the batch."""

    entity: str
    declaration: str
    source: str  # file name, or archive!member
    header: list[str]
    layout: str | None
    unknown_columns: list[str]
    missing_columns: list[str]  # declared optional columns the header lacks (land as null)
    encoding: str
    mode: str
    rows_landed: int
    rows_rejected: int
    # Tolerated defects counted over landed rows: trailing_empty_fields, short_last_record and
    # null_sentinel:<field> (values landed as null); only keys with a count appear.
    warnings: dict[str, int] = field(default_factory=dict)
    # Missing optional fields whose column is likely misspelt -> the closest header name found.
    nearest_columns: dict[str, str] = field(default_factory=dict)


@dataclass(kw_only=True)
class VendorFileResult(BatchCounts):
    """The batch's counts (rows_landed, rows_rejected, rejects_by_rule per entity) and what
    each declared file contributed; empty counts when the bytes were landed before."""

    batch_id: str
    already_landed: bool
    entities: dict[str, EntityLanding] = field(default_factory=dict)
    files_not_ingested: list[str] = field(default_factory=list)
    # How each entity's file was read: "vectorized", "python", or "python (<why not vectorized>)".
    engines: dict[str, str] = field(default_factory=dict)

    @property
    def warnings_by_entity(self) -> dict[str, dict[str, int]]:
        """Each entity's warning counts (see EntityLanding.warnings), for entities that have any."""
        return {name: dict(landed.warnings) for name, landed in self.entities.items() if landed.warnings}


# --------------------------------------------------------------------------------------------
# Public entry point
# --------------------------------------------------------------------------------------------


class RowSink(Protocol):
    """Receives every landed row of one declared file: its landed columns by name."""

    def add(self, row: dict[str, str | None], source_ref: str) -> None: ...


class BatchRowSinks(Protocol):
    def sink(self, declaration: FileDeclaration) -> RowSink | None: ...

    def close(self) -> None:
        """Called once, after the last row and before the batch commits."""


class RowSinks(Protocol):
    """What else to land from the rows of a batch (the conformance layer implements it)."""

    def open(self, batch: LandingBatch) -> BatchRowSinks: ...


class _RetryInCp1252(Exception):
    """An `auto` source turned out not to be UTF-8: discard the batch and start it again."""

    def __init__(self, label: str):
        super().__init__(label)
        self.label = label


def land_vendor_file(
    path: Path,
    declarations: Sequence[FileDeclaration],
    landing_root: Path,
    *,
    district_code: str,
    max_uncompressed_bytes: int,
    extracted_at: datetime | None = None,
    row_sinks: RowSinks | None = None,
    engine: Engine = "auto",
) -> VendorFileResult:
    """Land one vendor file (or a zip of them) as one batch of the declarations' system.

    Idempotent: bytes landed before, under any file name, are not landed again; the earlier
    batch id comes back with ``already_landed=True``. `row_sinks` sees every landed row too
    (the conformance layer: what the file means, landed beside it in the same batch).

    `engine` picks how a declared file is read; both land the same rows, rejects and details.
    ``python`` reads row by row (the reference); ``vectorized`` reads column-wise
    (vectorized.py) wherever it can match the reference and row by row elsewhere; ``auto``
    (the default) reads vectorized files of :data:`vectorized.MIN_BYTES` and more.
    """
    path = Path(path)
    system = _common_system(declarations)
    if path.stat().st_size == 0:
        raise VendorFileError(f"{path.name}: empty file (0 bytes); expected {_expected(declarations)}")
    fingerprint = sha256_file(path)
    earlier = find_landed_batch(landing_root, system, fingerprint)
    if earlier is not None:
        return VendorFileResult(batch_id=earlier, already_landed=True)
    job = _Job(
        path=path,
        declarations=tuple(declarations),
        landing_root=Path(landing_root),
        system=system,
        district_code=district_code,
        fingerprint=fingerprint,
        extracted_at=extracted_at or datetime.now(UTC),
        max_uncompressed_bytes=max_uncompressed_bytes,
        row_sinks=row_sinks,
        engine=engine,
    )
    not_utf8: set[str] = set()
    while True:  # at most once more per source that turns out to be Windows-1252
        try:
            return _land_once(job, not_utf8)
        except _RetryInCp1252 as retry:
            not_utf8.add(retry.label)


def _common_system(declarations: Sequence[FileDeclaration]) -> str:
    if not declarations:
        raise DeclarationError("land_vendor_file needs at least one declaration")
    systems = sorted({d.system for d in declarations})
    if len(systems) > 1:
        raise DeclarationError(f"declarations for one file must share one system; got {', '.join(systems)}")
    columns: dict[str, tuple[str, list[str]]] = {}
    for declaration in declarations:
        seen = columns.setdefault(declaration.entity, (declaration.name, declaration.output_columns))
        if seen[1] != declaration.output_columns:
            raise DeclarationError(
                f"declarations {seen[0]} and {declaration.name} land entity {declaration.entity!r} "
                "with different columns; one entity folder needs one schema"
            )
    return systems[0]


def _expected(declarations: Sequence[FileDeclaration]) -> str:
    shown = "; ".join(f"{d.name}: {', '.join(d.file_pattern)}" for d in declarations)
    return f"a file matching one of the declarations ({shown})"


@dataclass(frozen=True)
class _Job:
    path: Path
    declarations: tuple[FileDeclaration, ...]
    landing_root: Path
    system: str
    district_code: str
    fingerprint: str
    extracted_at: datetime
    max_uncompressed_bytes: int
    row_sinks: RowSinks | None = None
    engine: Engine = "auto"


Engine = Literal["auto", "python", "vectorized"]


class _Source(NamedTuple):
    label: str  # file name, or archive!member: the prefix of every _source_ref
    member: str | None
    declaration: FileDeclaration
    open: Callable[[], IO[bytes]]
    size: int = 0  # bytes (uncompressed, for a zip member)
    path: Path | None = None  # the file on disk; None for a zip member


def _land_once(job: _Job, not_utf8: set[str]) -> VendorFileResult:
    """One attempt; `not_utf8` names the sources an earlier attempt found not to be UTF-8."""
    with ExitStack() as stack:
        sources, not_ingested = _plan_sources(job.path, job.declarations, job.max_uncompressed_bytes, stack)
        details: dict = {"kind": "vendor_file", "entities": {}, "files_not_ingested": not_ingested}
        batch = stack.enter_context(
            LandingBatch(
                job.landing_root,
                job.system,
                job.district_code,
                job.fingerprint,
                job.path.name,
                job.extracted_at,
                details=details,
            )
        )
        entities: dict[str, EntityLanding] = {}
        engines: dict[str, str] = {}
        sinks = job.row_sinks.open(batch) if job.row_sinks is not None else None
        for source in sources:
            encoding = "cp1252" if source.label in not_utf8 else None
            sink = sinks.sink(source.declaration) if sinks is not None else None
            landed, facts, engines[source.declaration.entity] = _land_by_engine(
                job.engine, batch, source, encoding, sink
            )
            entities[landed.entity] = landed
            batch.details["entities"][landed.entity] = facts
        if sinks is not None:
            sinks.close()
        batch.commit()
        counts = batch.counts
    return VendorFileResult(
        **asdict(counts),
        batch_id=batch.batch_id,
        already_landed=False,
        entities=entities,
        files_not_ingested=not_ingested,
        engines=engines,
    )


def _plan_sources(
    path: Path, declarations: Sequence[FileDeclaration], max_uncompressed_bytes: int, stack: ExitStack
) -> tuple[list[_Source], list[str]]:
    """Which declaration reads which file or zip member; refuses drops nothing would read."""
    if path.suffix.casefold() != ".zip":
        declaration = _first_match(declarations, path.name)
        if declaration is None:
            raise VendorFileError(
                f"{path.name}: no declaration matches this file name; expected {_expected(declarations)}"
            )
        return [_Source(path.name, None, declaration, lambda: open(path, "rb"), path.stat().st_size, path)], []
    expected = f"a zip of vendor files ({_expected(declarations)})"
    zf = stack.enter_context(open_checked_zip(path, max_uncompressed_bytes, VendorFileError, expected))
    sources: list[_Source] = []
    not_ingested: list[str] = []
    for info in zf.infolist():
        if info.is_dir():
            continue
        declaration = None if _is_os_metadata(info.filename) else _first_match(declarations, info.filename)
        if declaration is None:
            not_ingested.append(info.filename)
            continue
        label = f"{path.name}!{info.filename}"
        if info.file_size == 0:
            raise VendorFileError(f"{label}: empty file (0 bytes); expected a {declaration.name} file with a header")
        opener = _member_opener(zf, info.filename, label)
        sources.append(_Source(label, info.filename, declaration, opener, info.file_size))
    _check_one_member_per_entity(path.name, sources)
    if not sources:
        found = ", ".join(not_ingested) or "no files"
        raise VendorFileError(f"{path.name}: no member matches a declaration; expected {expected}; found {found}")
    return sources, sorted(not_ingested)


def _is_os_metadata(member: str) -> bool:
    # macOS "Compress" adds __MACOSX/._<name> resource forks whose names match the real files.
    return member.startswith("__MACOSX/") or member.rsplit("/", 1)[-1].startswith("._")


def _member_opener(zf: zipfile.ZipFile, member: str, label: str) -> Callable[[], IO[bytes]]:
    # Damaged bytes in the member (header, CRC, stream) become a VendorFileError naming it.
    return lambda: open_member(zf, member, label, VendorFileError)


def _first_match(declarations: Sequence[FileDeclaration], file_name: str) -> FileDeclaration | None:
    # The first declaration whose pattern matches wins, so the caller's order settles overlaps.
    return next((d for d in declarations if d.matches(file_name)), None)


def _check_one_member_per_entity(archive: str, sources: list[_Source]) -> None:
    by_entity: dict[str, list[str]] = {}
    for source in sources:
        by_entity.setdefault(source.declaration.entity, []).append(source.member or source.label)
    for entity, members in by_entity.items():
        if len(members) > 1:
            raise VendorFileError(
                f"{archive}: members {', '.join(members)} would all land as entity {entity!r}; "
                "expected one file per entity in a zip"
            )


# --------------------------------------------------------------------------------------------
# Reading text: encoding, binary sniffing, physical lines and CSV records
# --------------------------------------------------------------------------------------------

_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a ZIP archive or Excel .xlsx workbook"),
    (b"\xd0\xcf\x11\xe0", "a legacy Excel .xls workbook"),
    (b"%PDF", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive"),
)
_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)


def _choose_encoding(head: bytes, declared: str, label: str, forced_cp1252: bool) -> tuple[str, bool]:
    """(encoding, may retry in cp1252). `auto`: a BOM decides; otherwise UTF-8 is tried first."""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            raise VendorFileError(f"{label}: binary content ({what}); expected delimited text (CSV/TSV)")
    if declared == "utf-16" and not head.startswith((b"\xff\xfe", b"\xfe\xff")) and b"\x00" not in head:
        # UTF-16 text has a byte-order mark or a NUL byte beside every ASCII character.
        raise VendorFileError(
            f"{label}: declared encoding utf-16, but the file is not UTF-16 (no byte-order mark and no NUL "
            "bytes in its first characters: it is UTF-8 or Windows-1252 text); try encoding: auto"
        )
    if declared != "auto":
        return declared, False
    if forced_cp1252:
        return "cp1252", False
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, False
    return "utf-8", True


class _Lines:
    """Physical lines for csv.reader. Counts them, remembers whether the text ended with a line
    break (to spot truncation), keeps the lines of the record being read (``held``, emptied by
    :func:`_records` before each record), and turns undecodable or NUL-bearing text into clear
    errors."""

    def __init__(self, text: io.TextIOWrapper, label: str, encoding: str, may_retry: bool):
        self._text = text
        self._label = label
        self._encoding = encoding
        self._may_retry = may_retry
        self.count = 0
        self.ends_with_newline = True
        self.exhausted = False
        self.held: list[str] = []

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._text)
        except StopIteration:
            self.exhausted = True
            raise
        except UnicodeDecodeError:
            if self._may_retry:
                raise _RetryInCp1252(self._label) from None
            raise VendorFileError(
                f"{self._label}: bytes after line {self.count} are not valid {self._encoding} text; "
                "expected UTF-8 or Windows-1252 text (binary content, or another encoding)"
            ) from None
        if "\x00" in line:
            raise VendorFileError(
                f"{self._label}: NUL bytes at line {self.count + 1}; expected delimited text "
                "(binary content, or UTF-16 without a byte-order mark)"
            )
        self.count += 1
        self.ends_with_newline = line.endswith(("\n", "\r"))
        self.held.append(line)
        return line


class _Record(NamedTuple):
    line: int  # physical line where the record starts
    values: list[str] | None  # None: the record is not valid CSV
    problem: str | None
    text: str | None = None  # the raw line of a record that is not valid CSV (for the reject)


def _records(lines: _Lines, delimiter: str, label: str, offset: int) -> Iterator[_Record]:
    """CSV records with the line each starts on (stays right across quoted line breaks).

    Strict quoting turns `"ab"c` into a row-level problem and lets us tell a record that runs
    into the end of the file inside quotes (truncated) from one that is merely malformed. A
    malformed record that spans several lines (a stray quote ran on over the rows after it) is
    read again line by line, so the rows it swallowed land or are rejected on their own.
    """
    reader = csv.reader(lines, delimiter=delimiter, strict=True)
    while True:
        start = offset + reader.line_num + 1
        lines.held.clear()
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if lines.exhausted:
                raise VendorFileError(
                    f"{label}: truncated file: the record starting at line {start} is still inside a quoted "
                    "field at the end of the file (expected a closing quote; an incomplete download or an "
                    "unbalanced quote)"
                ) from None
            yield from _lines_on_their_own(list(lines.held), start, delimiter, str(exc))
            continue
        yield _Record(start, values, None)


def _fixed_records(lines: _Lines, spans: list[tuple[int, int]], offset: int) -> Iterator[_Record]:
    """Fixed-width lines cut at the declared (start, end) positions, 1-based and inclusive; a
    line shorter than a span reads blank there (exports trim trailing spaces)."""
    for number, line in enumerate(lines, start=offset + 1):
        lines.held.clear()
        text = line.rstrip("\r\n")
        yield _Record(number, [text[start - 1 : end] for start, end in spans], None)


def _lines_on_their_own(held: list[str], start: int, delimiter: str, problem: str) -> Iterator[_Record]:
    """The physical lines of a record that is not valid CSV, each read as a record of its own."""
    if len(held) == 1:
        yield _Record(start, None, problem, held[0])
        return
    for line_number, line in enumerate(held, start=start):
        try:
            values = next(csv.reader([line], delimiter=delimiter, strict=True), [])
        except csv.Error as exc:
            yield _Record(line_number, None, str(exc), line)
            continue
        yield _Record(line_number, values, None)


def _is_blank(values: list[str]) -> bool:
    return not any(v.strip() for v in values)


def _header_key(name: str) -> str:
    # Case- and whitespace-insensitive: "Student ID", "StudentID " and "student id" are one name.
    return "".join(name.replace("\ufeff", "").split()).casefold()


# --------------------------------------------------------------------------------------------
# Header: which column feeds which field
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Member:
    """One member of a column group: its key values and the header position of each field."""

    keys: tuple[str | None, ...]
    positions: dict[str, int]


@dataclass(frozen=True)
class _HeaderPlan:
    width: int
    positions: dict[str, int | None]  # field -> header position (None: absent or constant)
    layout: str | None
    unknown: list[str]
    missing_optional: list[str]
    names: list[str]  # each position's address: the header name, Name[k] for its k-th repeat
    members: dict[str, list[_Member]] = field(default_factory=dict)  # group -> members, header order
    nearest: dict[str, str] = field(default_factory=dict)  # missing field -> the header name it likely meant


_INDEXED = re.compile(r"(?P<base>.*?)\[(?P<k>\d+)\]")


def _addresses(header: list[str]) -> list[str]:
    """Each header cell's name as declarations address it: the k-th repeat (k >= 2) of a name
    is `Name[k]`, so a file with repeated names stays addressable column by column."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        key = _header_key(name)
        seen[key] = seen.get(key, 0) + 1
        names.append(name.strip() if seen[key] == 1 else f"{name.strip()}[{seen[key]}]")
    return names


def _address_key(column: str) -> tuple[str, int]:
    """(header key, occurrence) a declared column names: `Name` and `Name[1]` are the first."""
    match = _INDEXED.fullmatch(column.strip())
    if match is None:
        return _header_key(column), 1
    return _header_key(match["base"]), int(match["k"])


class _Columns:
    """The header's positions by (header key, occurrence), and how often each name occurs."""

    def __init__(self, header: list[str]):
        self.count: dict[str, int] = {}
        self.at: dict[tuple[str, int], int] = {}
        for i, name in enumerate(header):
            key = _header_key(name)
            self.count[key] = self.count.get(key, 0) + 1
            self.at[(key, self.count[key])] = i
        # Plain names (no [k]) read from a repeated header name: (field, column, header key).
        self.plain_repeats: list[tuple[str, str, str]] = []

    def find(self, spec: FieldSpec) -> int | None:
        for column in spec.columns:  # current name first, then historical variants
            key, occurrence = _address_key(column)
            if (_header_key(column), 1) in self.at:  # a header name that itself ends in [k]
                key, occurrence = _header_key(column), 1
            position = self.at.get((key, occurrence))
            if position is None:
                continue
            if self.count[key] > 1 and _INDEXED.fullmatch(column.strip()) is None:
                self.plain_repeats.append((spec.name, column, key))
            return position
        return None

    def check_plain_repeats(self, declaration: FileDeclaration, names: list[str], used: set[int], label: str) -> None:
        """A plain name on a repeated header reads the first copy only when the declaration
        addresses another copy too (Name[2] in a field, or a group's column): otherwise it would
        silently pick one of several columns the author may not know about."""
        addressed = {
            _address_key(column)[0]
            for spec in declaration.fields
            for column in spec.columns
            if _INDEXED.fullmatch(column.strip())
        }
        addressed |= {key for (key, occurrence), i in self.at.items() if occurrence > 1 and i in used}
        for field_name, column, key in self.plain_repeats:
            if key not in addressed:
                repeats = self.count[key]
                raise VendorFileError(
                    f"{label}: column {column!r} appears {repeats} times in the header; expected it once "
                    f"(field {field_name}), or name each copy: {column}[1] ... {column}[{repeats}]"
                )


def _plan_header(declaration: FileDeclaration, header: list[str], label: str) -> _HeaderPlan:
    names = _addresses(header)
    columns = _Columns(header)
    used: set[int] = set()
    positions: dict[str, int | None] = {}
    missing_required: list[FieldSpec] = []
    missing_optional: list[str] = []
    for spec in declaration.fields:
        position = columns.find(spec)
        positions[spec.name] = position
        if position is not None:
            used.add(position)
        elif spec.required:
            missing_required.append(spec)
        elif spec.constant is None:
            missing_optional.append(spec.name)
    if missing_required:
        _refuse_missing(declaration, header, missing_required, label, used)
    members = {group.name: _plan_group(group, names, used, label) for group in declaration.groups}
    columns.check_plain_repeats(declaration, names, used, label)
    missing_optional += [name for name, found in members.items() if not found]
    unknown = [name if name.strip() else f"<blank column {i + 1}>" for i, name in enumerate(names) if i not in used]
    layout = next(
        (lay.name for lay in declaration.layouts if all(_address_key(c) in columns.at for c in lay.columns)),
        None,
    )
    nearest = _nearest_names(declaration, missing_optional, names, used)
    return _HeaderPlan(len(header), positions, layout, unknown, missing_optional, names, members, nearest)


def _plan_group(group: GroupSpec, names: list[str], used: set[int], label: str) -> list[_Member]:
    """The group's members in header order; claims the columns that feed one of its fields."""
    pattern = re.compile(group.columns)
    by_measure = {_header_key(column): spec.name for spec in group.fields for column in spec.columns}
    found: dict[tuple[str | None, ...], dict[str, int]] = {}
    for i, name in enumerate(names):
        match = None if i in used else pattern.fullmatch(name)
        target = by_measure.get(_header_key(match[group.measure] or "")) if match else None
        if match is None or target is None:
            continue  # not this group's, or a measure no field reads (listed as unknown)
        keys = tuple(match[key] or None for key in group.key_names)
        positions = found.setdefault(keys, {})
        if target in positions:
            raise VendorFileError(
                f"{label}: columns {names[positions[target]]!r} and {name!r} both feed {group.name}.{target} "
                f"of the same member ({_member_label(group, keys)}); expected one column per field and member"
            )
        positions[target] = i
        used.add(i)
    members = [_Member(keys, positions) for keys, positions in found.items()]
    for member in members:
        lacking = [spec.name for spec in group.fields if spec.required and spec.name not in member.positions]
        if lacking:
            raise VendorFileError(
                f"{label}: group {group.name} member {_member_label(group, member.keys)} has no column for "
                f"required fields {', '.join(lacking)}"
            )
    return members


def _member_label(group: GroupSpec, keys: tuple[str | None, ...]) -> str:
    return ", ".join(f"{name}={value}" for name, value in zip(group.key_names, keys, strict=True)) or "the only one"


def _nearest_names(
    declaration: FileDeclaration, missing: list[str], names: list[str], used: set[int]
) -> dict[str, str]:
    """Missing optional fields whose column is probably misspelt: the closest unused header name."""
    free = {_header_key(name): name for i, name in enumerate(names) if i not in used and name.strip()}
    by_name = {spec.name: spec for spec in declaration.fields}
    nearest: dict[str, str] = {}
    for field_name in missing:
        spec = by_name.get(field_name)
        for column in spec.columns if spec is not None else []:
            close = difflib.get_close_matches(_header_key(column), list(free), n=1, cutoff=0.8)
            if close:
                nearest[field_name] = free[close[0]]
                break
    return nearest


def _refuse_missing(
    declaration: FileDeclaration, header: list[str], missing: list[FieldSpec], label: str, used: set[int]
) -> None:
    wanted = "; ".join(" or ".join(spec.columns) for spec in missing)
    if used:
        # A header that lost its line break (or a stray quote) runs on into a data row: those
        # cells come after the last declared column found, or hold a line break. Never show them.
        last = max(used)
        shown = [
            "<a cell with a line break>" if "\n" in name or "\r" in name else name[:60] for name in header[: last + 1]
        ]
        rest = len(header) - last - 1
        if rest:
            shown.append(f"and {rest} more cells after the last declared column (not shown: they may be a data row)")
        found = ", ".join(shown)
    else:
        # Nothing matched: the line may be data (a student's name), so do not echo it.
        found = f"{len(header)} cells matching none of the declared columns (not shown: it may be a data row)"
    raise VendorFileError(
        f"{label}: missing required columns for {declaration.name} at header row {declaration.header_row}: "
        f"{wanted}. Found: {found}"
    )


# --------------------------------------------------------------------------------------------
# Row rules
# --------------------------------------------------------------------------------------------


class _Problem(NamedTuple):
    rule: str
    field: str | None
    detail: str


# Warning keys (counts over landed rows; see the module docstring).
TRAILING_EMPTY_FIELDS = "trailing_empty_fields"
SHORT_LAST_RECORD = "short_last_record"
NULL_SENTINEL = "null_sentinel:"  # + field name
UNPIVOT_EMPTY_MEMBER = "unpivot_empty_member"
UNPIVOT_EMPTY_ROW = "unpivot_empty_row"


@dataclass(frozen=True)
class _FieldRule:
    spec: FieldSpec
    position: int | None  # None: a constant, or a column the header lacks
    code_map: dict[str, str | None] | None  # casefolded keys
    sentinels: frozenset[str]  # casefolded values that mean "no value" in this field
    # Look sentinels up before conversion (strings, or a sentinel that would parse, e.g. "999");
    # otherwise only once a value fails to convert, which keeps the per-value cost off good rows.
    sentinels_first: bool
    label: str = ""  # what messages call it: the field, or a group field's header column (MathSS)

    @property
    def name(self) -> str:
        return self.label or self.spec.name

    @property
    def fixed(self) -> str:
        """The value when there is no column: the constant, or blank."""
        return (self.spec.constant or "").strip()

    @property
    def as_is(self) -> bool:
        """Plain strings need no conversion: the hot path skips it."""
        return self.spec.type == "string" and self.code_map is None and not self.sentinels

    @property
    def sentinel_warning(self) -> str:
        return NULL_SENTINEL + self.spec.name

    def normalise(self, raw: str) -> tuple[str | None, _Problem | None]:
        """The landed value (None: null) and the rule it fails. A null sentinel in an optional
        field comes back as (None, None) like a blank; :meth:`is_sentinel` tells them apart."""
        spec = self.spec
        if not raw:
            if spec.not_null:
                return None, _Problem("not_null", self.name, f"{self.name} is blank but must have a value")
            return None, None
        if self.sentinels_first and raw.casefold() in self.sentinels:
            return self._sentinel()
        value = raw
        if self.code_map is not None:
            folded = raw.casefold()
            if folded in self.code_map:
                mapped = self.code_map[folded]
                if not mapped:  # the code means "no value": null, never '' (which no type parses)
                    return self._sentinel()
                value = mapped
            elif spec.unmapped == "reject":
                if self.is_sentinel(raw):
                    return self._sentinel()
                expected = ", ".join(spec.code_map or {})
                detail = f"{self.name}{self._shown(raw)} is not in the code map (expected one of {expected})"
                return None, _Problem("unmapped_code", self.name, detail)
        try:
            return _CONVERTERS[spec.type](spec, value), None
        except _BadValue as bad:
            if self.is_sentinel(raw):
                return self._sentinel()
            shown = self._shown(value) or " a value that does not parse (personal: not shown)"
            why = bad.reason or f"expected {bad.expected}"
            return None, _Problem("type", self.name, f"{self.name}: {why}, found{shown}")

    def is_sentinel(self, raw: str) -> bool:
        return bool(self.sentinels) and raw.casefold() in self.sentinels

    def _sentinel(self) -> tuple[None, _Problem | None]:
        if self.spec.not_null:
            # The sentinel itself is not quoted: in a personal field even "N/A" says something.
            return None, _Problem("not_null", self.name, f"{self.name}: required value is a null sentinel")
        return None, None

    def _shown(self, value: str) -> str:
        # Codes and scores are worth quoting back; personal values never are.
        return "" if self.spec.personal else f" {value[:_SHOWN_CHARS]!r}"


def _field_rule(spec: FieldSpec, position: int | None, shared: frozenset[str], label: str = "") -> _FieldRule:
    own = {value.casefold() for value in spec.null_values}
    taken = own | shared if spec.takes_shared_sentinels else own
    sentinels = frozenset(taken - spec.explicit_values)
    first = bool(sentinels) and (spec.type == "string" or any(_converts(spec, value) for value in sentinels))
    return _FieldRule(spec, position, _folded(spec.code_map), sentinels, first, label)


def _converts(spec: FieldSpec, value: str) -> bool:
    try:
        _CONVERTERS[spec.type](spec, value)
    except _BadValue:
        return False
    return True


class _Output(NamedTuple):
    name: str
    spec: DeriveOutput
    code_map: dict[str, str | None] | None  # casefolded keys
    typed: _FieldRule | None  # converts a derived value that is not a plain string


@dataclass(frozen=True)
class _DeriveRule:
    spec: DeriveSpec
    sources_at: list[int]  # positions in the output row
    personal: bool  # a source field is personal: never quote it
    pattern: re.Pattern[str]
    outputs: list[_Output]

    def apply(self, row: list[str | None]) -> tuple[list[str | None], list[_Problem]]:
        sources = [row[i] for i in self.sources_at]
        blank: list[str | None] = [None] * len(self.outputs)
        if all(value is None for value in sources):
            return blank, []  # a blank source is the not_null rule's business
        source = "|".join(value or "" for value in sources)  # from: [a, b] sees "a|b"
        match = self.pattern.fullmatch(source)
        if match is None:
            if self.spec.no_match == "null":
                return blank, []
            shown = "" if self.personal else f" {source[:_SHOWN_CHARS]!r}"
            names = ", ".join(output.name for output in self.outputs)
            where = "|".join(self.spec.sources)
            detail = f"{where}{shown} does not match the pattern that derives {names}"
            return blank, [_Problem("derive", where, detail)]
        values: list[str | None] = []
        problems: list[_Problem] = []
        for output in self.outputs:
            value = _derived_value(match, output)
            if value is not None and output.typed is not None:
                value, problem = output.typed.normalise(value)
                problems += [problem] if problem else []
            values.append(value)
        return values, problems


def _derived_value(match: re.Match[str], output: _Output) -> str | None:
    groups = {name: value or "" for name, value in match.groupdict().items()}
    spec = output.spec
    value = groups[spec.group] if spec.group is not None else (spec.template or "").format(**groups)
    if spec.lowercase:
        value = value.lower()
    if output.code_map is not None:
        value = output.code_map.get(value.casefold(), value)
    return value or None


def _derive_rule(rule: DeriveSpec, names: list[str], personal: set[str]) -> _DeriveRule:
    secret = any(source in personal for source in rule.sources)
    outputs = []
    for name, output in rule.fields.items():
        typed = None
        if output.type != "string":
            spec = output.as_field(name).model_copy(update={"personal": secret})
            typed = _field_rule(spec, None, frozenset())
        outputs.append(_Output(name, output, _folded(output.code_map), typed))
    sources_at = [names.index(source) for source in rule.sources]
    return _DeriveRule(rule, sources_at, secret, re.compile(rule.pattern), outputs)


@dataclass(frozen=True)
class _GroupRule:
    """One column group's members with their field rules, resolved once per file."""

    group: GroupSpec
    members: list[tuple[tuple[str | None, ...], list[_FieldRule]]]  # (key values, a rule per field)

    def read(self, values: list[str], warnings: list[str]) -> tuple[list[list[str | None]], list[_Problem], int]:
        """The members that hold a value (keys, then fields), the rules they fail, and how many
        members were empty (every field blank or a sentinel)."""
        found: list[list[str | None]] = []
        problems: list[_Problem] = []
        empty = 0
        for keys, rules in self.members:
            raws = ["" if rule.position is None else values[rule.position].strip() for rule in rules]
            normalised = [rule.normalise(raw) for rule, raw in zip(rules, raws, strict=True)]
            member_problems = [problem for _, problem in normalised if problem is not None]
            if all(value is None for value, _ in normalised) and all(p.rule == "not_null" for p in member_problems):
                empty += 1  # an untaken subject or period: nothing to land, not a defect
                continue
            problems += member_problems
            warnings += [
                rule.sentinel_warning
                for rule, raw, (value, _) in zip(rules, raws, normalised, strict=True)
                if value is None and raw and rule.is_sentinel(raw)
            ]
            found.append([*keys, *(value for value, _ in normalised)])
        return found, problems, empty

    def as_json(self, members: list[list[str | None]]) -> str | None:
        """A group not unpivoted lands as one JSON list of member objects (keys and fields)."""
        if not members:
            return None
        names = self.group.output_columns
        objects = [dict(zip(names, member, strict=True)) for member in members]
        return json.dumps(objects, ensure_ascii=False, separators=(",", ":"))


def _group_rule(group: GroupSpec, members: list[_Member], names: list[str], shared: frozenset[str]) -> _GroupRule:
    key_maps = [_folded(group.keys[key].code_map) if key in group.keys else None for key in group.key_names]
    resolved = []
    for member in members:
        keys = tuple(_mapped_key(value, code_map) for value, code_map in zip(member.keys, key_maps, strict=True))
        rules = []
        for spec in group.fields:
            position = member.positions.get(spec.name)
            label = names[position] if position is not None else f"{group.name}.{spec.name}"
            rules.append(_field_rule(spec, position, shared, label))
        resolved.append((keys, rules))
    return _GroupRule(group, resolved)


def _mapped_key(value: str | None, code_map: dict[str, str | None] | None) -> str | None:
    if value is None or code_map is None:
        return value
    return code_map.get(value.casefold(), value) or None


class _RowRules:
    """One file's rules, with column positions resolved once (this runs for every row)."""

    def __init__(self, declaration: FileDeclaration, plan: _HeaderPlan):
        self.width = plan.width
        shared = declaration.shared_null_values
        self.fields = [_field_rule(spec, plan.positions[spec.name], shared) for spec in declaration.fields]
        self.groups = {
            group.name: _group_rule(group, plan.members[group.name], plan.names, shared) for group in declaration.groups
        }
        self.unpivot = self.groups.get(declaration.unpivot or "")
        self.json_groups = [self.groups[group.name] for group in declaration.json_groups]
        # Columns a record cannot end before: those of required or not_null fields. A last record
        # that stops after all of them is short only by optional fields (see short_of).
        needed = [
            (rule.position, rule.name)
            for rule in self.fields
            if rule.position is not None and (rule.spec.required or rule.spec.not_null)
        ]
        self._needed = sorted(needed)
        # (position, fixed value, plain string, nullable, rule, memo) per field, resolved once for the row
        # loop. The memo holds the values a field's rule landed unchanged by anything but the raw
        # text (normalise is a function of it): a file repeats the same scores, dates and codes.
        # A blank in a field that may be null lands as null with no rule to check.
        self._plan = [(rule.position, rule.fixed, rule.as_is, not rule.spec.not_null, rule, {}) for rule in self.fields]
        names = declaration.output_columns
        personal = {spec.name for spec in declaration.fields if spec.personal}
        self.derives = [_derive_rule(rule, names, personal) for rule in declaration.derive]
        self.key_names = declaration.record_key
        self.key_at = [names.index(name) for name in self.key_names]

    def apply(self, values: list[str], warnings: list[str]) -> tuple[list[list[str | None]], list[_Problem]]:
        """The landed rows of one record (one, or one per non-empty member of the unpivoted
        group; none if every member is empty) and every rule it fails (most basic first); the
        defects it tolerates are appended to `warnings` (counted by the caller if it lands)."""
        if len(values) != self.width:
            # Spreadsheet exports often end rows with extra empty cells; those carry no data.
            if len(values) < self.width or not _is_blank(values[self.width :]):
                detail = f"expected {self.width} fields as in the header, found {len(values)}"
                return [], [_Problem("field_count", None, detail)]
            warnings.append(TRAILING_EMPTY_FIELDS)
        row, problems = self._fields(values, warnings)
        for derive in self.derives:
            derived, failed = derive.apply(row)
            row.extend(derived)
            problems += failed
        cells = []
        for group in self.json_groups:
            members, failed, _ = group.read(values, warnings)
            problems += failed
            cells.append(group.as_json(members))
        if self.unpivot is None:
            return [row + cells], problems
        members, failed, empty = self.unpivot.read(values, warnings)
        warnings += [UNPIVOT_EMPTY_MEMBER] * empty
        return [row + member + cells for member in members], problems + failed

    def _fields(self, values: list[str], warnings: list[str]) -> tuple[list[str | None], list[_Problem]]:
        row: list[str | None] = []
        append = row.append
        problems: list[_Problem] = []
        for position, fixed, as_is, nullable, rule, memo in self._plan:
            raw = fixed if position is None else values[position].strip()
            if raw:
                if as_is:
                    append(raw)
                    continue
                known = memo.get(raw)
                if known is not None:
                    append(known)
                    continue
            elif nullable:
                append(None)
                continue
            value, problem = rule.normalise(raw)
            append(value)
            if problem:
                problems.append(problem)
            elif value is None:
                if raw and rule.is_sentinel(raw):
                    warnings.append(rule.sentinel_warning)
            elif len(memo) < _MEMO_VALUES:
                memo[raw] = value
        return row, problems

    def key_of(self, row: list[str | None]) -> bytes | None:
        if not self.key_at:
            return None
        # A digest, not the values: memory per row stays small and no personal value is held.
        joined = "\x1f".join("\x1e" if row[i] is None else str(row[i]) for i in self.key_at)
        return hashlib.blake2b(joined.encode("utf-8"), digest_size=16).digest()

    def short_of(self, count: int) -> list[str]:
        """The required or not_null fields a record of `count` values lacks (empty: it is short
        only by optional fields, or by columns no field reads)."""
        return [name for position, name in self._needed if position >= count]


def _folded(code_map: dict[str, str | None] | None) -> dict[str, str | None] | None:
    return None if code_map is None else {key.strip().casefold(): value for key, value in code_map.items()}


# --------------------------------------------------------------------------------------------
# Landing one file
# --------------------------------------------------------------------------------------------


@dataclass
class _Tally:
    data_rows: int = 0
    blank_rows: int = 0
    landed: int = 0
    rejected: int = 0
    by_rule: dict[str, int] = field(default_factory=dict)
    derived: dict[str, set[str]] = field(default_factory=dict)
    warnings: dict[str, int] = field(default_factory=dict)
    # The last record lacks required or not_null fields: (values it has, the fields it lacks).
    short_last: tuple[int, list[str]] | None = None
    widest: int = 0  # the most fields any data record has


def _land_by_engine(
    engine: Engine, batch: LandingBatch, source: _Source, forced: str | None, sink: RowSink | None
) -> tuple[EntityLanding, dict, str]:
    """Land one declared file with the engine asked for: (what it landed, its details, the
    engine that read it). A file the vectorized engine cannot match the reference on lands row
    by row; it has written nothing when it says so."""
    from interop_pipeline.connectors import vectorized

    if engine == "python" or (engine == "auto" and source.size < vectorized.MIN_BYTES):
        return *_land_source(batch, source, forced, sink), "python"
    try:
        return *vectorized.land_source(batch, source, forced, sink, source.path), "vectorized"
    except vectorized.Fallback as fallback:
        _log.info("%s: landed row by row (%s)", source.label, fallback.reason)
        return *_land_source(batch, source, forced, sink), f"python ({fallback.reason})"


def _land_source(
    batch: LandingBatch, source: _Source, forced: str | None, sink: RowSink | None = None
) -> tuple[EntityLanding, dict]:
    declaration = source.declaration
    with source.open() as raw:
        binary = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        encoding, may_retry = _choose_encoding(
            binary.peek(8)[:8], declaration.encoding, source.label, forced == "cp1252"
        )
        text = io.TextIOWrapper(binary, encoding=encoding, newline="")
        lines = _Lines(text, source.label, encoding, may_retry)
        header, records = _read_header(lines, declaration, source.label)
        plan = _plan_header(declaration, header, source.label)
        rules = _RowRules(declaration, plan)
        writer = batch.entity_writer(declaration.entity, declaration.output_columns)
        tally = _land_rows(batch, writer, rules, records, header, source, declaration, sink)
        writer.close()
        # Unknown columns at the header's end are what a header run on into a record looks like.
        unknown_last = bool(header) and header[-1] in plan.unknown
        _check_complete(tally, lines, rules.width, source.label, declaration, unknown_last=unknown_last)
    return _entity_landing(declaration, source, header, plan, encoding, tally)


def _entity_landing(
    declaration: FileDeclaration, source: _Source, header: list[str], plan: _HeaderPlan, encoding: str, tally: _Tally
) -> tuple[EntityLanding, dict]:
    """What one entity's landing reports (either engine), and its batch details."""
    landed = EntityLanding(
        entity=declaration.entity,
        declaration=declaration.name,
        source=source.label,
        header=header,
        layout=plan.layout,
        unknown_columns=plan.unknown,
        missing_columns=plan.missing_optional,
        nearest_columns=plan.nearest,
        encoding=encoding,
        mode=declaration.mode,
        rows_landed=tally.landed,
        rows_rejected=tally.rejected,
        warnings=dict(sorted(tally.warnings.items())),
    )
    return landed, _entity_details(landed, source, declaration, tally)


def _read_header(lines: _Lines, declaration: FileDeclaration, label: str) -> tuple[list[str], Iterator[_Record]]:
    if declaration.fixed_width is not None:
        # Positions are declared, so a header line (if the export has one) is skipped, not read.
        for _ in range(declaration.header_row):
            next(lines, None)
        spans = list(declaration.fixed_width.values())
        return list(declaration.fixed_width), _fixed_records(lines, spans, declaration.header_row)
    skip = declaration.header_row - 1
    for _ in range(skip):  # title lines some exports put above the header
        if next(lines, None) is None:
            break
    records = _records(lines, declaration.delimiter, label, skip)
    for record in records:
        if record.values is None:
            raise VendorFileError(f"{label}: the header (line {record.line}) is not valid CSV: {record.problem}")
        if not _is_blank(record.values):
            # A BOM left by a declared (not detected) encoding is not part of the first name.
            header = [record.values[0].lstrip("\ufeff"), *record.values[1:]]
            _check_delimiter(header, declaration, label, record.line)
            return header, records
    raise VendorFileError(
        f"{label}: no header row (the file holds only blank lines{' after the skipped lines' if skip else ''}); "
        f"expected a {declaration.name} header at row {declaration.header_row}"
    )


def _check_delimiter(header: list[str], declaration: FileDeclaration, label: str, line: int) -> None:
    """A header read as one cell, holding another delimiter, means the declaration's is wrong."""
    columns = {_header_key(column) for spec in declaration.fields for column in spec.columns}
    if len(header) != 1 or len(columns) + len(declaration.groups) < 2:
        return
    counts = {word: header[0].count(char) for word, char in _DELIMITER_WORDS.items() if char != declaration.delimiter}
    word, count = max(counts.items(), key=lambda item: item[1])
    if count:
        declared = next((w for w, c in _DELIMITER_WORDS.items() if c == declaration.delimiter), declaration.delimiter)
        raise VendorFileError(
            f"{label}: the header (line {line}) is one cell when split on the declared delimiter ({declared}); "
            f"it contains {count} {word} characters: did you mean delimiter: {word}?"
        )


def _land_rows(
    batch: LandingBatch,
    writer: EntityWriter,
    rules: _RowRules,
    records: Iterator[_Record],
    header: list[str],
    source: _Source,
    declaration: FileDeclaration,
    sink: RowSink | None = None,
) -> _Tally:
    tally = _Tally()
    columns = declaration.output_columns
    seen_keys: dict[bytes, int] = {}
    derived_names = [name for rule in declaration.derive for name in rule.fields]
    tracked = _tracked_derived(declaration)

    def land_record(record: _Record, values: list[str], warnings: list[str]) -> None:
        ref = f"{source.label}:{record.line}"
        rows, problems = rules.apply(values, warnings)
        keys = [rules.key_of(row) for row in rows] if not problems else []
        repeated = _repeated_key(keys, seen_keys, record.line)
        if repeated is not None:
            detail = f"same key ({', '.join(rules.key_names)}) as line {repeated}"
            problems = [_Problem("duplicate_row", None, detail)]
        if problems:
            detail = "; ".join(p.detail for p in problems)
            first = problems[0]
            _reject(batch, tally, declaration, ref, _Problem(first.rule, first.field, detail), _raw(header, values))
            return
        if not rows:  # an unpivoted record whose members are all empty: nothing to land, no defect
            warnings = [*warnings, UNPIVOT_EMPTY_ROW]
        for key in keys:
            if key is not None:
                seen_keys[key] = record.line
        for row in rows:  # one record, several landed rows when a group is unpivoted; same ref
            writer.append(row, ref)
            if sink is not None:
                sink.add(dict(zip(columns, row, strict=True)), ref)
            _note_derived(tally, derived_names, tracked, row[len(declaration.fields) :])
        tally.landed += len(rows)
        for warning in warnings:  # counted once per record that lands (or lands nothing by design)
            tally.warnings[warning] = tally.warnings.get(warning, 0) + 1

    # A short record is held until the next data record shows it is not the file's last: only
    # the last may be short (by optional fields). One record at most is held, so this streams.
    held: tuple[_Record, list[str]] | None = None
    for record in records:
        values = record.values
        if values is not None and _is_blank(values):
            tally.blank_rows += 1
            continue
        tally.data_rows += 1
        tally.widest = max(tally.widest, len(values or ()))
        if held is not None:
            land_record(*held, [])  # not the last record: a field_count reject
            held = None
        if values is None:
            problem = _Problem("quoting", None, f"not valid CSV: {record.problem}")
            raw = {"_line": record.text.rstrip("\r\n")} if record.text is not None else {}
            _reject(batch, tally, declaration, f"{source.label}:{record.line}", problem, raw)
        elif len(values) < rules.width:
            held = (record, values)
        else:
            land_record(record, values, [])
    if held is not None:
        _land_last_short(*held, rules, tally, land_record)
    return tally


def _repeated_key(keys: list[bytes | None], seen: dict[bytes, int], line: int) -> int | None:
    """The line that landed a row with one of these keys first (a record's own members count)."""
    own: set[bytes] = set()
    for key in keys:
        if key is None:
            continue
        if key in seen:
            return seen[key]
        if key in own:
            return line
        own.add(key)
    return None


def _land_last_short(
    record: _Record,
    values: list[str],
    rules: _RowRules,
    tally: _Tally,
    land_record: Callable[[_Record, list[str], list[str]], None],
) -> None:
    """The file's last record has fewer fields than the header (some exporters drop the final
    empty cells and line break). Short only by optional fields, it lands with them null."""
    lacking = rules.short_of(len(values))
    if lacking:
        tally.short_last = (len(values), lacking)  # refused as truncated without a final line break
        land_record(record, values, [])  # otherwise a field_count reject, like any short record
        return
    land_record(record, values + [""] * (rules.width - len(values)), [SHORT_LAST_RECORD])


def _reject(
    batch: LandingBatch, tally: _Tally, declaration: FileDeclaration, ref: str, problem: _Problem, raw: dict[str, str]
) -> None:
    batch.reject(declaration.entity, ref, problem.rule, problem.field, problem.detail, raw)
    tally.rejected += 1
    tally.by_rule[problem.rule] = tally.by_rule.get(problem.rule, 0) + 1


def _raw(header: list[str], values: list[str]) -> dict[str, str]:
    # The raw row goes only into the reject's raw_record; extra cells keep their position.
    raw = {name or f"_column_{i + 1}": value for i, (name, value) in enumerate(zip(header, values, strict=False))}
    raw.update({f"_extra_{i + 1}": v for i, v in enumerate(values[len(header) :])})
    return raw


def _tracked_derived(declaration: FileDeclaration) -> set[str]:
    # Derived values (season, school_year) go into the batch details unless their source is personal.
    personal = {spec.name for spec in declaration.fields if spec.personal}
    return {name for rule in declaration.derive if personal.isdisjoint(rule.sources) for name in rule.fields}


def _note_derived(tally: _Tally, names: list[str], tracked: set[str], values: list[str | None]) -> None:
    for name, value in zip(names, values, strict=False):  # values run on into group columns
        if name in tracked and value is not None:
            kept = tally.derived.setdefault(name, set())
            if len(kept) < _DERIVED_VALUES_KEPT:
                kept.add(value)


def _check_complete(
    tally: _Tally, lines: _Lines, width: int, label: str, declaration: FileDeclaration, *, unknown_last: bool = False
) -> None:
    """File-level checks that need the whole file read: raising here discards the batch."""
    if tally.short_last is not None and not lines.ends_with_newline:
        count, lacking = tally.short_last
        raise VendorFileError(
            f"{label}: truncated file: the last record (line {lines.count}) has {count} of {width} fields "
            f"and no final line break (an incomplete download?); it lacks required fields {', '.join(lacking)}"
        )
    if unknown_last and 0 < tally.widest < width:
        # A header that lost its line break runs on into the first record, which no reject then
        # holds: refused whole (kept in the drop folder), so that row is not lost unrecorded.
        raise VendorFileError(
            f"{label}: every record has fewer fields than the header ({tally.widest} at most, the header {width}): "
            "the header probably runs on into the first record (a lost line break); the file is refused whole"
        )
    if tally.data_rows == 0:
        raise VendorFileError(
            f"{label}: header only, no data rows; expected at least one {declaration.name} record "
            "(an empty drop never replaces landed data)"
        )
    if declaration.mode == "snapshot" and tally.landed == 0:
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(tally.by_rule.items()))
        raise VendorFileError(
            f"{label}: none of the {tally.data_rows} rows passed the rules ({rules}); a snapshot with no rows "
            "would replace the current data, so the file is refused"
        )


def _entity_details(landed: EntityLanding, source: _Source, declaration: FileDeclaration, tally: _Tally) -> dict:
    return {
        "declaration": declaration.name,
        "member": source.member,
        "source": source.label,
        "header": landed.header,
        "layout": landed.layout,
        "unknown_columns": landed.unknown_columns,
        "missing_columns": landed.missing_columns,
        "nearest_columns": landed.nearest_columns,
        "mode": declaration.mode,
        "key": list(declaration.key),
        "encoding": landed.encoding,
        "delimiter": declaration.delimiter,
        "blank_rows": tally.blank_rows,
        "derived_values": {name: sorted(values) for name, values in sorted(tally.derived.items())},
        "warnings": landed.warnings,
    }
