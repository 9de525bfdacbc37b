"""The identity step's inputs and outputs, without Dagster: person records read from the build
warehouse, and the run's crosswalks, review queue, quality figures and model landed as one batch
under landing/identity/, which dbt reads back.

Every landed value is a string (the landing zone's rule); the identity marts cast them. A
crosswalk batch holds every record ever seen, so a record that left its source keeps its last
link with `is_current` false, and `first_seen_at` carries over from run to run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from interop_pipeline.connectors.landing import LandingBatch, ensure_placeholders, read_batch_records
from interop_pipeline.identity.records import OPTIONAL_COLUMNS, RECORD_COLUMNS

if TYPE_CHECKING:
    from interop_pipeline.identity.resolve import Resolution

SOURCE_SYSTEM = "identity"
# resolve.EVIDENCE_LEVELS, spelled out so loading definitions does not import splink.
EVIDENCE_LEVELS = ("first_name", "last_name", "birth_date", "grade", "school", "email_norm")
PERSON_TYPES = {"students": "student_xwalk", "staff": "staff_xwalk"}  # person type → crosswalk entity
RECORD_MODELS = {"students": "int_person_records__students", "staff": "int_person_records__staff"}
XWALK_COLUMNS = [
    "source_system",
    "source_id",
    "person_key",
    "method",
    "score",
    "first_seen_at",
    "last_seen_at",
    "is_current",
]
QUALITY_COLUMNS = [
    "person_type",
    "source_system",
    "records",
    "linked",
    "queued",
    "unlinked",
    "linked_probabilistic",
    "precision",
    "recall",
    "twin_merges",
]
QUEUE_COLUMNS = [
    "person_type",
    "source_system",
    "source_id",
    "candidate_person_key",
    "candidate_rank",
    "match_probability",
    "match_weight",
    *(f"{level}_weight" for level in EVIDENCE_LEVELS),
    "reason",
]
ENTITY_COLUMNS: dict[str, list[str]] = {
    "student_xwalk": XWALK_COLUMNS,
    "staff_xwalk": XWALK_COLUMNS,
    "review_queue": QUEUE_COLUMNS,
    "match_quality": QUALITY_COLUMNS,
    "model_parameters": ["person_type", "model_json"],
}


def ensure_identity_placeholders(landing_root: Path) -> None:
    """Zero-row files so the identity marts build before the first identity run."""
    ensure_placeholders(landing_root, SOURCE_SYSTEM, ENTITY_COLUMNS)


def read_person_records(warehouse: Path) -> dict[str, pa.Table]:
    """Each person type's records from the build warehouse (opened read-only), with the optional
    columns (address, phone, guardian) both person-records models carry."""
    columns = ", ".join([*RECORD_COLUMNS, *OPTIONAL_COLUMNS])
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return {
            person_type: con.sql(f"select {columns} from main.{model}").to_arrow_table()
            for person_type, model in RECORD_MODELS.items()
        }


def person_records_digest(records: dict[str, pa.Table]) -> str:
    """An order-free digest of every person record: equal when the same records are read again,
    in whatever order the build wrote them."""
    parts = []
    with duckdb.connect() as con:
        for person_type, table in sorted(records.items()):
            con.register("person_records", table)
            count, total = con.execute(
                "select count(*), sum(hash(person_records)::hugeint) from person_records"
            ).fetchall()[0]
            parts.append(f"{person_type} {count} {total}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def last_resolution(landing_root: Path) -> tuple[str, str | None] | None:
    """The newest committed identity batch: its id and the digest of the person records it
    resolved (None when it was landed before digests were kept); None before the first run."""
    records = read_batch_records(landing_root, SOURCE_SYSTEM)
    if not records:
        return None
    newest = records[-1]
    details = newest["details"] if isinstance(newest["details"], dict) else json.loads(newest["details"] or "{}")
    return newest["batch_id"], details.get("records_digest")


QUALITY_COUNTS = ("records", "linked", "queued", "unlinked", "linked_probabilistic", "twin_merges")


def standing_outputs(landing_root: Path, batch_id: str) -> IdentityOutputs:
    """A committed identity batch read back as the outputs that landed it: the crosswalks and
    the review queue as landed (text), the quality rows with their counts and rates as numbers."""
    folder = Path(landing_root) / SOURCE_SYSTEM

    def rows(entity: str) -> list[dict]:
        return pq.read_table(folder / entity / f"{batch_id}.parquet", columns=ENTITY_COLUMNS[entity]).to_pylist()

    def numbers(row: dict) -> dict:
        counts = {k: int(row[k]) for k in QUALITY_COUNTS if row[k] is not None}
        rates = {k: float(row[k]) for k in ("precision", "recall") if row[k] is not None}
        return {**row, **counts, **rates}

    return IdentityOutputs(
        crosswalks={
            person_type: pq.read_table(folder / entity / f"{batch_id}.parquet", columns=XWALK_COLUMNS)
            for person_type, entity in PERSON_TYPES.items()
        },
        review_queue=rows("review_queue"),
        quality=[numbers(row) for row in rows("match_quality")],
        models={row["person_type"]: json.loads(row["model_json"]) for row in rows("model_parameters")},
    )


def previous_crosswalks(landing_root: Path) -> dict[str, pa.Table | None]:
    """Each crosswalk of the newest committed identity batch (None before the first run)."""
    records = read_batch_records(landing_root, SOURCE_SYSTEM)
    out: dict[str, pa.Table | None] = {person_type: None for person_type in PERSON_TYPES}
    if not records:
        return out
    newest = records[-1]["batch_id"]
    for person_type, entity in PERSON_TYPES.items():
        path = Path(landing_root) / SOURCE_SYSTEM / entity / f"{newest}.parquet"
        out[person_type] = pq.read_table(path, columns=XWALK_COLUMNS) if path.exists() else None
    return out


def with_history(crosswalk: pa.Table, previous: pa.Table | None, resolved_at: datetime) -> pa.Table:
    """This run's crosswalk with first and last seen, plus the records earlier runs saw and this
    one did not (kept with their last link, not current)."""
    con = duckdb.connect()
    con.register("current_run", crosswalk)
    con.register(
        "previous_run",
        previous if previous is not None else pa.table({c: pa.array([], pa.string()) for c in XWALK_COLUMNS}),
    )
    seen = resolved_at.astimezone(UTC).replace(tzinfo=None).isoformat()  # UTC, no zone, as the warehouse keeps times
    return con.sql(
        """
        select c.source_system, c.source_id, c.person_key, c.method, cast(c.score as varchar) as score,
            coalesce(p.first_seen_at, ?) as first_seen_at, ? as last_seen_at, 'true' as is_current
        from current_run c
        left join previous_run p using (source_system, source_id)
        union all
        select p.source_system, p.source_id, p.person_key, p.method, p.score, p.first_seen_at, p.last_seen_at,
            'false' as is_current
        from previous_run p
        where not exists (select 1 from current_run c
                          where c.source_system = p.source_system and c.source_id = p.source_id)
        order by source_system, source_id
        """,
        params=[seen, seen],
    ).to_arrow_table()


def truth_quality(crosswalk: pa.Table, truth_dir: Path, person_type: str = "students") -> pa.Table | None:
    """A person type's precision, recall and (students) twin merges against generator truth,
    where it exists (the demo and tests; a real district has none). Person keys are SIS
    sourcedIds; truth keys people by person_id, so keys are translated through the truth's SIS
    students or staff."""
    from interop_pipeline.identity.truth import score_against_truth

    people_path, system_path = truth_dir / f"{person_type}.parquet", truth_dir / f"system_{person_type}.parquet"
    if not (people_path.exists() and system_path.exists()):
        return None
    people = pq.read_table(people_path)
    con = duckdb.connect()
    con.register("x", crosswalk)
    con.register("t", people)
    translated = con.sql(
        """select x.source_system, x.source_id, t.person_id as person_key
           from x left join t on t.sourced_id = x.person_key"""
    ).to_arrow_table()
    return score_against_truth(translated, people, pq.read_table(system_path))


def quality_rows(person_type: str, resolution: Resolution, truth: pa.Table | None) -> list[dict]:
    scores = {row["source_system"]: row for row in truth.to_pylist()} if truth is not None else {}
    rows = []
    for row in resolution.quality.to_pylist():
        score = scores.get(row["source_system"], {})
        rows.append(
            {
                "person_type": person_type,
                **{k: row[k] for k in ("source_system", "records", "linked", "queued", "unlinked")},
                "linked_probabilistic": row["linked_probabilistic"],
                "precision": score.get("precision"),
                "recall": score.get("recall"),
                "twin_merges": score.get("twin_merges"),
            }
        )
    return rows


@dataclass
class IdentityOutputs:
    crosswalks: dict[str, pa.Table]  # person type → crosswalk with history (XWALK_COLUMNS)
    review_queue: list[dict]
    quality: list[dict]
    models: dict[str, dict]


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        return repr(round(value, 6))
    return str(value)


def _fingerprint(outputs: IdentityOutputs) -> str:
    digest = hashlib.sha256()
    for person_type in sorted(outputs.crosswalks):
        table = outputs.crosswalks[person_type].select(["source_system", "source_id", "person_key", "method"])
        for column in table.columns:
            digest.update("\x1f".join(_text(v) or "" for v in column.to_pylist()).encode())
    digest.update(json.dumps(outputs.quality, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def land_identity_batch(
    landing_root: Path, district_code: str, outputs: IdentityOutputs, resolved_at: datetime, records_digest: str
) -> str:
    """Write the run's outputs as one committed batch, with the digest of the person records it
    resolved; returns its batch id."""
    ensure_identity_placeholders(landing_root)
    with LandingBatch(
        landing_root,
        SOURCE_SYSTEM,
        district_code,
        _fingerprint(outputs),
        "identity resolution",
        resolved_at,
        details={"person_types": sorted(outputs.crosswalks), "records_digest": records_digest},
    ) as batch:
        for person_type, entity in PERSON_TYPES.items():
            writer = batch.entity_writer(entity, XWALK_COLUMNS)
            table = outputs.crosswalks[person_type]
            for i, row in enumerate(table.to_pylist()):
                writer.append([_text(row[c]) for c in XWALK_COLUMNS], f"{entity}:{i + 1}")
        for entity, rows in (("review_queue", outputs.review_queue), ("match_quality", outputs.quality)):
            writer = batch.entity_writer(entity, ENTITY_COLUMNS[entity])
            for i, row in enumerate(rows):
                writer.append([_text(row.get(c)) for c in ENTITY_COLUMNS[entity]], f"{entity}:{i + 1}")
        writer = batch.entity_writer("model_parameters", ENTITY_COLUMNS["model_parameters"])
        for person_type, model in outputs.models.items():
            writer.append([person_type, json.dumps(model, sort_keys=True)], f"model_parameters:{person_type}")
        return batch.commit()


def queue_rows(person_type: str, resolution: Resolution) -> list[dict]:
    return [{"person_type": person_type, **row} for row in resolution.review_queue.to_pylist()]


def sis_keys_claimed_twice(crosswalk: pa.Table) -> int:
    """Person keys held by more than one SIS record: two different SIS people merged."""
    sis = crosswalk.filter(pc.and_(pc.equal(crosswalk["source_system"], "sis"), pc.is_valid(crosswalk["person_key"])))
    if sis.num_rows == 0:
        return 0
    counts = sis.group_by("person_key").aggregate([("source_id", "count_distinct")])
    return int(pc.sum(pc.greater(counts["source_id_count_distinct"], 1)).as_py() or 0)
