"""`interop-pipeline serve`: the district as its own rostering hub.

An ASGI application (Starlette, run by uvicorn) serving OneRoster 1.2 rostering REST from the
published warehouse. Each OAuth client is one recipient: a token names the recipient whose
agreement it reads under, and every answer comes from that recipient's roster, built by the same
code as its CSV bundle (publish/roster.py, publish/oneroster.py), so the API holds exactly what
the bundle would: its schools, grades and field groups, nothing more.

The published warehouse is opened read-only, only while a roster is built, and closed again.
A release replaces the file by an atomic rename, so the server never holds it back; the next
request after a release sees the new file (its inode and modification time) and rebuilds.
Record history per recipient (content hash and dateLastModified per record, deletions) is kept
in the recipient's publish state, so a record keeps its dateLastModified until it changes, and
a record gone from a release is served as `tobedeleted`, stamped with that release's time, for
clients asking `filter=dateLastModified>'…'`.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import orjson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from interop_pipeline.config import ConfigError, DistrictConfig, RecipientSettings
from interop_pipeline.publish import oneroster
from interop_pipeline.publish.roster import Roster, load_roster, open_warehouse
from interop_pipeline.publish.state import StateKey, content_hash, load_state, save_state, state_path
from interop_pipeline.rostering.protocol import (
    ENTITIES,
    SCOPE_CORE,
    SCOPE_DEMOGRAPHICS,
    SCOPE_ROSTER,
    RecordBuilder,
    RosterReader,
    build_records,
    imsx_body,
    iso_timestamp,
)

log = logging.getLogger(__name__)

ROSTERING_PATH = "/ims/oneroster/rostering/v1p2"
TOKEN_PATH = "/oauth/token"
DEFAULT_TOKEN_TTL_SECONDS = 3600
VERSION = "1.2"
DELETED = "tobedeleted"


# -- clients -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RestClient:
    client_id: str
    secret: str
    recipient: str
    scopes: frozenset[str]  # what the agreement allows this client to be granted


def allowed_scopes(settings: RecipientSettings) -> frozenset[str]:
    """Core rostering always; demographics (and the all-roster scope) only where the agreement
    allows demographics, as its CSV bundle would hold demographics.csv only then."""
    if "demographics" in settings.fields:
        return frozenset({SCOPE_CORE, SCOPE_ROSTER, SCOPE_DEMOGRAPHICS})
    return frozenset({SCOPE_CORE})


def rest_clients(config: DistrictConfig, environ: dict[str, str] | None = None) -> dict[str, RestClient]:
    """client id → client, for every enabled recipient that reads its roster over REST."""
    environ = dict(os.environ if environ is None else environ)
    clients: dict[str, RestClient] = {}
    for name, settings in config.enabled_recipients().items():
        if not settings.serve_client_id_env or not settings.serve_client_secret_env:
            continue
        missing = [v for v in (settings.serve_client_id_env, settings.serve_client_secret_env) if not environ.get(v)]
        if missing:
            raise ConfigError(f"recipient {name}: set {' and '.join(missing)} to serve its roster over REST")
        client_id = environ[settings.serve_client_id_env]
        if client_id in clients:
            raise ConfigError(f"recipient {name}: its client id is another recipient's too")
        secret = environ[settings.serve_client_secret_env]
        clients[client_id] = RestClient(client_id, secret, name, allowed_scopes(settings))
    return clients


@dataclass
class Token:
    client: RestClient
    scopes: frozenset[str]
    expires_at: float


class TokenStore:
    """Bearer tokens issued by the client-credentials grant, held in memory until they expire."""

    def __init__(self, clients: dict[str, RestClient], ttl_seconds: int):
        self.clients = clients
        self.ttl_seconds = ttl_seconds
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def authenticate(self, client_id: str | None, secret: str | None) -> RestClient | None:
        client = self.clients.get(client_id or "")
        if client is None or secret is None:
            return None
        return client if hmac.compare_digest(client.secret.encode(), secret.encode()) else None

    def issue(self, client: RestClient, scopes: frozenset[str]) -> tuple[str, int]:
        value = secrets.token_urlsafe(32)
        now = time.monotonic()
        with self._lock:
            self._tokens = {k: t for k, t in self._tokens.items() if t.expires_at > now}  # forget expired
            self._tokens[value] = Token(client, scopes, now + self.ttl_seconds)
        return value, self.ttl_seconds

    def find(self, value: str) -> Token | None:
        token = self._tokens.get(value)
        return token if token is not None and token.expires_at > time.monotonic() else None


# -- each recipient's roster, from the published warehouse --------------------------------------
def _text_rows(rows: list[dict[str, Any]], header: list[str]) -> list[dict[str, str | None]]:
    """Rows as the CSV binding writes them (text; None where the file's field is empty)."""
    return [{column: (oneroster.csv_text(row.get(column)) or None) for column in header} for row in rows]


# A recipient's served history, in its publish state (state.py): each record's content hash
# (None once deleted) and its dateLastModified, by (entity, sourcedId).
HASHES, STAMPS = "oneroster_rest", "oneroster_rest_stamps"


def build_roster_records(
    roster: Roster, root_url: str, hashes: dict[StateKey, str | None], stamps: dict[StateKey, str], release_stamp: str
) -> tuple[dict[str, dict[str, dict[str, Any]]], dict[StateKey, str | None], dict[StateKey, str]]:
    """The recipient's records as served, and the history (`hashes`, `stamps`) updated for this
    release: a record unchanged since the last release keeps its dateLastModified, a new or
    changed one takes the release's, and one that is gone is kept as `tobedeleted` with the
    release's."""
    files = oneroster.bundle_files(roster, VERSION)
    with_programs = "programs" in roster.fields
    text = {
        name: _text_rows(rows, oneroster.columns(VERSION, name, with_programs=with_programs))
        for name, rows in files.items()
    }
    records = build_records(text, RecordBuilder(root_url, release_stamp))
    new_hashes: dict[StateKey, str | None] = {}
    new_stamps: dict[StateKey, str] = {}
    for entity in ENTITIES:
        for sourced_id, record in records[entity].items():
            key = (entity, sourced_id)
            # A user's roles live inside the user record: its hash covers them.
            new_hashes[key] = content_hash({k: v for k, v in record.items() if k != "dateLastModified"})
            unchanged = key in hashes and hashes[key] == new_hashes[key]
            record["dateLastModified"] = new_stamps[key] = stamps[key] if unchanged else release_stamp
    for key, digest in hashes.items():
        if key in new_hashes:
            continue
        entity, sourced_id = key
        new_hashes[key] = None  # deleted, kept for delta readers
        new_stamps[key] = release_stamp if digest is not None else stamps[key]  # deleted now, or earlier
        records[entity][sourced_id] = {"sourcedId": sourced_id, "status": DELETED, "dateLastModified": new_stamps[key]}
    return records, new_hashes, new_stamps


@dataclass
class Snapshot:
    release: tuple[int, int]  # the published file's inode and modification time
    reader: RosterReader


RosterLoader = Callable[[Path, RecipientSettings], Roster]


def roster_from_warehouse(warehouse: Path, settings: RecipientSettings) -> Roster:
    """The recipient's roster from the released warehouse, opened read-only and closed again."""
    with open_warehouse(str(warehouse)) as con:
        return load_roster(con, settings)


class RosterStore:
    """Each recipient's roster from the current release, rebuilt when a new release lands."""

    def __init__(
        self, config: DistrictConfig, warehouse: Path, root_url: str, loader: RosterLoader = roster_from_warehouse
    ):
        self.config = config
        self.warehouse = warehouse
        self.root_url = root_url
        self.loader = loader
        self._snapshots: dict[str, Snapshot] = {}
        self._lock = threading.Lock()

    def release(self) -> tuple[int, int] | None:
        try:
            stat = self.warehouse.stat()
        except FileNotFoundError:
            return None
        return stat.st_ino, stat.st_mtime_ns

    def current(self, recipient: str) -> RosterReader | None:
        """The recipient's roster if it is built for the current release; None if it needs building."""
        snapshot = self._snapshots.get(recipient)
        return snapshot.reader if snapshot is not None and snapshot.release == self.release() else None

    def build(self, recipient: str) -> RosterReader:
        """Build (once per release, whoever asks first) and return the recipient's roster."""
        with self._lock:
            release = self.release()
            if release is None:
                raise FileNotFoundError(f"no published warehouse at {self.warehouse}: run the pipeline first")
            snapshot = self._snapshots.get(recipient)
            if snapshot is not None and snapshot.release == release:
                return snapshot.reader
            started = time.perf_counter()
            stamp = iso_timestamp(datetime.fromtimestamp(release[1] / 1e9, UTC))
            paths = [state_path(self.config.data_dir, recipient, kind) for kind in (HASHES, STAMPS)]
            hashes, stamps = (load_state(path) or {} for path in paths)
            roster = self.loader(self.warehouse, self.config.recipients[recipient])
            records, hashes, stamps = build_roster_records(roster, self.root_url, hashes, stamps, stamp)
            for path, state in zip(paths, (hashes, stamps), strict=True):
                save_state(path, state)
            reader = RosterReader(records)
            self._snapshots[recipient] = Snapshot(release, reader)
            counts = ", ".join(f"{e} {len(r)}" for e, r in records.items() if r)
            log.info(
                "%s: roster of release %s built in %.1fs (%s)", recipient, stamp, time.perf_counter() - started, counts
            )
            return reader


# -- HTTP --------------------------------------------------------------------------------------
def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _imsx(status: int, description: str, code_minor: str | None = None, headers: dict[str, str] | None = None):
    return _json(status, imsx_body(status, description, code_minor), headers)


def _client_credentials(request: Request, form: dict[str, str]) -> tuple[str | None, str | None]:
    """HTTP Basic (RFC 6749's preferred way), or client_id and client_secret in the form."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:], validate=True).decode("utf-8").partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None, None
        return client_id, secret
    return form.get("client_id"), form.get("client_secret")


def create_app(
    config: DistrictConfig,
    clients: dict[str, RestClient],
    *,
    warehouse: Path | None = None,
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
    public_url: str | None = None,
    loader: RosterLoader = roster_from_warehouse,
) -> Starlette:
    """The ASGI app. `public_url` is where clients reach it (hrefs and Link headers use it);
    without it, each request's own host. `loader` reads a recipient's roster from a release
    (benchmarks give it a synthesized one)."""
    tokens = TokenStore(clients, token_ttl_seconds)
    stores: dict[str, RosterStore] = {}
    published = warehouse or config.published_warehouse_path

    def store_for(base: str) -> RosterStore:
        # Records carry absolute hrefs, so a roster is built per base URL clients use (one, usually).
        if base not in stores:
            stores[base] = RosterStore(config, published, base + ROSTERING_PATH, loader)
        return stores[base]

    def base_url(request: Request) -> str:
        return (public_url or f"{request.url.scheme}://{request.url.netloc}").rstrip("/")

    async def token(request: Request) -> Response:
        # application/x-www-form-urlencoded, the only body the client-credentials grant sends.
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        client = tokens.authenticate(*_client_credentials(request, form))
        if client is None:
            return _json(401, {"error": "invalid_client"}, {"WWW-Authenticate": 'Basic realm="oneroster"'})
        if form.get("grant_type") != "client_credentials":
            return _json(400, {"error": "unsupported_grant_type"})
        requested = frozenset(form.get("scope", "").split())
        granted = requested & client.scopes if requested else client.scopes
        if not granted:
            return _json(400, {"error": "invalid_scope"})
        value, ttl = tokens.issue(client, granted)
        body = {"access_token": value, "token_type": "bearer", "expires_in": ttl, "scope": " ".join(sorted(granted))}
        return _json(200, body, {"Cache-Control": "no-store"})

    async def rostering(request: Request) -> Response:
        auth = request.headers.get("authorization", "")
        found = tokens.find(auth[7:]) if auth[:7].lower() == "bearer " else None
        if found is None:
            challenge = {"WWW-Authenticate": 'Bearer realm="oneroster", error="invalid_token"'}
            return _imsx(401, "missing, unknown or expired access token", "unauthorisedrequest", challenge)
        base = base_url(request)
        store = store_for(base)
        recipient = found.client.recipient
        reader = store.current(recipient)
        if reader is None:
            try:
                reader = await run_in_threadpool(store.build, recipient)
            except FileNotFoundError:
                return _imsx(503, "no release of the warehouse yet", "server_busy", {"Retry-After": "60"})
        query = dict(request.query_params)
        path = request.url.path

        def page_url(params: dict) -> str:
            return f"{base}{path}?{urlencode(params)}"

        answer = reader.read(request.path_params["tail"], query, found.scopes, page_url)
        return _json(answer.status, answer.body, answer.headers)

    return Starlette(
        routes=[
            Route(TOKEN_PATH, token, methods=["POST"]),
            Route(ROSTERING_PATH + "/{tail:path}", rostering, methods=["GET"]),
        ]
    )


def serve(
    config: DistrictConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8090,
    token_ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS,
    public_url: str | None = None,
) -> None:
    """Run until interrupted (uvicorn handles SIGINT and SIGTERM and stops cleanly)."""
    import uvicorn

    clients = rest_clients(config)
    if not clients:
        raise ConfigError(
            "no recipient reads its roster over REST: give one serve_client_id_env and serve_client_secret_env"
        )
    app = create_app(config, clients, token_ttl_seconds=token_ttl_seconds, public_url=public_url)
    # uvicorn stops gracefully on SIGINT or SIGTERM, then raises the signal again once its own
    # handlers are gone: both end here as a clean stop, not a traceback or a kill status.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        # access_log off: request lines carry sourcedIds in paths and filters.
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
    except KeyboardInterrupt:
        pass


@contextmanager
def running(app: Starlette, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The app served by uvicorn in a background thread (tests, benchmarks); yields its base URL."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, name="oneroster-rest", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the OneRoster REST server did not start")
        time.sleep(0.02)
    bound_host, bound_port = server.servers[0].sockets[0].getsockname()[:2]
    try:
        yield f"http://{bound_host}:{bound_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
