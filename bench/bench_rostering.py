"""Load on `interop-pipeline serve`: paged OneRoster 1.2 users at district scale.

    python bench/bench_rostering.py [--students 100000] [--requests 5000] [--clients 4] [--limit 100]

The server (the real ASGI app under uvicorn, one process) serves a synthesized roster of
--students students (bench_publish.synthetic_roster) as one recipient; a load generator in
another process sends --requests GETs of `/users?limit=--limit&offset=…` spread over every
page, from --clients keep-alive connections, after one warm-up request that builds the roster.
It reports requests/s, latency percentiles and the server's peak memory, and stops by itself:
after --requests requests or --seconds seconds, whichever comes first. Loopback only.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import multiprocessing
import os
import resource
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_publish import synthetic_roster  # noqa: E402

from interop_pipeline.config import DEFAULT_CONFIG_PATH, load_config  # noqa: E402
from interop_pipeline.rostering.server import (  # noqa: E402
    ROSTERING_PATH,
    TOKEN_PATH,
    RestClient,
    allowed_scopes,
    create_app,
)

CLIENT, SECRET, RECIPIENT = "bench-client", "bench-secret", "learning_app"


def _config(folder: Path):
    raw = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    raw["output"]["data_dir"] = str(folder)
    path = folder / "district.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    config = load_config(path)
    config.published_warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    config.published_warehouse_path.touch()  # the release the server watches; the roster is synthesized
    return config


def _serve(folder: Path, students: int, port: int, peak: multiprocessing.Value) -> None:
    import uvicorn

    config = _config(folder)
    roster = synthetic_roster(students)
    clients = {CLIENT: RestClient(CLIENT, SECRET, RECIPIENT, allowed_scopes(config.recipients[RECIPIENT]))}
    app = create_app(config, clients, loader=lambda warehouse, settings: roster)

    def watch_memory() -> None:
        while True:
            peak.value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            time.sleep(0.5)

    threading.Thread(target=watch_memory, daemon=True).start()
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _token(port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    basic = base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()
    body = urlencode({"grant_type": "client_credentials"})
    headers = {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"}
    connection.request("POST", TOKEN_PATH, body=body, headers=headers)
    return json.loads(connection.getresponse().read())["access_token"]


def _wait_for(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start")


def run(students: int, requests: int, clients: int, limit: int, seconds: float) -> dict[str, float]:
    """Start the server, load it, stop it; the figures."""
    port = _free_port()
    peak = multiprocessing.get_context("spawn").Value("d", 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        server = multiprocessing.get_context("spawn").Process(target=_serve, args=(Path(tmp), students, port, peak))
        server.start()
        try:
            _wait_for(port, time.monotonic() + 120)
            headers = {"Authorization": f"Bearer {_token(port)}"}
            warm = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
            started = time.perf_counter()
            warm.request("GET", f"{ROSTERING_PATH}/users?limit=1", headers=headers)
            response = warm.getresponse()
            warm_body = response.read()
            if response.status != 200:
                raise SystemExit(f"warm-up request answered {response.status}: {warm_body[:300]!r}")
            total = int(response.getheader("X-Total-Count"))
            build_seconds = time.perf_counter() - started
            pages = max(1, (total + limit - 1) // limit)
            latencies: list[float] = []
            failures = [0]
            lock = threading.Lock()
            stop_at = time.monotonic() + seconds
            counter = iter(range(requests))

            def client() -> None:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                mine: list[float] = []
                for n in counter:
                    if time.monotonic() > stop_at:
                        break
                    path = f"{ROSTERING_PATH}/users?limit={limit}&offset={(n * 7919 % pages) * limit}"
                    began = time.perf_counter()
                    connection.request("GET", path, headers=headers)
                    answer = connection.getresponse()
                    body = answer.read()
                    mine.append(time.perf_counter() - began)
                    if answer.status != 200 or not body:
                        with lock:
                            failures[0] += 1
                with lock:
                    latencies.extend(mine)

            threads = [threading.Thread(target=client) for _ in range(clients)]
            began = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            wall = time.perf_counter() - began
        finally:
            server.terminate()
            server.join(30)
    latencies.sort()
    return {
        "users": total,
        "build_s": build_seconds,
        "requests": len(latencies),
        "failures": failures[0],
        "requests_per_s": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "server_peak_mb": peak.value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=5_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120.0, help="stop loading after this long")
    args = parser.parse_args()
    figures = run(args.students, args.requests, args.clients, args.limit, args.seconds)
    print(
        f"{figures['users']:,} users ({args.students:,} students), roster built in {figures['build_s']:.1f} s; "
        f"{figures['requests']:,} GET /users?limit={args.limit} from {args.clients} connections: "
        f"{figures['requests_per_s']:,.0f} requests/s, p50 {figures['p50_ms']:.1f} ms, "
        f"p95 {figures['p95_ms']:.1f} ms, {figures['failures']} failed; server peak {figures['server_peak_mb']:,.0f} MB"
    )
    if figures["failures"]:
        raise SystemExit(1)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
