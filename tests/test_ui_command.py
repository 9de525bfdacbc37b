"""`interop-pipeline ui` (what `make ui` runs): the Dagster UI comes up for the district, and on
Ctrl-C (SIGINT) every process it started stops (webserver, daemon, code server, the simulated
APIs) and it exits, leaving no process and no credentials file behind. The same on SIGTERM is
tests/test_dagster_ui.py's, after its browser session."""

from __future__ import annotations

import signal
import time

import psutil
import pytest
import yaml

from tests.hub_fixture import HUB_DISTRICT
from tests.ui_server import free_port, serving, start_ui, wait_until_serving

pytestmark = pytest.mark.e2e


def test_the_ui_comes_up_and_stops_whole_on_ctrl_c(tmp_path):
    raw = yaml.safe_load((HUB_DISTRICT / "district.yaml").read_text())
    raw["recipients"]["state_ods"]["base_url"] = f"http://127.0.0.1:{free_port()}"  # its simulator's port
    config = tmp_path / "district.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    port = free_port()
    log = tmp_path / "ui.log"
    ui = start_ui(config, port, log)
    try:
        wait_until_serving(ui, port, log)
        started = [p for p in psutil.Process(ui.pid).children(recursive=True)]
        assert len(started) >= 3  # dagster dev, its webserver, daemon and code server
        ui.send_signal(signal.SIGINT)
        assert ui.wait(90) == 0
    finally:
        if ui.poll() is None:
            ui.kill()
    assert "Stopping the UI" in log.read_text()
    time.sleep(1)
    assert [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert not serving(port)
    assert not (tmp_path / "simulators.env").exists()
