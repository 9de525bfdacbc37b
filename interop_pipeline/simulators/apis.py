"""Start the simulated APIs of a district's REST sources, serving its generated truth.

Each system's simulator module exposes
``build_simulator(truth, config, clients, *, faults=None, port=0) -> SimulatedApi`` where
`truth` maps table names to the generator's truth tables (truth/*.parquet) and `clients` maps
client ids to secrets the simulator accepts.
"""

from __future__ import annotations

import importlib
import os
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from interop_pipeline.config import (
    ApiSource,
    DistrictConfig,
    RecipientSettings,
    api_base_url_env,
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
