"""`interop-pipeline ui` (what `make ui` runs) started for a test: a free port on 127.0.0.1, the
command in its own process, and a wait until the Dagster webserver answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serving(port: int) -> bool:
    """Whether a Dagster webserver answers on the port."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_ui(config: Path, port: int, log: Path) -> subprocess.Popen:
    """`interop-pipeline ui --config CONFIG --port PORT`, its output (Dagster's events of every run
    included: too much for a pipe nobody reads while it runs) written to `log`. The Dagster
    instance is the district's own (DAGSTER_HOME is left for the command to set)."""
    with log.open("w") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "interop_pipeline.cli", "ui", "--config", str(config), "--port", str(port)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env={k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"},
        )


def wait_until_serving(ui: subprocess.Popen, port: int, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not serving(port):
        assert ui.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, "the UI never answered: " + log.read_text()[-3000:]
        time.sleep(1)
