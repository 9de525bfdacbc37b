"""The cycle collector in the processes that load the definitions and in dbt's (collector.py):
paused while loading, then on, with what loading made frozen; on after a load that failed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from interop_pipeline.collector import COLLECT_EVERY
from interop_pipeline.config import CONFIG_ENV_VAR, DEFAULT_CONFIG_PATH
from interop_pipeline.transform.dbt_command import DBT_COMMAND

LOAD = """
import gc, json
try:
    import interop_pipeline.definitions
    loaded = True
except Exception:
    loaded = False
print(json.dumps({"loaded": loaded, "enabled": gc.isenabled(), "frozen": gc.get_freeze_count(),
                  "every": gc.get_threshold()[0]}))
"""


def _load(config: str) -> dict:
    env = {**os.environ, CONFIG_ENV_VAR: config}
    done = subprocess.run([sys.executable, "-c", LOAD], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_loading_the_definitions_leaves_the_collector_on_with_what_it_made_frozen():
    state = _load(str(DEFAULT_CONFIG_PATH))
    assert state["loaded"] and state["enabled"]
    assert state["frozen"] > 100_000  # Dagster's, dbt's and the manifest's objects
    assert state["every"] == COLLECT_EVERY


def test_a_load_that_fails_leaves_the_collector_on_and_nothing_frozen(tmp_path):
    state = _load(str(tmp_path / "no_such_district.yaml"))
    assert not state["loaded"]
    assert state["enabled"] and state["frozen"] == 0


def test_the_dbt_command_is_dbt():
    done = subprocess.run([str(DBT_COMMAND), "--version"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Core:" in done.stdout and "duckdb" in done.stdout
