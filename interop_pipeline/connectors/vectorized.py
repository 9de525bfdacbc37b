"""Vectorized landing of big delimited files (attendance, assessment results): the same rules as
the row-by-row engine in tabular.py, applied column-wise with pyarrow's compute kernels.

What lands is identical to the row-by-row engine's: the same rows with the same values in the
same order, the same rejects (rule, field, detail, raw record, ``_source_ref`` file:line), the
same counts, warnings and batch details. That engine stays the reference and is shared where
it decides anything:

- the header is read, planned and checked by tabular.py's own functions (``_read_header``,
  ``_plan_header``, ``_RowRules``), so header problems refuse the file with the same message;
- a value is normalised by the field's own rule (``_FieldRule.normalise``), once per distinct
  value of a column: a file repeats the same dates, codes and scores, so the Python work is per
  distinct value while the per-row work (splitting, trimming, looking values up, duplicates) is
  vectorized;
- derived fields are computed by the declaration's own derive rule, once per distinct source
  value;
- a rejected row's rule, field and detail come from ``_RowRules.apply`` on that row's values:
  rejects are few, and their details then read word for word as the reference's;
- the end-of-file checks (truncated last record, header run on into a record, no data rows, a
  snapshot with every row rejected) are tabular.py's ``_check_complete``.

How a line is read. The file is cut into physical lines exactly as Python's universal
newlines cut it (``\\n``, ``\\r``, ``\\r\\n``), each with its line number. A line without a double
quote is split on the delimiter; a line whose every value is quoted with no quote inside (the
way NWEA and many SIS exports write) is split between the quotes; any other line with quotes is
split on the delimiter and kept when every piece is either unquoted (does not start with a
quote) or one whole quoted value (``"..."`` with its inner quotes doubled). Each of these splits
is exactly what Python's strict csv reader reads. Any other line (a quoted delimiter, a stray
quote, a field longer than csv's limit) is read by Python's csv module on its own, which gives
the same values or the same ``quoting`` problem as the reference: a record that ends on its line
reads the same on its own.

Why the rules are not SQL. Each rule's outcome is a function of one stripped value (or, for a
derived field, of its sources' values), so evaluating the reference's own Python once per
distinct value and spreading the outcomes back over the rows with Arrow keeps the Python work
per distinct value, not per row, and cannot drift from the reference: strptime's formats,
Decimal's text, digits of other scripts, case folding and the reject details are the
reference's own code, not a second rendering of it in SQL. Repeated keys are found with Arrow
and numpy as well; nothing here needs a database connection.

Where the reference cannot be matched column-wise, the file falls back to the row-by-row engine
before anything is written (:class:`Fallback` says why):

- a record that spans lines (a quoted value holding a line break, or a stray quote that runs on
  over the next lines): how far it runs, and how a broken one is re-read line by line, depends
  on reading the lines one after another;
- text that is not UTF-8 (Windows-1252, UTF-16, or broken bytes): the reference decodes it, or
  retries it as Windows-1252, or refuses it, as it reads;
- NUL bytes (the reference refuses the file at the line that holds one);
- declarations with fixed-width layouts or column groups (members assembled per record);
- files larger than :data:`MAX_BYTES`, which the reference streams rather than holding in memory.

No value of a row is ever logged or put in a fallback reason.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from interop_pipeline.connectors.tabular import (
    SHORT_LAST_RECORD,
    TRAILING_EMPTY_FIELDS,
    EntityLanding,
    VendorFileError,
    _check_complete,
    _choose_encoding,
    _DeriveRule,
    _entity_landing,
    _FieldRule,
    _Lines,
    _plan_header,
    _Problem,
    _raw,
    _read_header,
    _RowRules,
    _Tally,
    _tracked_derived,
)

if TYPE_CHECKING:
    from interop_pipeline.connectors.landing import LandingBatch
    from interop_pipeline.connectors.tabular import FileDeclaration, RowSink, _Source

# Files (or zip members) from this size land vectorized when the engine is "auto"; smaller ones
# are cheap row by row too, and keep the reference engine in daily use.
MIN_BYTES = 1 << 20
# The vectorized path holds a file in memory as lines, values and landed columns (up to about
# six times its size at the peak for a wide file); beyond this the reference engine streams it.
MAX_BYTES = 512 << 20
_BLOCK_BYTES = 8 << 20  # pyarrow's read block: also the longest line it can read
# "Delimiters" that read each physical line whole: the first the file does not hold is used.
_LINE_SPLITS = ("\x01", "\x02", "\x03", "\x04", "\x05", "\x06", "\x07", "\x08", "\x0e", "\x0f", "\x7f")
# What Python's str.strip() removes (str.isspace over all of Unicode), for pyarrow's utf8_trim.
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_FEED_ROWS = 65_536  # rows turned into Python values at a time for a row sink
_THREADS = 2  # the landing step's share of the machine while other steps run beside it
_KEY_SEPARATOR, _KEY_NULL = "\x1f", "\x1e"  # as _RowRules.key_of joins a key


class Fallback(Exception):
    """This file lands with the row-by-row engine; ``reason`` says why (never a value)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def unsupported(declaration: FileDeclaration) -> str | None:
    """Why a declaration's files never land vectorized, or None."""
    if declaration.fixed_width is not None:
        return "fixed-width layout"
    if declaration.groups:
        return "column groups are assembled per record"
    if declaration.encoding not in ("auto", "utf-8", "utf-8-sig"):
        return f"declared encoding {declaration.encoding}"
    return None


# --------------------------------------------------------------------------------------------
# Reading lines and records
# --------------------------------------------------------------------------------------------


def _read_lines(content: Path | bytes) -> pa.StringArray:
    """Every physical line of the file (without its line break), in order: line i+1 is item i."""
    data = content.read_bytes() if isinstance(content, Path) else content
    if b"\r" not in data:
        return _lines_at_line_feeds(data)
    for split in _LINE_SPLITS:  # \r and \r\n break lines too: pyarrow's reader splits as Python does
        try:
            table = pacsv.read_csv(
                pa.BufferReader(data),
                read_options=pacsv.ReadOptions(column_names=["text"], block_size=_BLOCK_BYTES),
                parse_options=pacsv.ParseOptions(
                    delimiter=split,
                    quote_char=False,
                    escape_char=False,
                    double_quote=False,
                    newlines_in_values=False,
                    ignore_empty_lines=False,
                ),
                convert_options=pacsv.ConvertOptions(
                    column_types={"text": pa.string()}, strings_can_be_null=False, quoted_strings_can_be_null=False
                ),
            )
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc):
                raise _not_utf8() from None
            if "columns" in str(exc):
                continue  # the file holds this control character: split on another
            raise Fallback("a line longer than the line reader's block") from None
        return table.column("text").combine_chunks()
    raise Fallback("every control character the line reader can split on is in the file")


def _lines_at_line_feeds(data: bytes) -> pa.StringArray:
    """The lines of text whose only line break is \n, cut where the line feeds are."""
    if not data:
        return pa.array([], pa.string())
    if not data.endswith(b"\n"):
        data += b"\n"  # the last line, without its line break
    feeds = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    offsets = np.concatenate(([0], feeds + 1)).astype(np.int32 if len(data) < 2**31 else np.int64)
    kind = pa.binary() if offsets.dtype == np.int32 else pa.large_binary()
    with_feeds = pa.Array.from_buffers(kind, len(feeds), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    try:
        return pc.binary_slice(with_feeds, 0, -1).cast(pa.string() if kind == pa.binary() else pa.large_string())
    except pa.ArrowInvalid:
        raise _not_utf8() from None


def _not_utf8() -> Fallback:
    return Fallback("not UTF-8 text: the row-by-row engine decodes, retries or refuses it")


def _holds_nul(lines: pa.StringArray) -> bool:
    """Whether any line holds a NUL byte (the reference refuses such a file where it reads one)."""
    data = lines.buffers()[2]
    return data is not None and bool(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 0))


@dataclass
class _Records:
    """The records after the header, one per physical line (the fast path never sees a record
    spanning lines): their values (unquoted, not yet stripped) laid out flat, each line's slice
    of them, and the lines that are not valid CSV with csv's own message."""

    lines: np.ndarray  # int64 line numbers
    start: np.ndarray  # int64 offset of the line's first value in `flat`
    count: np.ndarray  # int64 number of values; -1 for a line that is not valid CSV
    blank: np.ndarray  # bool: every value is blank once stripped
    flat: pa.Array  # every value, unquoted, flat
    problems: dict[int, str] = field(default_factory=dict)  # line -> csv's message
    parsed: dict[int, list[str]] = field(default_factory=dict)  # lines csv read on their own -> values

    def stripped(self, rows: np.ndarray, position: int) -> pa.Array:
        """Value `position` of each of `rows` (which all have it), stripped as str.strip does."""
        return pc.utf8_trim(pc.take(self.flat, pa.array(self.start[rows] + position)), WHITESPACE)


def _split(text: pa.StringArray, first_line: int, delimiter: str) -> _Records:
    """Each line's values, as Python's strict csv reader reads a record that ends on its line.

    Lines come in four shapes, each split its cheapest exact way: no quote at all (split on the
    delimiter); quotes only around whole values that hold no quote or delimiter (drop the
    quotes, then split); every value quoted with no quote inside, some holding the delimiter
    (split between the quotes); any other (split, then each piece checked and unquoted). A line
    whose pieces are not all whole values is read by csv on its own."""
    rows = len(text)
    d = _regex_char(delimiter)
    shape = np.zeros(rows, dtype=np.int8)  # the index of its way in `ways` below
    quoted = np.flatnonzero(pc.match_substring(text, '"').to_numpy(zero_copy_only=False))
    if len(quoted):
        value = f'(?:"[^"{d}]*"|[^"{d}]*)'
        plain = _matches(_rows(text, quoted), f"^{value}(?:{d}{value})*$")
        shape[quoted] = np.where(plain, 1, 3)
        rest = quoted[~plain]
        if len(rest):
            shape[rest[_matches(_rows(text, rest), f'^"[^"]*"(?:{d}"[^"]*")*$')]] = 2
    ways = [
        lambda lines: pc.split_pattern(lines, delimiter),
        lambda lines: pc.split_pattern(pc.replace_substring(lines, '"', ""), delimiter),
        lambda lines: pc.split_pattern(pc.utf8_slice_codeunits(lines, 1, -1), f'"{delimiter}"'),
        lambda lines: _split_and_unquote(lines, delimiter),
    ]
    shapes = [(np.flatnonzero(shape == k), way) for k, way in enumerate(ways)]
    start = np.zeros(rows, dtype=np.int64)
    count = np.zeros(rows, dtype=np.int64)
    irregular = np.zeros(rows, dtype=bool)
    parts: list[pa.Array] = []
    base = 0
    for at, split in shapes:
        if not len(at):
            continue
        pieces = split(_rows(text, at))
        bad = None
        if isinstance(pieces, tuple):
            pieces, bad = pieces
        offsets = pieces.offsets.to_numpy().astype(np.int64)
        start[at] = base + offsets[:-1]
        count[at] = np.diff(offsets)
        if bad is not None:
            irregular[at] = _per_row(bad, offsets) > 0
        values = pieces.values.slice(offsets[0], offsets[-1] - offsets[0]) if len(offsets) else pieces.values
        start[at] -= offsets[0] if len(offsets) else 0
        parts.append(values)
        base += len(values)
    flat = pa.concat_arrays(parts) if parts else pa.array([], pa.string())
    irregular |= pc.greater(pc.binary_length(text), csv.field_size_limit()).to_numpy(zero_copy_only=False)
    # Blank: only blanks, delimiters and quotes on the line; then checked value by value.
    blank = pc.equal(pc.utf8_trim(text, WHITESPACE + delimiter + '"'), "").to_numpy(zero_copy_only=False)
    records = _Records(np.arange(first_line, first_line + rows, dtype=np.int64), start, count, blank, flat)
    for row in np.flatnonzero(blank & ~irregular).tolist():
        values = records.flat.slice(int(start[row]), int(count[row])).to_pylist()
        blank[row] = not any(value.strip() for value in values)
    if irregular.any():
        _read_on_their_own(records, text, np.flatnonzero(irregular), delimiter)
    return records


def _rows(array: pa.Array, at: np.ndarray) -> pa.Array:
    return array if len(at) == len(array) else pc.take(array, pa.array(at))


def _matches(lines: pa.Array, pattern: str) -> np.ndarray:
    return pc.match_substring_regex(lines, pattern).to_numpy(zero_copy_only=False)


def _regex_char(char: str) -> str:
    return "\\t" if char == "\t" else "\\" + char if char in "|" else char


def _split_and_unquote(lines: pa.Array, delimiter: str) -> tuple[pa.ListArray, np.ndarray]:
    """Lines split on the delimiter, each piece unquoted; and which pieces are not one whole
    value (a quoted piece must be "..." with its inner quotes doubled)."""
    pieces = pc.split_pattern(lines, delimiter)
    values = pieces.values
    quoted = pc.starts_with(values, '"')
    inner = pc.utf8_slice_codeunits(values, 1, -1)
    whole = pc.and_(
        pc.and_(pc.greater_equal(pc.binary_length(values), 2), pc.ends_with(values, '"')),
        pc.invert(pc.match_substring(pc.replace_substring(inner, '""', ""), '"')),
    )
    bad = pc.and_(quoted, pc.invert(whole)).to_numpy(zero_copy_only=False)
    unquoted = pc.if_else(quoted, pc.replace_substring(inner, '""', '"'), values)
    return pa.ListArray.from_arrays(pieces.offsets, unquoted), bad


def _per_row(flags: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """How many of each row's values are flagged (values laid out flat, rows by offsets)."""
    total = np.concatenate(([0], np.cumsum(flags, dtype=np.int64)))
    return total[offsets[1:]] - total[offsets[:-1]]


def _read_on_their_own(records: _Records, text: pa.StringArray, rows: np.ndarray, delimiter: str) -> None:
    """Lines the split cannot read exactly, read by Python's csv module one by one."""
    extra: list[str] = []
    base = len(records.flat)
    for row in rows.tolist():
        line = int(records.lines[row])
        try:
            values = next(csv.reader([text[row].as_py()], delimiter=delimiter, strict=True), [])
        except csv.Error as exc:
            if str(exc) == "unexpected end of data":
                # The line ends inside a quoted field: the record runs on over the next lines.
                raise Fallback(f"a quoted value runs on past line {line}") from None
            records.problems[line] = str(exc)
            records.count[row] = -1
            records.blank[row] = False
            continue
        records.parsed[line] = values
        records.start[row] = base + len(extra)
        records.count[row] = len(values)
        records.blank[row] = not any(value.strip() for value in values)
        extra += values
    if extra:
        records.flat = pa.concat_arrays([records.flat, pa.array(extra, pa.string())])


# --------------------------------------------------------------------------------------------
# Rules, column-wise
# --------------------------------------------------------------------------------------------


def _outcome(rule: _FieldRule, raw: str) -> tuple[str | None, bool, bool]:
    """(landed value, passes, null sentinel) of one stripped value, as _RowRules._fields decides."""
    if raw:
        if rule.as_is:
            return raw, True, False
    elif not rule.spec.not_null:
        return None, True, False
    value, problem = rule.normalise(raw)
    if problem is not None:
        return None, False, False
    return value, True, value is None and bool(raw) and rule.is_sentinel(raw)


def _by_distinct(column: pa.Array, decide: Callable[[object], tuple]) -> tuple[pa.Array, list[np.ndarray]]:
    """`decide` applied once per distinct value of `column`, spread back over its rows: the first
    item of each outcome as an Arrow column, the others as numpy arrays."""
    distinct = pc.unique(column)
    outcomes = [decide(value) for value in distinct.to_pylist()]
    at = pc.index_in(column, value_set=distinct)
    first = pc.take(pa.array([o[0] for o in outcomes], pa.string()), at)
    rest = [np.array([o[k] for o in outcomes], dtype=bool)[at.to_numpy(zero_copy_only=False)] for k in range(1, 3)]
    return first, rest


def _repeat(value: str | None, rows: int) -> pa.Array:
    return pa.array([value], pa.string()).take(pa.array(np.zeros(rows, dtype=np.int32)))


@dataclass
class _Columns:
    """The landed columns of the rows that reach the field rules, and what each row failed."""

    values: list[pa.Array]  # one per output column (fields, then derived fields)
    passes: np.ndarray  # bool: no field or derive problem
    sentinels: dict[str, np.ndarray]  # warning key -> rows that landed a null sentinel


def _apply_fields(rules: _RowRules, raws: Callable[[int], pa.Array], rows: int) -> _Columns:
    """Every field's landed column; fields are independent, so two threads share them (Arrow's
    kernels let go of the GIL)."""
    with ThreadPoolExecutor(max_workers=_THREADS) as pool:
        outcomes = list(pool.map(lambda rule: _field_column(rule, raws, rows), rules.fields))
    passes = np.ones(rows, dtype=bool)
    values: list[pa.Array] = []
    sentinels: dict[str, np.ndarray] = {}
    for rule, (column, ok, warn) in zip(rules.fields, outcomes, strict=True):
        values.append(column)
        passes &= ok
        if warn is not None:
            sentinels[rule.sentinel_warning] = warn
    for derive in rules.derives:
        derived, ok = _apply_derive(derive, values, rows)
        values += derived
        passes &= ok
    return _Columns(values, passes, sentinels)


def _field_column(
    rule: _FieldRule, raws: Callable[[int], pa.Array], rows: int
) -> tuple[pa.Array, np.ndarray | bool, np.ndarray | None]:
    """One field's landed values, which rows pass its rule, and which landed a null sentinel."""
    if rule.position is None:  # a constant, or a column the header lacks
        value, ok, warn = _outcome(rule, rule.fixed)
        return _repeat(value, rows), ok, np.ones(rows, dtype=bool) if warn else None
    column = raws(rule.position)
    if rule.as_is:  # a plain string: blank is null (and fails not_null)
        blank = pc.equal(column, "")
        landed = pc.if_else(blank, pa.scalar(None, pa.string()), column)
        return landed, ~blank.to_numpy(zero_copy_only=False) if rule.spec.not_null else True, None
    landed, (ok, warn) = _by_distinct(column, lambda raw: _outcome(rule, raw))
    return landed, ok, warn if warn.any() else None


def _apply_derive(derive: _DeriveRule, values: list[pa.Array], rows: int) -> tuple[list[pa.Array], np.ndarray]:
    """A derive rule's outputs, computed once per distinct combination of its sources' values."""
    sources = [values[i] for i in derive.sources_at]
    code = np.zeros(rows, dtype=np.int64)
    for source in sources:  # each combination of source values as one dense code
        distinct = pc.unique(source)
        at = pc.fill_null(pc.index_in(source, value_set=distinct), -1).to_numpy(zero_copy_only=False)
        _, code = np.unique(code * (len(distinct) + 1) + at + 1, return_inverse=True)
    combos, first_row = np.unique(code, return_index=True)
    width = max(derive.sources_at) + 1
    outputs: list[list[str | None]] = [[] for _ in derive.outputs]
    ok = np.ones(len(combos), dtype=bool)
    for k, row in enumerate(first_row.tolist()):
        fake: list[str | None] = [None] * width
        for i, source in zip(derive.sources_at, sources, strict=True):
            fake[i] = source[row].as_py()
        derived, problems = derive.apply(fake)
        ok[k] = not problems
        for out, value in zip(outputs, derived, strict=True):
            out.append(value)
    take = pa.array(code)
    return [pc.take(pa.array(out, pa.string()), take) for out in outputs], ok[code]


# --------------------------------------------------------------------------------------------
# One file
# --------------------------------------------------------------------------------------------


@dataclass
class _Landed:
    table: pa.Table  # landed rows, in line order
    lines: np.ndarray  # their line numbers
    rejects: list[tuple[int, _Problem, dict[str, str]]]  # (line, problem, raw record), any order


def land_source(
    batch: LandingBatch, source: _Source, forced: str | None, sink: RowSink | None, content: Path | None
) -> tuple[EntityLanding, dict]:
    """Land one declared file as tabular._land_source does, column-wise. `content` is the file on
    disk (None: a zip member, read into memory). Raises Fallback, having written nothing, where
    the row-by-row engine must land it instead."""
    declaration = source.declaration
    reason = unsupported(declaration)
    if reason is not None:
        raise Fallback(reason)
    if forced is not None:
        raise Fallback(f"read as {forced}")
    if source.size > MAX_BYTES:
        raise Fallback(f"larger than {MAX_BYTES >> 20} MiB: streamed row by row")
    with source.open() as raw:
        binary = raw if hasattr(raw, "peek") else io.BufferedReader(raw)
        encoding, may_retry = _choose_encoding(binary.peek(8)[:8], declaration.encoding, source.label, False)
        if encoding not in ("utf-8", "utf-8-sig"):
            raise Fallback(f"encoding {encoding}")
        text = io.TextIOWrapper(binary, encoding=encoding, newline="")
        lines = _Lines(text, source.label, encoding, may_retry)
        header, _ = _read_header(lines, declaration, source.label)
        header_lines = lines.count
        plan = _plan_header(declaration, header, source.label)
        rules = _RowRules(declaration, plan)
    if content is None:
        try:
            with source.open() as raw:
                data = raw.read()
        except VendorFileError:
            # A damaged member: the row-by-row engine refuses it at the point where it breaks.
            raise Fallback("a damaged zip member") from None
        body: Path | bytes = data
        ends_with_newline = data[-1:] in (b"\n", b"\r")
    else:
        body = content
        ends_with_newline = _last_byte(content) in (b"\n", b"\r")
    all_lines = _read_lines(body)
    if _holds_nul(all_lines):
        raise Fallback("NUL bytes")
    records = _split(all_lines[header_lines:], header_lines + 1, declaration.delimiter)
    tally = _Tally()
    landed = _land_records(records, all_lines, header_lines, rules, declaration, header, source.label, tally)
    complete = _Ending(count=len(all_lines), ends_with_newline=ends_with_newline)
    unknown_last = bool(header) and header[-1] in plan.unknown
    _check_complete(tally, complete, rules.width, source.label, declaration, unknown_last=unknown_last)  # type: ignore[arg-type]

    # Nothing was written so far: from here on the file lands.
    writer = batch.entity_writer(declaration.entity, declaration.output_columns)
    refs = pc.binary_join_element_wise(source.label, pc.cast(pa.array(landed.lines), pa.string()), ":")
    writer.extend_table(landed.table, refs)
    writer.close()
    for line, problem, raw_record in sorted(landed.rejects, key=lambda item: item[0]):  # counted already
        batch.reject(
            declaration.entity, f"{source.label}:{line}", problem.rule, problem.field, problem.detail, raw_record
        )
    if sink is not None:
        _feed(sink, landed.table, refs)
    return _entity_landing(declaration, source, header, plan, encoding, tally)


@dataclass
class _Ending:
    """What tabular._check_complete reads of the lines: how many, and the final line break."""

    count: int
    ends_with_newline: bool


def _last_byte(path: Path) -> bytes:
    with open(path, "rb") as handle:
        handle.seek(0, io.SEEK_END)
        if handle.tell() == 0:
            return b""
        handle.seek(-1, io.SEEK_END)
        return handle.read(1)


def _land_records(
    records: _Records,
    text: pa.StringArray,
    header_lines: int,
    rules: _RowRules,
    declaration: FileDeclaration,
    header: list[str],
    label: str,
    tally: _Tally,
) -> _Landed:
    """Which records land with which values, and the rejects, counted into `tally` as
    tabular._land_rows counts them."""
    width = rules.width
    data = ~records.blank  # every record but blank ones (those not valid CSV included)
    tally.blank_rows = int((~data).sum())
    tally.data_rows = int(data.sum())
    tally.widest = int(max(records.count[data].max(initial=0), 0))
    rejects: list[tuple[int, _Problem, dict[str, str]]] = []

    def values_of(row: int) -> list[str]:
        line = int(records.lines[row])
        if line in records.parsed:
            return records.parsed[line]
        return next(csv.reader([text[line - 1].as_py()], delimiter=declaration.delimiter, strict=True), [])

    def reject_row(row: int, values: list[str], warnings: list[str]) -> list[str | None] | None:
        """The reference's verdict on one record: its landed row, or None (rejected)."""
        rows, problems = rules.apply(values, warnings)
        if not problems:
            return rows[0]
        detail = "; ".join(p.detail for p in problems)
        first = problems[0]
        rejects.append((int(records.lines[row]), _Problem(first.rule, first.field, detail), _raw(header, values)))
        return None

    for row in np.flatnonzero(records.count < 0).tolist():  # not valid CSV
        line = int(records.lines[row])
        problem = _Problem("quoting", None, f"not valid CSV: {records.problems[line]}")
        rejects.append((line, problem, {"_line": text[line - 1].as_py()}))

    # The file's last record may be short by optional fields (see tabular._land_last_short).
    data_rows = np.flatnonzero(data)
    last = int(data_rows[-1]) if len(data_rows) else -1
    padded: tuple[int, list[str | None], list[str], list[str]] | None = None  # row, landed, warnings, raw
    if last >= 0 and 0 <= records.count[last] < width:
        values = values_of(last)
        lacking = rules.short_of(len(values))
        if lacking:
            tally.short_last = (len(values), lacking)
            reject_row(last, values, [])
        else:
            warnings = [SHORT_LAST_RECORD]
            values = values + [""] * (width - len(values))
            row = reject_row(last, values, warnings)
            if row is not None:
                padded = (last, row, warnings, values)

    short = (records.count >= 0) & (records.count < width)
    too_long = _filled_beyond(records, width)
    for row in np.flatnonzero(data & (short | too_long)).tolist():
        if row != last:
            reject_row(row, values_of(row), [])

    candidates = np.flatnonzero(data & (records.count >= width) & ~too_long)

    def raws(position: int) -> pa.Array:
        return records.stripped(candidates, position)

    columns = _apply_fields(rules, raws, len(candidates))
    for row in candidates[~columns.passes].tolist():
        if reject_row(row, values_of(row), []) is not None:
            raise Fallback(f"the column rules and the row rules disagree on line {int(records.lines[row])}")
    passing = np.flatnonzero(columns.passes)
    kept = [pc.take(column, pa.array(passing)) for column in columns.values]
    lines = records.lines[candidates[passing]]
    trailing = records.count[candidates[passing]] > width
    sentinels = {key: flags[passing] for key, flags in columns.sentinels.items()}

    duplicate = np.zeros(len(passing), dtype=bool)
    if rules.key_at:
        key_columns = [kept[i] for i in rules.key_at]
        first_line = _first_with_key(key_columns, lines)
        duplicate = first_line != lines
        detail = f"same key ({', '.join(rules.key_names)}) as line "
        for i in np.flatnonzero(duplicate).tolist():
            row = int(candidates[passing[i]])
            problem = _Problem("duplicate_row", None, detail + str(int(first_line[i])))
            rejects.append((int(lines[i]), problem, _raw(header, values_of(row))))
        if padded is not None:
            key = _KEY_SEPARATOR.join(_KEY_NULL if padded[1][i] is None else str(padded[1][i]) for i in rules.key_at)
            same = np.flatnonzero(pc.equal(_joined(key_columns), key).to_numpy(zero_copy_only=False) & ~duplicate)
            if len(same):
                problem = _Problem("duplicate_row", None, detail + str(int(lines[same[0]])))
                rejects.append((int(records.lines[padded[0]]), problem, _raw(header, padded[3])))
                padded = None

    landing = np.flatnonzero(~duplicate)
    table = pa.Table.from_arrays(
        [pc.take(column, pa.array(landing)) for column in kept], names=declaration.output_columns
    )
    landed_lines = lines[landing]
    tally.landed = len(landing)
    _count(tally, TRAILING_EMPTY_FIELDS, int(trailing[landing].sum()))
    for key, flags in sentinels.items():
        _count(tally, key, int(flags[landing].sum()))
    if padded is not None:
        row, landed_row, warnings, _ = padded
        last_row = pa.Table.from_pylist([dict(zip(table.column_names, landed_row, strict=True))], table.schema)
        table = pa.concat_tables([table, last_row])
        landed_lines = np.append(landed_lines, records.lines[row])
        tally.landed += 1
        for warning in warnings:
            _count(tally, warning, 1)
    _note_derived(tally, table, declaration)
    for _, problem, _ in rejects:
        tally.rejected += 1
        tally.by_rule[problem.rule] = tally.by_rule.get(problem.rule, 0) + 1
    return _Landed(table, landed_lines, rejects)


def _filled_beyond(records: _Records, width: int) -> np.ndarray:
    """Records with a value that is not blank beyond the header's width (a field_count reject;
    blank ones beyond it are spreadsheet padding)."""
    filled = np.zeros(len(records.count), dtype=bool)
    rows = np.flatnonzero(records.count > width)
    if len(rows):
        extra = records.count[rows] - width
        at = np.repeat(records.start[rows] + width, extra) + _ranges(extra)
        stripped = pc.utf8_trim(pc.take(records.flat, pa.array(at)), WHITESPACE)
        offsets = np.concatenate(([0], np.cumsum(extra)))
        filled[rows] = _per_row(pc.not_equal(stripped, "").to_numpy(zero_copy_only=False), offsets) > 0
    return filled


def _ranges(counts: np.ndarray) -> np.ndarray:
    """0..count-1 for each count, concatenated."""
    ends = np.cumsum(counts)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - counts, counts)


def _first_with_key(columns: list[pa.Array], lines: np.ndarray) -> np.ndarray:
    """For each row (in line order), the line of the first row with the same key values: its own
    line when it is the first. Keys compare as _RowRules.key_of compares them: joined by \\x1f,
    null as \\x1e."""
    rows = len(lines)
    code = np.zeros(rows, dtype=np.int64)
    span = 1
    for column in columns:  # each combination of values as one number: cheaper than hashing joined text
        encoded = column.dictionary_encode()
        if _joins_ambiguously(encoded.dictionary):
            codes, firsts = _first_rows(_joined(columns))
            return lines if len(firsts) == rows else lines[firsts[codes]]
        size = len(encoded.dictionary) + 1
        if span * size >= 2**62:
            code = np.unique(code, return_inverse=True)[1].astype(np.int64)
            span = int(code.max()) + 1 if rows else 1
        code = code * size + pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64) + 1
        span *= size
    distinct, firsts, inverse = np.unique(code, return_index=True, return_inverse=True)
    if len(distinct) == rows:
        return lines
    return lines[firsts[inverse]]


def _joins_ambiguously(values: pa.Array) -> bool:
    """Values that could make two different keys join into the same text (a separator inside a
    value, or a value that reads as null)."""
    separator = pc.any(pc.match_substring(values, _KEY_SEPARATOR)).as_py()
    return bool(separator) or bool(pc.any(pc.equal(values, _KEY_NULL)).as_py())


def _joined(columns: list[pa.Array]) -> pa.Array:
    """Each row's key as _RowRules.key_of joins it (before hashing): equal keys, equal text."""
    parts = [pc.fill_null(column, _KEY_NULL) for column in columns]
    return parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, _KEY_SEPARATOR)


def _first_rows(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Each row's code for its value (0, 1, ... in order of first appearance), and the row where
    each code first appears."""
    encoded = values.dictionary_encode()
    codes = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    # Arrow numbers distinct values as they first appear, so a row is a value's first exactly
    # where its code passes every code before it; checked, and sorted out otherwise.
    seen = np.maximum.accumulate(np.concatenate(([-1], codes[:-1]))) if len(codes) else codes
    firsts = np.flatnonzero(codes > seen)
    if len(codes) and (codes.min() < 0 or len(firsts) != codes.max() + 1):
        _, firsts = np.unique(codes, return_index=True)
        order = np.argsort(firsts, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        codes, firsts = rank[np.unique(codes, return_inverse=True)[1]], firsts[order]
    return codes, firsts


def _count(tally: _Tally, warning: str, count: int) -> None:
    if count:
        tally.warnings[warning] = tally.warnings.get(warning, 0) + count


def _note_derived(tally: _Tally, table: pa.Table, declaration: FileDeclaration) -> None:
    """The first distinct values of each tracked derived field, as tabular._note_derived keeps them."""
    from interop_pipeline.connectors.tabular import _DERIVED_VALUES_KEPT

    tracked = _tracked_derived(declaration)
    for rule in declaration.derive:
        for name in rule.fields:
            values = pc.drop_null(table.column(name).combine_chunks()) if name in tracked else None
            if values is not None and len(values):
                _, firsts = _first_rows(values)
                kept = pc.take(values, pa.array(firsts[:_DERIVED_VALUES_KEPT]))
                tally.derived[name] = set(kept.to_pylist())


def _feed(sink: RowSink, table: pa.Table, refs: pa.Array) -> None:
    """Every landed row to the sink, in line order, as the row-by-row engine hands it over."""
    names = table.column_names
    for start in range(0, table.num_rows, _FEED_ROWS):
        part = table.slice(start, _FEED_ROWS)
        columns = [part.column(name).to_pylist() for name in names]
        for values, ref in zip(
            zip(*columns, strict=True), refs[start : start + part.num_rows].to_pylist(), strict=True
        ):
            sink.add(dict(zip(names, values, strict=True)), ref)
