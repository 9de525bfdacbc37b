"""Start the simulated APIs of a district's REST sources, serving its generated truth.

Each system's simulator module exposes
``build_simulator(truth, config, clients, *, faults=None, port=0) -> SimulatedApi`` where
`truth` maps table names to the generator's truth tables (truth/*.parquet) and `clients` maps
client ids to secrets the simulator accepts.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from interop_pipeline.config import (
    ApiSource,
    DistrictConfig,
    RecipientSettings,
    api_base_url_env,
    load_config,
    recipient_base_url_env,
)
from interop_pipeline.simulators.http_server import Faults, SimulatedApi

SIMULATOR_MODULES = {
    "oneroster_api": "interop_pipeline.simulators.oneroster_api",
    "edfi_api": "interop_pipeline.simulators.edfi_api",
    "canvas": "interop_pipeline.simulators.canvas",
    "google_classroom": "interop_pipeline.simulators.google_classroom",
}


# What every simulator reads; a truth folder without them predates the simulators.
REQUIRED_TRUTH = ("schools", "students", "staff", "sections", "system_students", "system_staff")


def load_truth(truth_dir: Path) -> dict[str, pa.Table]:
    missing = [name for name in REQUIRED_TRUTH if not (truth_dir / f"{name}.parquet").is_file()]
    if missing:
        raise FileNotFoundError(
            f"{truth_dir}: no generated district to serve (missing {', '.join(missing)}); "
            "run `interop-pipeline generate` first"
        )
    return {path.stem: pq.read_table(path) for path in sorted(truth_dir.glob("*.parquet"))}


def build_simulator(
    source: ApiSource,
    truth: dict[str, pa.Table],
    config: DistrictConfig,
    clients: dict[str, str],
    *,
    faults: Faults | None = None,
    port: int = 0,
) -> SimulatedApi:
    module = importlib.import_module(SIMULATOR_MODULES[source.kind])
    return module.build_simulator(truth, config, clients, faults=faults, port=port)


def api_sources(config: DistrictConfig) -> dict[str, ApiSource]:
    return {name: s for name, s in config.enabled_sources().items() if isinstance(s, ApiSource)}


def demo_credentials(source: ApiSource) -> tuple[str, str]:
    """The source's credentials from its environment variables, set to fresh random values
    first when absent: simulators accept whatever the run will present."""
    for var in (source.client_id_env, source.client_secret_env):
        os.environ.setdefault(var, secrets.token_urlsafe(18))
    return os.environ[source.client_id_env], os.environ[source.client_secret_env]


@contextmanager
def running_simulators(
    config: DistrictConfig, *, fixed_ports: bool = False, faults: Faults | None = None
) -> Iterator[dict[str, SimulatedApi]]:
    """Every enabled API source's simulator, running while the block runs.

    With free ports (the default: demo and tests), each source's base-URL environment variable
    is pointed at its simulator, keeping the configured path; with fixed ports (`simulate`), the
    simulators listen where the config's base_url says.
    """
    sources = api_sources(config)
    truth = load_truth(config.truth_dir) if sources else {}
    with ExitStack() as stack:
        running: dict[str, SimulatedApi] = {}
        for name, source in sources.items():
            client_id, secret = demo_credentials(source)
            configured = urlsplit(source.base_url)
            port = (configured.port or 80) if fixed_ports else 0
            api = build_simulator(source, truth, config, {client_id: secret}, faults=faults, port=port)
            stack.enter_context(api)
            if not fixed_ports:
                os.environ[api_base_url_env(name)] = api.base_url + configured.path.rstrip("/")
            running[name] = api
        stack.enter_context(running_recipient_apis(config, fixed_ports=fixed_ports, faults=faults))
        yield running


def recipient_secrets(recipient: RecipientSettings) -> dict[str, str]:
    """A demo recipient's secrets from the environment, set to fresh random values when absent
    (so the demo's research keys differ per run unless the variable is set)."""
    names = [recipient.client_id_env, recipient.client_secret_env, recipient.hmac_secret_env]
    for var in filter(None, names):
        os.environ.setdefault(var, secrets.token_urlsafe(18))
    return {var: os.environ[var] for var in filter(None, names)}


def empty_edfi_ods(clients: dict[str, str], *, faults: Faults | None = None, port: int = 0) -> SimulatedApi:
    """An Ed-Fi ODS/API holding only the default ed-fi.org descriptors, as a fresh ODS does: the
    target of an Ed-Fi recipient's load."""
    from interop_pipeline.simulators.edfi_api import EdfiApi, default_descriptor_documents
    from interop_pipeline.simulators.edfi_model import EdfiStore

    store = EdfiStore()
    for resource, document in default_descriptor_documents():
        store.upsert(resource, document)
    return EdfiApi(store, clients=clients, faults=faults, port=port)


@contextmanager
def running_recipient_apis(
    config: DistrictConfig, *, fixed_ports: bool = False, faults: Faults | None = None
) -> Iterator[dict[str, SimulatedApi]]:
    """An empty simulated ODS/API for every enabled edfi_api recipient (free ports: its base-URL
    variable INTEROP_RECIPIENT_<NAME>_BASE_URL points at it), plus demo secrets for every
    recipient that names one."""
    with ExitStack() as stack:
        running: dict[str, SimulatedApi] = {}
        for name, recipient in config.enabled_recipients().items():
            found = recipient_secrets(recipient)
            if recipient.format != "edfi_api":
                continue
            assert recipient.client_id_env and recipient.client_secret_env and recipient.base_url
            clients = {found[recipient.client_id_env]: found[recipient.client_secret_env]}
            configured = urlsplit(recipient.base_url)
            port = (configured.port or 80) if fixed_ports else 0
            api = stack.enter_context(empty_edfi_ods(clients, faults=faults, port=port))
            if not fixed_ports:
                os.environ[recipient_base_url_env(name)] = api.base_url + configured.path.rstrip("/")
            running[name] = api
        yield running


# -- the simulators in a process of their own -------------------------------------------------------
# A run calling simulators in its own process shares one interpreter lock with them: the client and
# the server of every request take turns on one core. In their own process they answer from the
# other core (the demo's Ed-Fi load and REST walks), and their memory is not the run's.
RECIPIENTS_ONLY = "recipients"  # `only=`: an empty ODS/API per Ed-Fi API recipient, no source


def _peak_mb() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024  # KiB


def serve_until_stdin_closes(config_path: Path, only: str | None = None) -> None:
    """The simulators' process: every enabled API source's simulator and the recipients' ODS/APIs
    (`only`: one source's with the recipients', or RECIPIENTS_ONLY), on free ports, until stdin
    closes. Its first line out is what the run needs: the environment (base URLs, credentials)
    and each simulator's URL; its last, this process's peak memory."""
    config = load_config(config_path)
    if only == RECIPIENTS_ONLY:
        serving = running_recipient_apis(config)
    else:
        sources = {n: s for n, s in config.sources.items() if only in (None, n) or not isinstance(s, ApiSource)}
        serving = running_simulators(config.model_copy(update={"sources": sources}))
    before = dict(os.environ)
    started = time.perf_counter()
    with serving as running, suppress(KeyboardInterrupt):  # Ctrl-C reaches the whole group
        env = {var: value for var, value in os.environ.items() if before.get(var) != value}
        urls = {name: api.base_url for name, api in running.items()}
        print(json.dumps({"env": env, "urls": urls, "start_seconds": time.perf_counter() - started}), flush=True)
        sys.stdin.read()
    print(json.dumps({"peak_mb": _peak_mb()}), flush=True)


@contextmanager
def simulators_in_own_process(config_path: Path, only: str | None = None) -> Iterator[dict]:
    """`serve_until_stdin_closes` in a child process while the block runs. Yields its first line
    (`env`, `urls`, `start_seconds`), with `peak_mb` added once the block has ended. The caller
    applies `env` where its run reads it (os.environ, or a child's environment)."""
    command = [sys.executable, "-m", __name__, "--config", str(config_path)] + (["--only", only] if only else [])
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert process.stdin and process.stdout
    line = process.stdout.readline()
    if not line:
        raise RuntimeError(f"the simulators for {config_path} did not start (exit {process.wait()}; see above)")
    ready = json.loads(line)
    try:
        yield ready
    finally:
        process.stdin.close()
        ready.update(json.loads(process.stdout.readline() or "{}"))
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=serve_until_stdin_closes.__doc__)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--only", help=f"one API source's name, or {RECIPIENTS_ONLY}")
    arguments = parser.parse_args()
    serve_until_stdin_closes(arguments.config, arguments.only)
