"""Chaos: the whole run is killed with kill -9 (the run, dbt and the simulators: its process
group) in the middle of each kind of work, and the next run is started without `recover`. The
district is the hub district, refused MAP file included (tests/hub_fixture.py).

Each kill lands at a known moment: the run pauses at a named point (interop_pipeline/chaos.py)
and the test kills it there. The kills are chained on one district, as a power cut every few
minutes would: the run after a kill at landing is killed in its dbt build, the next during
identity resolution, then mid-copy of the release, while a OneRoster zip is half written and
after the Ed-Fi load's first resource; so every run but the first starts after a crash, and must
get past the recovery and everything before its own point. The last run goes through. Then:

- the published warehouse equals an uninterrupted run's on a twin district (tests/conftest.py's
  `hub_run`, which the hub end-to-end tests read), table by table
  (row counts and content hashes, leaving out only batch ids, timestamps and what is measured
  from the clock);
- the delivered OneRoster bundle holds the same files, and the Ed-Fi ODS was sent the same
  records;
- no work file of any killed run remains, and each was reported as removed;
- whenever a published warehouse existed during a kill, it opened read-only and whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from interop_pipeline.chaos import PAUSE_ENV_VAR, POINTS
from interop_pipeline.config import DistrictConfig, load_config
from interop_pipeline.publish.audit import in_progress_dir, read_audit_log
from interop_pipeline.publish.state import load_state, publish_dir, state_path
from tests.hub_fixture import run_command, run_env, run_hub, write_hub_district
from tests.warehouse_fingerprint import fingerprint

pytestmark = pytest.mark.e2e


def delivered(config: DistrictConfig) -> dict[str, object]:
    """What the recipients got: the newest OneRoster bundle's files, and the Ed-Fi records the
    ODS accepted (the load's state: each record's natural key and content hash)."""
    (bundle, *_) = sorted(config.delivery_folder(config.recipients["learning_app"]).glob("*.zip"), reverse=True)
    with zipfile.ZipFile(bundle) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    return {"oneroster": files, "edfi": load_state(state_path(config.data_dir, "state_ods", "edfi_api"))}


def leftovers(config: DistrictConfig) -> list[Path]:
    work = [
        p
        for p in config.data_dir.rglob("*")
        if p.name.endswith(".partial") or p.name.startswith(".tmp-") or p.parent.name.startswith(".tmp-")
    ]
    for folder in (publish_dir(config.data_dir) / "spool", publish_dir(config.data_dir) / "work"):
        work += [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return work + list(in_progress_dir(config.data_dir).glob("*"))


def _kill_at(config_path: Path, point: str, log: Path) -> None:
    """Start a run that pauses at `point`, and kill -9 its whole process group there."""
    marker = log.with_suffix(".paused")
    with log.open("w") as output:
        run = subprocess.Popen(
            run_command(config_path),
            stdout=output,
            stderr=subprocess.STDOUT,
            env=run_env(config_path, **{PAUSE_ENV_VAR: f"{point}={marker}"}),
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 600
        while not marker.exists():
            assert run.poll() is None, f"the run ended before reaching {point}:\n{log.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the run never reached {point}"
            time.sleep(0.2)
    finally:
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()


def _assert_whole_if_published(config: DistrictConfig, tables: set[str]) -> None:
    """A reader opening the published warehouse at the moment of a kill gets a whole release."""
    if config.published_warehouse_path.exists():
        assert set(fingerprint(config.published_warehouse_path)) == tables


def test_runs_killed_at_every_point_and_rerun_without_recover_end_as_an_uninterrupted_run(tmp_path, hub_run):
    twin, _ = hub_run
    expected = fingerprint(twin.published_warehouse_path)

    config_path = write_hub_district(tmp_path / "chaos")
    config = load_config(config_path)
    logs = []
    for point in POINTS:
        logs.append(tmp_path / f"run-killed-at-{point}.log")
        _kill_at(config_path, point, logs[-1])
        _assert_whole_if_published(config, set(expected))
    final = run_hub(config_path)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]

    # Each run found the one killed before it, without `recover`, and removed what it left.
    said = [log.read_text() for log in logs[1:]] + [final.stderr]
    for text in said:
        assert "Recovered run " in text and "its process is gone" in text, text[-3000:]
    removed = "\n".join(said)
    for left_by in (
        "landing/",
        "published/.warehouse.duckdb.",
        "publish/work/learning_app/",
        "publish/spool/state_ods/",
    ):
        assert f"Removed {left_by}" in removed, left_by
    assert "had reached state_ods" in removed  # the cut-off Ed-Fi load was recorded as interrupted
    assert "interrupted" in {entry["status"] for entry in read_audit_log(config.data_dir).to_pylist()}

    assert fingerprint(config.published_warehouse_path) == expected
    assert delivered(config) == delivered(twin)
    assert leftovers(config) == []
