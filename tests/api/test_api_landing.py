"""Entity walks into landing batches: atomic commit, stored cursors, modes, tombstones."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interop_pipeline.connectors.api_landing import (
    FULL,
    INCREMENTAL,
    ApiRecord,
    Page,
    cursor_state,
    land_entity_walk,
)
from interop_pipeline.connectors.http import ApiClient
from interop_pipeline.connectors.landing import read_batch_records
from tests.api.support import landed_current_records

T0 = datetime(2025, 9, 1, 6, 0, tzinfo=UTC)


class FakeWalk:
    """An in-memory source: records with ISO change stamps; `fail_after` pages then breaks."""

    entity = "widgets"
    endpoint = "/widgets"
    supports_incremental = True

    def __init__(self) -> None:
        self.rows: dict[str, dict] = {}
        self.deleted: dict[str, str] = {}
        self.fail_after: int | None = None
        self.seen_cursors: list[str | None] = []

    def put(self, key: str, value: int, changed: str) -> None:
        self.rows[key] = {"id": key, "value": value, "changed": changed}

    def pages(self, client: ApiClient, cursor: str | None) -> Iterator[Page]:
        self.seen_cursors.append(cursor)
        rows = sorted(self.rows.values(), key=lambda r: r["id"])
        if cursor is not None:
            rows = [r for r in rows if r["changed"] > cursor]
        records = [ApiRecord(r["id"], r, r["changed"]) for r in rows]
        records += [ApiRecord.tombstone(k, changed_at=c) for k, c in self.deleted.items() if cursor and c > cursor]
        for number, start in enumerate(range(0, max(len(records), 1), 2), start=1):
            if self.fail_after is not None and number > self.fail_after:
                raise RuntimeError("connection lost")
            yield Page(records[start : start + 2], ref=f"/widgets page {number}")


def _land(tmp_path: Path, walk: FakeWalk, now: datetime, **kw):
    client = ApiClient("Widgets", "http://127.0.0.1:9")
    return land_entity_walk(
        client, walk, landing_root=tmp_path, source_system="widgets_api", district_code="d1", now=now, **kw
    )


def test_first_walk_is_full_then_incremental_with_the_stored_cursor(tmp_path: Path):
    walk = FakeWalk()
    for i in range(5):
        walk.put(f"w{i}", i, f"2025-08-0{i + 1}T00:00:00Z")
    first = _land(tmp_path, walk, T0)
    assert (first.mode, first.records, first.pages, first.cursor) == (FULL, 5, 3, "2025-08-05T00:00:00Z")

    walk.put("w1", 100, "2025-08-10T00:00:00Z")  # changed
    walk.put("w9", 9, "2025-08-11T00:00:00Z")  # added
    walk.rows.pop("w2")
    walk.deleted["w2"] = "2025-08-12T00:00:00Z"  # deleted
    second = _land(tmp_path, walk, T0 + timedelta(days=1))
    assert walk.seen_cursors == [None, "2025-08-05T00:00:00Z"]
    assert (second.mode, second.records, second.tombstones) == (INCREMENTAL, 3, 1)
    current = landed_current_records(tmp_path, "widgets_api", "widgets")
    assert {k: v["value"] for k, v in current.items()} == {"w0": 0, "w1": 100, "w3": 3, "w4": 4, "w9": 9}
    # Batch records read once for several walks give each walk the same state as its own read.
    records = read_batch_records(tmp_path, "widgets_api")
    assert cursor_state(tmp_path, "widgets_api", "widgets", records) == cursor_state(tmp_path, "widgets_api", "widgets")


def test_a_walk_that_breaks_midway_lands_nothing_and_keeps_the_cursor(tmp_path: Path):
    walk = FakeWalk()
    for i in range(6):
        walk.put(f"w{i}", i, f"2025-08-0{i + 1}T00:00:00Z")
    _land(tmp_path, walk, T0)
    walk.put("w7", 7, "2025-08-20T00:00:00Z")
    walk.put("w8", 8, "2025-08-21T00:00:00Z")
    walk.put("w9", 9, "2025-08-22T00:00:00Z")
    walk.fail_after = 1
    with pytest.raises(RuntimeError, match="connection lost"):
        _land(tmp_path, walk, T0 + timedelta(days=1))
    assert len(read_batch_records(tmp_path, "widgets_api")) == 1
    assert not list((tmp_path / "widgets_api").glob(".tmp-*"))
    assert cursor_state(tmp_path, "widgets_api", "widgets").cursor == "2025-08-06T00:00:00Z"
    walk.fail_after = None
    retry = _land(tmp_path, walk, T0 + timedelta(days=1, minutes=5))
    assert retry.records == 3
    assert len(landed_current_records(tmp_path, "widgets_api", "widgets")) == 9


def test_periodic_full_walk_retires_records_whose_deletion_was_never_reported(tmp_path: Path):
    walk = FakeWalk()
    for i in range(4):
        walk.put(f"w{i}", i, f"2025-08-0{i + 1}T00:00:00Z")
    _land(tmp_path, walk, T0)
    walk.rows.pop("w3")  # vanished without a tombstone
    assert _land(tmp_path, walk, T0 + timedelta(days=1), full_refresh_days=7).mode == INCREMENTAL
    assert "w3" in landed_current_records(tmp_path, "widgets_api", "widgets")
    assert _land(tmp_path, walk, T0 + timedelta(days=8), full_refresh_days=7).mode == FULL
    assert set(landed_current_records(tmp_path, "widgets_api", "widgets")) == {"w0", "w1", "w2"}


def test_a_walk_that_brings_nothing_new_replaces_the_batch_before_it(tmp_path: Path):
    """A year of daily runs keeps the landing zone the size of the data: an unchanged full walk
    (whatever order the records come in) or a second empty incremental walk replaces the batch
    before it, keeping the newer check's time (freshness) and the cursor."""
    walk = FakeWalk()
    for i in range(5):
        walk.put(f"w{i}", i, f"2025-08-0{i + 1}T00:00:00Z")
    first = _land(tmp_path, walk, T0, force_full=True)
    walk.rows = dict(reversed(walk.rows.items()))  # same records, another order
    again = _land(tmp_path, walk, T0 + timedelta(hours=1), force_full=True)
    assert again.replaced_batch_id == first.batch_id
    assert [r["batch_id"] for r in read_batch_records(tmp_path, "widgets_api")] == [again.batch_id]
    assert sorted(p.name for p in (tmp_path / "widgets_api" / "widgets").iterdir()) == [f"{again.batch_id}.parquet"]

    quiet = _land(tmp_path, walk, T0 + timedelta(days=1))  # incremental, nothing changed: a heartbeat
    assert (quiet.mode, quiet.records, quiet.replaced_batch_id) == (INCREMENTAL, 0, None)
    quieter = _land(tmp_path, walk, T0 + timedelta(days=2))
    assert quieter.replaced_batch_id == quiet.batch_id and quieter.cursor == again.cursor
    walk.put("w1", 100, "2025-08-10T00:00:00Z")
    changed = _land(tmp_path, walk, T0 + timedelta(days=3))
    assert (changed.records, changed.replaced_batch_id) == (1, None)
    batches = read_batch_records(tmp_path, "widgets_api")
    assert [r["batch_id"] for r in batches] == [again.batch_id, quieter.batch_id, changed.batch_id]
    assert max(r["extracted_at"] for r in batches) == T0 + timedelta(days=3)
    current = landed_current_records(tmp_path, "widgets_api", "widgets")
    assert {k: v["value"] for k, v in current.items()} == {"w0": 0, "w1": 100, "w2": 2, "w3": 3, "w4": 4}

    walk.put("w1", 101, "2025-08-11T00:00:00Z")
    full = _land(tmp_path, walk, T0 + timedelta(days=4), force_full=True)  # differs from the newest
    assert full.replaced_batch_id is None
