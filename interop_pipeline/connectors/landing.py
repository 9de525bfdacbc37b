"""Landing zone writer: immutable, batch-per-file Parquet with lineage on every row.

Layout under ``landing_root``::

    <source_system>/<entity>/<batch_id>.parquet     landed rows (data columns as strings)
    <source_system>/_rejects/<batch_id>.parquet     rows that failed a rule, with the reason
    <source_system>/_batches/<batch_id>.parquet     one row per batch, written LAST
    <source_system>/_refusals/<refusal>.parquet     a delivery or walk that landed nothing, and why
    <source_system>/.tmp-<batch_id>/                work area while a batch is being written

A batch counts as landed only once its ``_batches`` record exists, so a crash at any point
before that leaves nothing a consumer will read. No Dagster imports: this is plain Python.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interop_pipeline.chaos import pause_point

LINEAGE_COLUMNS: tuple[str, ...] = (
    "_district_code",
    "_source_system",
    "_batch_id",
    "_extracted_at",
    "_source_ref",
)
REJECT_COLUMNS: tuple[str, ...] = ("entity", "rule", "field", "detail", "raw_record")
REJECTS_DIR = "_rejects"
BATCHES_DIR = "_batches"
REFUSALS_DIR = "_refusals"
BOOKKEEPING_DIRS = (BATCHES_DIR, REJECTS_DIR, REFUSALS_DIR)  # every system has each
FLUSH_ROWS = 10_000
_CHUNK_BYTES = 1024 * 1024

# Names become path components; keep them boring so nothing can escape the landing root and
# nothing collides with the reserved _rejects/_batches/.tmp-* folders.
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")

_TIMESTAMP = pa.timestamp("us", tz="UTC")
_LINEAGE_FIELDS = [
    pa.field("_district_code", pa.string()),
    pa.field("_source_system", pa.string()),
    pa.field("_batch_id", pa.string()),
    pa.field("_extracted_at", _TIMESTAMP),
    pa.field("_source_ref", pa.string()),
]
_BATCH_SCHEMA = pa.schema(
    [
        pa.field("batch_id", pa.string()),
        pa.field("district_code", pa.string()),
        pa.field("source_system", pa.string()),
        pa.field("fingerprint_sha256", pa.string()),
        pa.field("source_name", pa.string()),
        pa.field("extracted_at", _TIMESTAMP),
        pa.field("rows_landed", pa.string()),
        pa.field("rows_rejected", pa.int64()),
        # Connector-specific facts about the batch as JSON: header seen, layout, bulk/delta…
        pa.field("details", pa.string()),
    ]
)
# A whole delivery (file) or API walk that landed nothing. Kept beside the batches so the
# warehouse can say which source is quarantined and why; a refusal never holds a data value.
_REFUSAL_SCHEMA = pa.schema(
    [
        pa.field("district_code", pa.string()),
        pa.field("source_system", pa.string()),
        pa.field("kind", pa.string()),  # 'file' or 'walk'
        pa.field("entity", pa.string()),  # the API entity walked; null for a file
        pa.field("subject", pa.string()),  # file name, or endpoint
        pa.field("fingerprint_sha256", pa.string()),  # the file's content; null for a walk
        pa.field("reason", pa.string()),
        pa.field("refused_at", _TIMESTAMP),
    ]
)


def sha256_file(path: Path | str) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks so large drops never sit in memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _as_utc(moment: datetime) -> datetime:
    # A naive datetime would be read as local time by some tools and UTC by others; refuse it.
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("extracted_at must be timezone-aware (UTC)")
    return moment.astimezone(UTC)


def batch_id_for(fingerprint_sha256: str, extracted_at: datetime) -> str:
    """Batch id that sorts by extraction time and names the content.

    Example: ``20250818T061500.250000Z-3f2a9c0d1b7e`` (UTC time to the microsecond, so two
    walks of one entity in the same second still sort in order; then 12 hex digits of the SHA-256).
    """
    return f"{_as_utc(extracted_at):%Y%m%dT%H%M%S.%fZ}-{fingerprint_sha256[:12]}"


def find_landed_batch(landing_root: Path | str, source_system: str, fingerprint: str) -> str | None:
    """Batch id of an earlier committed batch of this exact content, or None.

    Batch ids embed the first 12 hex digits of the fingerprint, so only matching file names are
    opened; the full SHA-256 in the record is then compared to rule out a prefix collision.
    """
    batches_dir = Path(landing_root) / source_system / BATCHES_DIR
    if not batches_dir.is_dir():
        return None
    for path in sorted(batches_dir.glob(f"*-{fingerprint[:12]}.parquet")):
        table = pq.read_table(path, columns=["batch_id", "fingerprint_sha256"])
        for batch_id, sha in zip(
            table.column("batch_id").to_pylist(), table.column("fingerprint_sha256").to_pylist(), strict=True
        ):
            if sha == fingerprint:
                return str(batch_id)
    return None


def read_batch_records(landing_root: Path | str, source_system: str) -> list[dict]:
    """Every committed batch record of a source system, oldest first (by extraction time)."""
    batches_dir = Path(landing_root) / source_system / BATCHES_DIR
    if not batches_dir.is_dir():
        return []
    records = [row for path in batches_dir.glob("*.parquet") for row in pq.read_table(path).to_pylist()]
    for record in records:
        record["rows_landed"] = json.loads(record["rows_landed"] or "{}")
        record["details"] = json.loads(record.get("details") or "{}")
    return sorted(records, key=lambda r: (r["extracted_at"], r["batch_id"]))


def pending_files(folder: Path, pattern: str, landing_root: Path | str, source_system: str) -> list[Path]:
    """Files in a drop folder whose content has not been landed yet, in delivery order
    (modification time, then name). Files still being written (*.partial) are skipped."""
    if not folder.is_dir():
        return []
    files = [p for p in folder.glob(pattern) if p.is_file() and not p.name.endswith(".partial")]
    files.sort(key=lambda p: (p.stat().st_mtime, p.name))
    return [p for p in files if find_landed_batch(landing_root, source_system, sha256_file(p)) is None]


def record_refusal(
    landing_root: Path | str,
    source_system: str,
    *,
    district_code: str,
    kind: str,
    subject: str,
    reason: str,
    fingerprint: str | None = None,
    entity: str | None = None,
    refused_at: datetime | None = None,
) -> Path:
    """Record that a delivered file (kind 'file') or an API walk (kind 'walk') landed nothing.

    A file is recorded once per content, when it was first refused (its fingerprint names the
    record; the same file refused again on later runs changes nothing, so a corrected file
    landed after it ends the quarantine); each failed walk is a record of its own. Written
    atomically: the record is complete or absent.
    """
    moment = _as_utc(refused_at or datetime.now(UTC))
    folder = Path(landing_root) / source_system / REFUSALS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    if fingerprint:
        name = f"file-{fingerprint[:32]}.parquet"
    else:
        _check_name("entity", entity or "walk")
        name = f"walk-{entity or 'all'}-{moment.strftime('%Y%m%dT%H%M%S%fZ')}.parquet"
    row = {
        "district_code": district_code,
        "source_system": source_system,
        "kind": kind,
        "entity": entity,
        "subject": subject,
        "fingerprint_sha256": fingerprint,
        "reason": reason,
        "refused_at": moment,
    }
    path = folder / name
    if path.exists():
        return path
    staged = folder / f".{name}.partial"
    pq.write_table(pa.Table.from_pylist([row], schema=_REFUSAL_SCHEMA), staged)
    os.replace(staged, path)
    return path


def read_refusals(landing_root: Path | str, source_system: str) -> list[dict]:
    """Every refusal recorded for a source system, oldest first."""
    folder = Path(landing_root) / source_system / REFUSALS_DIR
    rows = (
        [row for path in folder.glob("*.parquet") for row in pq.read_table(path).to_pylist()] if folder.is_dir() else []
    )
    return sorted(rows, key=lambda r: r["refused_at"])


PLACEHOLDER_NAME = "_empty.parquet"


def ensure_placeholders(landing_root: Path | str, source_system: str, entities: dict[str, list[str]]) -> None:
    """Give each entity folder, and the _rejects and _batches folders, a zero-row Parquet file
    with the landed schema, so the warehouse builds (with empty tables) before a source's first
    delivery instead of failing on a folder with nothing to read. Zero rows change no result.
    A placeholder of an older schema (a declaration that gained a field) is written again, so the
    new column exists even before a delivery carries it."""
    system_dir = Path(landing_root) / source_system
    schemas = {
        entity: pa.schema([*(pa.field(c, pa.string()) for c in columns), *_LINEAGE_FIELDS])
        for entity, columns in entities.items()
    }
    schemas[REJECTS_DIR] = pa.schema([*(pa.field(c, pa.string()) for c in REJECT_COLUMNS), *_LINEAGE_FIELDS])
    schemas[BATCHES_DIR] = _BATCH_SCHEMA
    schemas[REFUSALS_DIR] = _REFUSAL_SCHEMA
    for folder, schema in schemas.items():
        path = system_dir / folder / PLACEHOLDER_NAME
        if path.exists() and pq.read_schema(path).remove_metadata().equals(schema):
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        work = path.with_name(f".{path.name}.partial")
        pq.write_table(schema.empty_table(), work)
        work.replace(path)


@dataclass(frozen=True)
class _Lineage:
    district_code: str
    source_system: str
    batch_id: str
    extracted_at: datetime


class _ParquetStream:
    """Buffers rows and writes them as row groups so a file is never held whole in memory."""

    def __init__(
        self, path: Path, data_fields: list[pa.Field], lineage: _Lineage, flush_rows: int, blank_is_null: bool = False
    ):
        self.path = path
        self._blank_is_null = blank_is_null  # land empty strings as null (done per column at flush)
        self.schema = pa.schema([*data_fields, *_LINEAGE_FIELDS])
        self._data_fields = data_fields
        self._lineage = lineage
        self._flush_rows = flush_rows
        self._rows: list[list[object] | tuple[object, ...]] = []
        self._refs: list[str] = []
        self._writer: pq.ParquetWriter | None = None
        self.closed = False

    def add(self, values: list[object] | tuple[object, ...], source_ref: str) -> None:
        if self.closed:
            raise RuntimeError(f"{self.path.name} is already closed")
        self._rows.append(values)
        self._refs.append(source_ref)
        if len(self._rows) >= self._flush_rows:
            self.flush()

    def extend(self, rows: list[tuple[object, ...]], source_ref: str) -> None:
        """Several rows of one source record (each like add's values)."""
        if self.closed:
            raise RuntimeError(f"{self.path.name} is already closed")
        self._rows += rows
        self._refs += [source_ref] * len(rows)
        if len(self._rows) >= self._flush_rows:
            self.flush()

    def flush(self) -> None:
        if not self._rows:
            return
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema)
        self._writer.write_table(self._build_table())
        self._rows, self._refs = [], []

    def close(self) -> None:
        if self.closed:
            return
        self.flush()
        if self._writer is None:
            # No rows at all: still write the full schema, because dbt globs every entity folder
            # and every declared entity must have a file per batch.
            pq.write_table(self.schema.empty_table(), self.path)
        else:
            self._writer.close()
        self.closed = True

    def write_arrow(self, data: pa.Table, source_refs: pa.Array | pa.ChunkedArray) -> None:
        """Many rows at once, as columns (in the stream's data column order, same types), each
        with its source ref; written as add would write them, after the rows it holds."""
        if self.closed:
            raise RuntimeError(f"{self.path.name} is already closed")
        self.flush()
        for start in range(0, data.num_rows, self._flush_rows):
            part = data.slice(start, self._flush_rows)
            arrays = [part.column(i).combine_chunks() for i in range(part.num_columns)]
            if self._blank_is_null:
                arrays = [_blank_as_null(array) for array in arrays]
            lin = self._lineage
            constants = (lin.district_code, lin.source_system, lin.batch_id, lin.extracted_at)
            repeat = pa.array([0] * part.num_rows, pa.int32())
            arrays += [pa.array([v], f.type).take(repeat) for v, f in zip(constants, _LINEAGE_FIELDS, strict=False)]
            arrays.append(pa.chunked_array([source_refs.slice(start, part.num_rows)]).combine_chunks())
            if self._writer is None:
                self._writer = pq.ParquetWriter(self.path, self.schema)
            self._writer.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._rows, self._refs = [], []
        self.closed = True

    def _build_table(self) -> pa.Table:
        n = len(self._rows)
        columns = list(zip(*self._rows, strict=True))
        arrays = [pa.array(col, type=f.type) for col, f in zip(columns, self._data_fields, strict=True)]
        if self._blank_is_null:
            arrays = [
                pc.if_else(pc.equal(array, ""), pa.scalar(None, array.type), array) if "" in col else array
                for array, col in zip(arrays, columns, strict=True)
            ]
        lin = self._lineage
        constants = (lin.district_code, lin.source_system, lin.batch_id, lin.extracted_at)
        repeat = pa.array([0] * n, pa.int32())  # one value per column, repeated by take (in C)
        arrays += [pa.array([value], f.type).take(repeat) for value, f in zip(constants, _LINEAGE_FIELDS, strict=False)]
        arrays.append(pa.array(self._refs, pa.string()))
        return pa.Table.from_arrays(arrays, schema=self.schema)


def _blank_as_null(array: pa.Array) -> pa.Array:
    blank = pc.equal(array, "")
    if not pc.any(blank).as_py():
        return array
    return pc.if_else(blank, pa.scalar(None, array.type), array)


class EntityWriter:
    """Streams one entity's rows of one batch into a Parquet file (all data columns strings)."""

    def __init__(self, entity: str, columns: list[str], stream: _ParquetStream):
        self.entity = entity
        self.columns = list(columns)
        self._stream = stream
        self.rows = 0

    def append(self, values: list[str | None], source_ref: str) -> None:
        if len(values) != len(self.columns):
            raise ValueError(f"{self.entity}: expected {len(self.columns)} values, got {len(values)} ({source_ref})")
        # Empty string and missing are the same thing in CSV; land both as null (the stream
        # nulls the empty strings column by column when it writes them).
        self._stream.add(tuple(values), source_ref)
        self.rows += 1

    def extend(self, rows: list[list[str | None]], source_ref: str) -> None:
        """Several rows of one source record, as append would land them one by one."""
        width = len(self.columns)
        for values in rows:
            if len(values) != width:
                raise ValueError(f"{self.entity}: expected {width} values, got {len(values)} ({source_ref})")
        self._stream.extend([tuple(values) for values in rows], source_ref)
        self.rows += len(rows)

    def extend_table(self, table: pa.Table, source_refs: pa.Array | pa.ChunkedArray) -> None:
        """Many rows at once (the columns in this writer's order, as strings), each with its
        source ref: what appending them one by one would land."""
        if table.column_names != self.columns:
            raise ValueError(f"{self.entity}: expected columns {self.columns}, got {table.column_names}")
        self._stream.write_arrow(table, source_refs)
        self.rows += table.num_rows

    def close(self) -> None:
        self._stream.close()


@dataclass
class BatchCounts:
    """Rows landed and rejected per entity, and rejects per rule (for asset metadata)."""

    rows_landed: dict[str, int] = dc_field(default_factory=dict)
    rows_rejected: dict[str, int] = dc_field(default_factory=dict)
    rejects_by_rule: dict[str, int] = dc_field(default_factory=dict)

    @property
    def total_rejected(self) -> int:
        return sum(self.rows_rejected.values())


class LandingBatch:
    """One immutable batch of one source system, written atomically.

    Use as a context manager and call :meth:`commit` inside the block. Leaving the block by an
    exception, or without committing, removes the work directory and lands nothing.
    """

    def __init__(
        self,
        landing_root: Path | str,
        source_system: str,
        district_code: str,
        fingerprint: str,
        source_name: str,
        extracted_at: datetime,
        *,
        flush_rows: int = FLUSH_ROWS,
        details: dict | None = None,
    ):
        _check_name("source_system", source_system)
        if not fingerprint:
            raise ValueError("fingerprint must not be empty")
        self.landing_root = Path(landing_root)
        self.source_system = source_system
        self.district_code = district_code
        self.fingerprint = fingerprint
        self.details = dict(details or {})
        self.source_name = source_name
        self.extracted_at = _as_utc(extracted_at)
        self.batch_id = batch_id_for(fingerprint, self.extracted_at)
        self.system_dir = self.landing_root / source_system
        self.tmp_dir = self.system_dir / f".tmp-{self.batch_id}"
        self._flush_rows = flush_rows
        self._lineage = _Lineage(district_code, source_system, self.batch_id, self.extracted_at)
        self._writers: dict[str, EntityWriter] = {}
        self._rejects: _ParquetStream | None = None
        self._counts = BatchCounts()
        self._state = "new"  # new -> open -> committed | discarded

    # -- context manager -------------------------------------------------------------------
    def __enter__(self) -> LandingBatch:
        if self._state != "new":
            raise RuntimeError("a LandingBatch can be entered only once")
        # A leftover work dir of this very batch id is from a crashed attempt; start clean.
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self.tmp_dir.mkdir(parents=True)
        self._state = "open"
        self._rejects = _ParquetStream(
            self.tmp_dir / f"{REJECTS_DIR}.parquet",
            [pa.field(name, pa.string()) for name in REJECT_COLUMNS],
            self._lineage,
            self._flush_rows,
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._state != "committed":
            self._discard()

    # -- writing ---------------------------------------------------------------------------
    def entity_writer(self, entity: str, columns: list[str]) -> EntityWriter:
        self._require_open()
        # "_"-prefixed entities are the conformed tables (conformance.py), never a declared name
        # and never the batch's own bookkeeping.
        if entity in (BATCHES_DIR, REJECTS_DIR, REFUSALS_DIR):
            raise ValueError(f"entity {entity!r} is a bookkeeping folder")
        _check_name("entity", entity.removeprefix("_"))
        if entity in self._writers:
            raise ValueError(f"entity {entity!r} already has a writer in batch {self.batch_id}")
        _check_columns(entity, columns)
        stream = _ParquetStream(
            self.tmp_dir / f"{entity}.parquet",
            [pa.field(name, pa.string()) for name in columns],
            self._lineage,
            self._flush_rows,
            blank_is_null=True,
        )
        writer = EntityWriter(entity, columns, stream)
        self._writers[entity] = writer
        self._counts.rows_rejected.setdefault(entity, 0)
        return writer

    def reject(
        self,
        entity: str,
        source_ref: str,
        rule: str,
        field: str | None,
        detail: str,
        raw: dict[str, str],
    ) -> None:
        """Record a row that failed a rule. ``detail`` must not carry personal values; the raw
        row goes only into ``raw_record``."""
        self._require_open()
        assert self._rejects is not None
        raw_json = json.dumps(raw, ensure_ascii=False)
        self._rejects.add([entity, rule, field, detail, raw_json], source_ref)
        self._counts.rows_rejected[entity] = self._counts.rows_rejected.get(entity, 0) + 1
        self._counts.rejects_by_rule[rule] = self._counts.rejects_by_rule.get(rule, 0) + 1

    @property
    def counts(self) -> BatchCounts:
        landed = {name: w.rows for name, w in self._writers.items()}
        return BatchCounts(
            rows_landed=landed,
            rows_rejected=dict(self._counts.rows_rejected),
            rejects_by_rule=dict(self._counts.rejects_by_rule),
        )

    # -- commit ----------------------------------------------------------------------------
    def commit(self) -> str:
        """Move every file into place, then write the batch record last. Returns the batch id."""
        self._require_open()
        assert self._rejects is not None
        for writer in self._writers.values():
            writer.close()
        self._rejects.close()
        record_tmp = self.tmp_dir / f"{BATCHES_DIR}.parquet"
        pq.write_table(self._batch_record(), record_tmp)
        pause_point("landing")

        moves = [(self.tmp_dir / f"{entity}.parquet", self.system_dir / entity) for entity in self._writers]
        moves.append((self._rejects.path, self.system_dir / REJECTS_DIR))
        moved: list[Path] = []
        try:
            for src, dest_dir in moves:
                moved.append(_move_into(src, dest_dir, self.batch_id))
            # The batch record is the commit point: consumers ignore batches without one.
            _move_into(record_tmp, self.system_dir / BATCHES_DIR, self.batch_id)
        except BaseException:
            for path in moved:
                path.unlink(missing_ok=True)
            raise
        self._state = "committed"
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        return self.batch_id

    def _batch_record(self) -> pa.Table:
        counts = self.counts
        row = {
            "batch_id": self.batch_id,
            "district_code": self.district_code,
            "source_system": self.source_system,
            "fingerprint_sha256": self.fingerprint,
            "source_name": self.source_name,
            "extracted_at": self.extracted_at,
            "rows_landed": json.dumps(counts.rows_landed),
            "rows_rejected": counts.total_rejected,
            "details": json.dumps(self.details, sort_keys=True),
        }
        return pa.Table.from_pylist([row], schema=_BATCH_SCHEMA)

    def _discard(self) -> None:
        for writer in self._writers.values():
            writer._stream.abort()
        if self._rejects is not None:
            self._rejects.abort()
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        self._state = "discarded"

    def _require_open(self) -> None:
        if self._state != "open":
            raise RuntimeError(f"LandingBatch {self.batch_id} is {self._state}, not open")


def retire_batch(landing_root: Path | str, source_system: str, batch_id: str) -> None:
    """Remove a committed batch whose rows a newer batch holds too (an API walk that brought
    nothing new): its batch record first, so consumers stop counting it before its files go."""
    system_dir = Path(landing_root) / source_system
    (system_dir / BATCHES_DIR / f"{batch_id}.parquet").unlink(missing_ok=True)
    for path in system_dir.glob(f"*/{batch_id}.parquet"):
        path.unlink()


def _move_into(src: Path, dest_dir: Path, batch_id: str) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{batch_id}.parquet"
    os.replace(src, dest)  # same filesystem (work dir sits beside it), so this is atomic
    return dest


def _check_name(kind: str, name: str) -> None:
    if not _SAFE_NAME.fullmatch(name):
        raise ValueError(f"{kind} {name!r} must match {_SAFE_NAME.pattern}")


def _check_columns(entity: str, columns: list[str]) -> None:
    if not columns:
        raise ValueError(f"entity {entity!r} needs at least one column")
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise ValueError(f"entity {entity!r}: duplicate column {name!r}")
        if name in LINEAGE_COLUMNS:
            raise ValueError(f"entity {entity!r}: column {name!r} is reserved for lineage")
        seen.add(name)
