"""Alerts through real channels: a real SMTP server (aiosmtpd) and a real HTTP webhook receiver
on 127.0.0.1 hear about a real run whose required source's file was refused: the failed run and
the failed `delivery_accepted` check, each naming asset, check, file and what to do, and never a
value from the file. A channel that is down is reported and the others still get the alert."""

from __future__ import annotations

import json
import socket
import threading
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml
from aiosmtpd.controller import Controller
from dagster import DagsterInstance, materialize

from interop_pipeline.alerts import alerts_for_run, send_alerts
from interop_pipeline.assets.extract.file_drops import build_file_drop_assets
from interop_pipeline.config import load_config
from tests.conftest import write_config

PERSONAL = "Lilyfox Ravensworth"  # a student's name inside the refused file


class Inbox:
    def __init__(self) -> None:
        self.messages: list = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


@pytest.fixture
def smtp():
    inbox = Inbox()
    with socket.socket() as probe:  # aiosmtpd needs the port up front
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def webhook():
    received: list[dict] = []
    busy = []  # answers to give before accepting: a chat service that is briefly unavailable

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if busy:
                self.send_response(busy.pop())
                self.end_headers()
                return
            received.append(body)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/secret-token", received, busy
    finally:
        server.shutdown()


def _config(tmp_path: Path, smtp_port: int):
    path = write_config(tmp_path, students=100)
    raw = yaml.safe_load(path.read_text())
    raw["sources"]["sis_attendance"]["required"] = True
    raw["alerts"] = {
        "email": {
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_port,
            "starttls": False,
            "from_address": "pipeline@district.example",
            "to": ["data-team@district.example"],
        },
        "webhooks": [
            {"url_env": "ALERT_SLACK_URL", "format": "slack"},
            {"url_env": "ALERT_TEAMS_URL", "format": "teams"},
        ],
    }
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_config(path)


def test_a_failed_run_and_its_failed_check_reach_every_channel(tmp_path, smtp, webhook):
    smtp_port, inbox = smtp
    url, received, _ = webhook
    config = _config(tmp_path, smtp_port)
    source = config.sources["sis_attendance"]
    folder = config.drop_folder(source)
    folder.mkdir(parents=True)
    # Binary garbage with a student's name in it: the file is refused.
    (folder / "attendance_2025-09.csv").write_bytes(b"\x00\xff\xfe" + PERSONAL.encode() + b"\x00" * 64)
    with DagsterInstance.ephemeral() as instance:
        result = materialize(
            [build_file_drop_assets(config, "sis_attendance", source)], instance=instance, raise_on_error=False
        )
        assert not result.success
        alerts = alerts_for_run(config, instance, result.run_id)
    # Nothing of this source ever landed, so it is stale too.
    assert {a.kind for a in alerts} == {"run_failed", "check_failed", "source_stale"}
    said: list[str] = []
    environ = {"ALERT_SLACK_URL": url, "ALERT_TEAMS_URL": url}
    assert send_alerts(config, alerts, said.append, environ=environ) == []

    check = next(a for a in alerts if a.kind == "check_failed")
    assert "landing/sis_attendance" in check.subject and "delivery_accepted" in check.subject
    assert "attendance_2025-09.csv" in check.body and "What to do:" in check.body
    run = next(a for a in alerts if a.kind == "run_failed")
    assert "Failed step" in run.body and "published warehouse was left as it was" in run.body

    assert sorted(m["Subject"] for m in inbox.messages) == sorted(a.subject for a in alerts)
    assert all(m["To"] == "data-team@district.example" for m in inbox.messages)
    slack = [r for r in received if "text" in r and "@type" not in r]
    teams = [r for r in received if r.get("@type") == "MessageCard"]
    assert len(slack) == len(teams) == len(alerts)
    log = [json.loads(line) for line in (config.data_dir / "alerts.log").read_text().splitlines()]
    assert {entry["subject"] for entry in log} == {a.subject for a in alerts}
    # Nothing personal anywhere, and the webhook's secret URL never in what was said.
    everything = json.dumps(received) + "".join(m.as_string() for m in inbox.messages) + json.dumps(log)
    assert PERSONAL not in everything and "Lilyfox" not in everything
    assert not any("secret-token" in line for line in said)


def test_a_channel_that_is_down_is_reported_and_the_others_still_hear(tmp_path, webhook):
    url, received, busy = webhook
    busy += [429, 503]  # retried, then accepted
    config = _config(tmp_path, smtp_port=1)  # nothing listens there
    from interop_pipeline.alerts import Alert

    alert = Alert("source_stale", "[Demo] stale source: landing/sis_attendance fresh_within_limit", "Detail")
    said: list[str] = []
    failed = send_alerts(config, [alert], said.append, environ={"ALERT_SLACK_URL": url})
    assert failed == ["email", "ALERT_TEAMS_URL"]
    assert not busy and len(received) == 1 and received[0]["text"].startswith("*[Demo] stale source")
    assert any("Alert email" in line for line in said) and any("ALERT_TEAMS_URL is not set" in line for line in said)
    assert (config.data_dir / "alerts.log").exists()
