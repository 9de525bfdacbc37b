"""`interop-pipeline ui` (what `make ui` runs): the Dagster UI comes up for the district, and on
SIGTERM or Ctrl-C (SIGINT) every process it started stops (webserver, daemon, code server, the
simulated APIs) and it exits, leaving no process and no credentials file behind."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest
import yaml

from tests.hub_fixture import HUB_DISTRICT

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serving(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_the_ui_comes_up_and_stops_whole_on_a_signal(tmp_path, stop_with):
    raw = yaml.safe_load((HUB_DISTRICT / "district.yaml").read_text())
    raw["recipients"]["state_ods"]["base_url"] = f"http://127.0.0.1:{_free_port()}"  # its simulator's port
    config = tmp_path / "district.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False))
    port = _free_port()
    ui = subprocess.Popen(
        [sys.executable, "-m", "interop_pipeline.cli", "ui", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
    )
    try:
        deadline = time.monotonic() + 240
        while not _serving(port):
            assert ui.poll() is None, ui.stdout.read()[-3000:]
            assert time.monotonic() < deadline, "the UI never answered"
            time.sleep(1)
        started = [p for p in psutil.Process(ui.pid).children(recursive=True)]
        assert len(started) >= 3  # dagster dev, its webserver, daemon and code server
        ui.send_signal(stop_with)
        assert ui.wait(90) == 0
    finally:
        if ui.poll() is None:
            ui.kill()
    output = ui.stdout.read()
    assert "Stopping the UI" in output
    time.sleep(1)
    assert [p.pid for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []
    assert not _serving(port)
    assert not (tmp_path / "simulators.env").exists()
