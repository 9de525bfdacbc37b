"""Landing zone writer: layout, lineage, atomic commit, idempotency lookup."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from interop_pipeline.connectors.landing import (
    LandingBatch,
    batch_id_for,
    find_landed_batch,
    sha256_file,
)

AT = datetime(2025, 8, 18, 6, 15, 30, tzinfo=UTC)
SHA = "ab" * 32
LINEAGE = ["_district_code", "_source_system", "_batch_id", "_extracted_at", "_source_ref"]


def _batch(root: Path, fingerprint: str = SHA, **kwargs) -> LandingBatch:
    return LandingBatch(root, "sis", "D001", fingerprint, "drop.zip", AT, **kwargs)


def _all_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_batch_id_sorts_by_time_and_names_content() -> None:
    assert batch_id_for(SHA, AT) == "20250818T061530.000000Z-abababababab"
    later = batch_id_for("00" * 32, AT + timedelta(seconds=1))
    assert later > batch_id_for(SHA, AT)
    # An aware non-UTC time is converted, so ids stay comparable.
    eastern = AT.astimezone(timezone(timedelta(hours=-4)))
    assert batch_id_for(SHA, eastern) == "20250818T061530.000000Z-abababababab"


def test_naive_extracted_at_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        batch_id_for(SHA, datetime(2025, 8, 18))
    with pytest.raises(ValueError, match="timezone-aware"):
        LandingBatch(tmp_path, "sis", "D001", SHA, "x.zip", datetime(2025, 8, 18))


def test_sha256_file_streams_large_files(tmp_path: Path) -> None:
    data = bytes(range(256)) * 9000  # > 2 MiB, so several chunks
    path = tmp_path / "big.bin"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_commit_lands_entities_rejects_and_batch_record(tmp_path: Path) -> None:
    with _batch(tmp_path) as batch:
        users = batch.entity_writer("users", ["sourcedId", "givenName"])
        users.append(["u1", "Ava"], "drop.zip!users.csv:2")
        users.append(["u2", ""], "drop.zip!users.csv:3")
        batch.entity_writer("roles", ["sourcedId", "role"])  # no rows
        batch.reject(
            "users",
            "drop.zip!users.csv:4",
            "required",
            "givenName",
            "givenName is blank",
            {"sourcedId": "u3", "givenName": ""},
        )
        assert batch.counts.rows_landed == {"users": 2, "roles": 0}
        batch.commit()
    bid = batch.batch_id
    assert _all_files(tmp_path) == sorted(
        [
            f"sis/_batches/{bid}.parquet",
            f"sis/_rejects/{bid}.parquet",
            f"sis/roles/{bid}.parquet",
            f"sis/users/{bid}.parquet",
        ]
    )

    users = pq.read_table(tmp_path / "sis" / "users" / f"{bid}.parquet")
    assert users.column_names == ["sourcedId", "givenName", *LINEAGE]
    assert users.schema.field("givenName").type == pa.string()
    assert users.schema.field("_extracted_at").type == pa.timestamp("us", tz="UTC")
    rows = users.to_pylist()
    assert rows[0]["givenName"] == "Ava"
    assert rows[1]["givenName"] is None  # empty string lands as null
    assert rows[1]["_source_ref"] == "drop.zip!users.csv:3"
    assert {r["_district_code"] for r in rows} == {"D001"}
    assert {r["_source_system"] for r in rows} == {"sis"}
    assert {r["_batch_id"] for r in rows} == {bid}
    assert rows[0]["_extracted_at"] == AT

    roles = pq.read_table(tmp_path / "sis" / "roles" / f"{bid}.parquet")
    assert roles.num_rows == 0
    assert roles.column_names == ["sourcedId", "role", *LINEAGE]

    rejects = pq.read_table(tmp_path / "sis" / "_rejects" / f"{bid}.parquet").to_pylist()
    assert len(rejects) == 1
    assert rejects[0]["rule"] == "required" and rejects[0]["field"] == "givenName"
    assert json.loads(rejects[0]["raw_record"]) == {"sourcedId": "u3", "givenName": ""}
    assert rejects[0]["_source_ref"] == "drop.zip!users.csv:4"

    record = pq.read_table(tmp_path / "sis" / "_batches" / f"{bid}.parquet").to_pylist()
    assert record == [
        {
            "batch_id": bid,
            "district_code": "D001",
            "source_system": "sis",
            "fingerprint_sha256": SHA,
            "source_name": "drop.zip",
            "extracted_at": AT,
            "rows_landed": json.dumps({"users": 2, "roles": 0}),
            "rows_rejected": 1,
            "details": "{}",
        }
    ]
    assert batch.counts.rows_rejected == {"users": 1, "roles": 0}
    assert batch.counts.rejects_by_rule == {"required": 1}


def test_rejects_file_exists_with_schema_when_empty(tmp_path: Path) -> None:
    with _batch(tmp_path) as batch:
        batch.entity_writer("orgs", ["sourcedId"]).append(["o1"], "x:2")
        batch.commit()
    rejects = pq.read_table(tmp_path / "sis" / "_rejects" / f"{batch.batch_id}.parquet")
    assert rejects.num_rows == 0
    assert rejects.column_names == ["entity", "rule", "field", "detail", "raw_record", *LINEAGE]


def test_rows_are_flushed_in_row_groups(tmp_path: Path) -> None:
    with _batch(tmp_path, flush_rows=2) as batch:
        writer = batch.entity_writer("orgs", ["sourcedId"])
        for i in range(5):
            writer.append([f"o{i}"], f"x:{i + 2}")
        batch.commit()
    meta = pq.ParquetFile(tmp_path / "sis" / "orgs" / f"{batch.batch_id}.parquet").metadata
    assert meta.num_rows == 5
    assert meta.num_row_groups == 3


def test_exception_inside_block_lands_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with _batch(tmp_path, flush_rows=1) as batch:
            batch.entity_writer("orgs", ["sourcedId"]).append(["o1"], "x:2")  # flushed to tmp
            batch.reject("orgs", "x:3", "required", "sourcedId", "blank", {})
            raise RuntimeError("boom")
    assert _all_files(tmp_path) == []
    assert not list((tmp_path / "sis").glob(".tmp-*"))


def test_leaving_without_commit_lands_nothing(tmp_path: Path) -> None:
    with _batch(tmp_path) as batch:
        batch.entity_writer("orgs", ["sourcedId"]).append(["o1"], "x:2")
    assert _all_files(tmp_path) == []
    with pytest.raises(RuntimeError):
        batch.commit()


def test_find_landed_batch(tmp_path: Path) -> None:
    assert find_landed_batch(tmp_path, "sis", SHA) is None
    with _batch(tmp_path) as batch:
        batch.entity_writer("orgs", ["sourcedId"])
        batch.commit()
    assert find_landed_batch(tmp_path, "sis", SHA) == batch.batch_id
    assert find_landed_batch(tmp_path, "lms", SHA) is None
    # Same 12-character prefix, different content: must not count as landed.
    assert find_landed_batch(tmp_path, "sis", SHA[:12] + "0" * 52) is None


def test_uncommitted_batch_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        with _batch(tmp_path) as batch:
            batch.entity_writer("orgs", ["sourcedId"])
            raise KeyError("stop")
    assert find_landed_batch(tmp_path, "sis", SHA) is None


def test_bad_names_and_columns_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        LandingBatch(tmp_path, "../sis", "D001", SHA, "x.zip", AT)
    with _batch(tmp_path) as batch:
        with pytest.raises(ValueError):
            batch.entity_writer("_batches", ["a"])
        with pytest.raises(ValueError):
            batch.entity_writer("orgs", ["a", "a"])
        with pytest.raises(ValueError):
            batch.entity_writer("orgs", ["a", "_batch_id"])
        writer = batch.entity_writer("orgs", ["a"])
        with pytest.raises(ValueError):
            batch.entity_writer("orgs", ["a"])
        with pytest.raises(ValueError):
            writer.append(["1", "2"], "x:2")
