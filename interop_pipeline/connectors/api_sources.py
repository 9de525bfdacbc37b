"""Which connector serves which kind of API source, and how a source's client is built.

Each system's connector module exposes ``CONNECTOR``, an :class:`ApiConnector`: the entity walks
of a source (known without any network call, so Dagster can list one asset per entity at load
time) and how to authenticate. Modules are imported on first use.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass

from interop_pipeline.config import ApiSource, DistrictConfig
from interop_pipeline.connectors.api_landing import EntityWalk
from interop_pipeline.connectors.http import ApiClient, HttpSettings

CONNECTOR_MODULES = {
    "oneroster_api": "interop_pipeline.connectors.oneroster_api",
    "edfi_api": "interop_pipeline.connectors.edfi_api",
    "canvas": "interop_pipeline.connectors.canvas",
    "google_classroom": "interop_pipeline.connectors.google_classroom",
}


class MissingCredentials(RuntimeError):
    pass


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(client_id={self.client_id!r}, client_secret=***)"


@dataclass(frozen=True)
class ApiConnector:
    system: str  # the name errors use, e.g. "Canvas"
    entity_walks: Callable[[ApiSource], list[EntityWalk]]
    make_client: Callable[[str, ApiSource, Credentials, HttpSettings], ApiClient]


def api_connector(kind: str) -> ApiConnector:
    return importlib.import_module(CONNECTOR_MODULES[kind]).CONNECTOR


def http_settings(source: ApiSource) -> HttpSettings:
    return HttpSettings(
        connect_timeout=source.connect_timeout_seconds,
        read_timeout=source.read_timeout_seconds,
        max_retries=source.max_retries,
        backoff_seconds=source.backoff_seconds,
    )


def source_credentials(source_name: str, source: ApiSource) -> Credentials:
    missing = [var for var in (source.client_id_env, source.client_secret_env) if not os.environ.get(var)]
    if missing:
        raise MissingCredentials(
            f"sources.{source_name}: set the environment variable(s) {', '.join(missing)} "
            f"to the {source.system_name} API credentials"
        )
    return Credentials(os.environ[source.client_id_env], os.environ[source.client_secret_env])


def source_client(config: DistrictConfig, source_name: str, source: ApiSource) -> ApiClient:
    connector = api_connector(source.kind)
    return connector.make_client(
        config.api_base_url(source_name, source),
        source,
        source_credentials(source_name, source),
        http_settings(source),
    )
