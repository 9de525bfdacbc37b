"""REST connectors against their simulators: records per second next to a bare requests loop
over the same pages (the floor), and peak memory of a walk, per district size.

    python bench/bench_api.py --students 10000 100000 [--systems canvas google_classroom]
                              [--entities users enrollments] [--seed 1]

Every system whose connector and simulator modules import is measured (see CONNECTOR_MODULES
and SIMULATOR_MODULES). For each entity the connector walks it into a scratch landing zone
while the requests it sends are recorded; the floor then replays exactly those requests with a
plain requests.Session and json.loads, nothing else. ratio = connector records/s ÷ floor
records/s (1.0: the connector adds nothing over fetching the pages). Peak memory is a second
walk of the entity under tracemalloc: Python allocations during the walk, simulator threads
included, so it bounds what the connector holds. Figures vary between machines: compare ratios.
"""

from __future__ import annotations

import argparse
import importlib
import json
import secrets
import shutil
import sys
import tempfile
import time
import tracemalloc
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from interop_pipeline.config import ApiSource, load_config  # noqa: E402
from interop_pipeline.connectors.api_landing import land_entity_walk  # noqa: E402
from interop_pipeline.connectors.api_sources import CONNECTOR_MODULES, Credentials, http_settings  # noqa: E402
from interop_pipeline.simulators.apis import SIMULATOR_MODULES  # noqa: E402
from interop_pipeline.simulators.district import generate_district  # noqa: E402
from interop_pipeline.simulators.lms import lms_truth  # noqa: E402


def available_systems() -> dict[str, tuple[object, object]]:
    """kind → (connector, simulator module) for every system whose modules import."""
    out = {}
    for kind, path in CONNECTOR_MODULES.items():
        try:
            connector = importlib.import_module(path).CONNECTOR
            simulator = importlib.import_module(SIMULATOR_MODULES[kind])
        except (ImportError, AttributeError, KeyError):
            continue
        out[kind] = (connector, simulator)
    return out


def district_tables(students: int, seed: int) -> dict:
    truth = generate_district(
        students,
        seed,
        district_code="bench-usd",
        lea_id="0600001",
        year_start=date(2025, 8, 18),
        year_end=date(2026, 6, 5),
    )
    tables = truth.tables()
    tables.update(lms_truth(tables, seed))
    return tables


def _source(kind: str, base_url: str, config) -> ApiSource:
    configured = next((s for s in config.sources.values() if getattr(s, "kind", None) == kind), None)
    if configured is not None:  # the simulator serves the configured path on its own port
        return configured.model_copy(update={"base_url": base_url + urlsplit(configured.base_url).path.rstrip("/")})
    return ApiSource(
        kind=kind, system_name=kind, base_url=base_url, client_id_env="BENCH_ID", client_secret_env="BENCH_SECRET"
    )


def record_gets(client) -> list[str]:
    """The URL (query included) of every GET the client sends that is answered 200, so the
    floor can replay exactly those."""
    log: list[str] = []
    send = client.pool.request

    def recording(method, url, **kwargs):
        response = send(method, url, **kwargs)
        if response.status == 200 and method == "GET":
            log.append(url)
        return response

    client.pool.request = recording
    return log


def bench_entity(connector, walk, base_url: str, source: ApiSource, credentials: Credentials, scratch: Path) -> dict:
    client = connector.make_client(base_url, source, credentials, http_settings(source))
    recorded = record_gets(client)
    landing = scratch / "throughput"
    started = time.perf_counter()
    result = land_entity_walk(client, walk, landing_root=landing, source_system=source.kind, district_code="bench-usd")
    connector_seconds = time.perf_counter() - started

    # The floor: the same pages, fetched and decoded by a bare requests loop.
    floor = requests.Session()
    headers = {"Authorization": f"Bearer {client.auth.token()}"} if client.auth else {}
    started = time.perf_counter()
    for url in recorded:
        json.loads(floor.get(url, headers=headers, timeout=60).content)
    floor_seconds = time.perf_counter() - started

    client2 = connector.make_client(base_url, source, credentials, http_settings(source))
    tracemalloc.start()
    land_entity_walk(
        client2, walk, landing_root=scratch / "memory", source_system=source.kind, district_code="bench-usd"
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    shutil.rmtree(scratch, ignore_errors=True)
    records = max(result.records, 1)
    connector_rps, floor_rps = records / connector_seconds, records / max(floor_seconds, 1e-9)
    return {
        "records": result.records,
        "pages": result.pages,
        "requests": len(recorded),
        "connector_rps": round(connector_rps),
        "floor_rps": round(floor_rps),
        "ratio": round(connector_rps / floor_rps, 2),
        "peak_mb": round(peak / 2**20, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--systems", nargs="*", help="kinds to measure (default: every available one)")
    parser.add_argument("--entities", nargs="*", help="entities to measure (default: all of each system)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = load_config()
    systems = available_systems()
    if args.systems:
        systems = {k: v for k, v in systems.items() if k in args.systems}
    print(f"systems: {', '.join(systems) or 'none available'}")
    for students in args.students:
        started = time.perf_counter()
        tables = district_tables(students, args.seed)
        print(f"\n{students:,} students (district generated in {time.perf_counter() - started:.1f} s)")
        print(
            f"{'system':<18}{'entity':<22}{'records':>10}{'requests':>9}{'conn rec/s':>11}{'floor rec/s':>12}"
            f"{'ratio':>7}{'peak MB':>9}"
        )
        for kind, (connector, simulator) in systems.items():
            client_id, secret = "bench", secrets.token_urlsafe(12)
            api = simulator.build_simulator(tables, config, {client_id: secret})
            with api:
                source = _source(kind, api.base_url, config)
                credentials = Credentials(client_id, secret)
                for walk in connector.entity_walks(source):
                    if args.entities and walk.entity not in args.entities:
                        continue
                    with tempfile.TemporaryDirectory() as scratch:
                        try:
                            row = bench_entity(connector, walk, source.base_url, source, credentials, Path(scratch))
                        except Exception as error:  # one system's failure must not hide the others'
                            print(f"{kind:<18}{walk.entity:<22}failed: {error}", flush=True)
                            continue
                    print(
                        f"{kind:<18}{walk.entity:<22}{row['records']:>10,}{row['requests']:>9,}"
                        f"{row['connector_rps']:>11,}{row['floor_rps']:>12,}{row['ratio']:>7}{row['peak_mb']:>9}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
