"""Base for the simulated vendor APIs: a real HTTP server on 127.0.0.1 with OAuth tokens,
routing, and switchable faults.

Each system's simulator subclasses :class:`SimulatedApi`, registers its routes and says how that
system words an error or a throttle. Faults are deterministic (every Nth data request), so a test
that switches them all on sees every kind and still finishes: a retried request is a new request
and, one request later, is answered normally.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Faults:
    """Every Nth data request (0 = never) gets the fault; token requests are counted apart."""

    throttle_every: int = 0  # the system's throttle answer (429, or Canvas's 403) with Retry-After
    unavailable_every: int = 0  # 503 with Retry-After
    error_every: int = 0  # 500
    slow_every: int = 0  # answered only after slow_seconds (longer than the client's read timeout)
    slow_seconds: float = 1.5
    truncate_every: int = 0  # Content-Length of the whole body, then the connection closes halfway
    malformed_every: int = 0  # 200 with a body that is not JSON
    expire_token_after: int = 0  # a token dies after this many uses, so it expires mid-walk
    token_unavailable_every: int = 0  # every Nth token request: 503 with Retry-After
    token_truncate_every: int = 0  # every Nth token answer cut off halfway (as truncate_every)
    change_every: int = 0  # the simulator's change hook runs (records change between pages)
    retry_after_seconds: int = 1

    @classmethod
    def all_on(cls) -> Faults:
        """Every fault, at co-prime periods so they hit different requests."""
        return cls(
            throttle_every=7,
            unavailable_every=11,
            error_every=13,
            slow_every=17,
            truncate_every=19,
            malformed_every=23,
            expire_token_after=29,
            token_unavailable_every=2,
            token_truncate_every=3,
            change_every=5,
        )

    def due(self, every: int, count: int) -> bool:
        return every > 0 and count % every == 0


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def args(self, name: str) -> list[str]:
        return self.query.get(name, [])

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8")).items()}


@dataclass
class Response:
    status: int = 200
    body: Any = None  # JSON-able, or bytes/str sent as they are
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    # "truncate": cut off halfway as it is sent. Set by routes that need no token (the token
    # endpoint); the others' send faults come from _next_fault.
    send_fault: str | None = None

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return b"" if self.body is None else json.dumps(self.body).encode("utf-8")


Handler = Callable[[Request], Response]


class TokenIssuer:
    """OAuth 2 client-credentials tokens with a lifetime and, under fault, a use budget."""

    def __init__(self, clients: dict[str, str], ttl_seconds: int = 3600, uses_per_token: int = 0):
        self.clients = dict(clients)
        self.ttl_seconds = ttl_seconds
        self.uses_per_token = uses_per_token
        self._tokens: dict[str, list[float]] = {}  # token -> [expires_at, uses left]
        self._lock = threading.Lock()
        self.issued = 0

    def authenticate(self, request: Request) -> str | None:
        """The client id if the request carries valid client credentials (Basic or form)."""
        client_id = secret = None
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("basic "):
            try:
                client_id, _, secret = base64.b64decode(auth[6:]).decode("utf-8").partition(":")
            except ValueError:
                return None
        else:
            form = request.form() if request.body else {}
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if client_id is not None and self.clients.get(client_id) == secret:
            return client_id
        return None

    def issue(self) -> dict[str, Any]:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = [time.monotonic() + self.ttl_seconds, float(self.uses_per_token or -1)]
            self.issued += 1
        return {"access_token": token, "token_type": "bearer", "expires_in": self.ttl_seconds}

    def check(self, request: Request) -> bool:
        auth = request.headers.get("authorization", "")
        if not auth.lower().startswith("bearer "):
            return False
        token = auth[7:]
        with self._lock:
            entry = self._tokens.get(token)
            if entry is None or time.monotonic() >= entry[0] or entry[1] == 0:
                return False
            if entry[1] > 0:
                entry[1] -= 1
            return True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # A real server's listen backlog. With the default of 5, a burst of parallel connections on a
    # busy machine overflows it, and a dropped connection waits for the client to send it again
    # (a second), past a short connect timeout.
    request_queue_size = 128


class SimulatedApi:
    """A vendor API on 127.0.0.1. Subclasses add routes in `__init__` with :meth:`route`."""

    system = "API"
    token_path: str | None = "/oauth/token"

    def __init__(
        self,
        *,
        clients: dict[str, str] | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        token_ttl_seconds: int = 3600,
    ):
        self.faults = faults or Faults()
        self.tokens = TokenIssuer(clients or {}, token_ttl_seconds, self.faults.expire_token_after)
        self._routes: list[tuple[str, re.Pattern[str], Handler, bool]] = []
        self._host, self._port = host, port
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.data_requests = 0
        self.token_requests = 0
        self.faults_served: dict[str, int] = {}
        if self.token_path:
            self.route("POST", re.escape(self.token_path), self._token_request, authenticated=False)

    # -- routes ---------------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler, *, authenticated: bool = True) -> None:
        self._routes.append((method, re.compile(pattern + r"/?"), handler, authenticated))

    def _token_request(self, request: Request) -> Response:
        """The token endpoint, down now and then, or its answer cut short, under the token faults."""
        with self._lock:
            self.token_requests += 1
            fault = None
            if self.faults.due(self.faults.token_unavailable_every, self.token_requests):
                fault = "token_unavailable"
            elif self.faults.due(self.faults.token_truncate_every, self.token_requests):
                fault = "token_truncate"
            if fault:
                self.faults_served[fault] = self.faults_served.get(fault, 0) + 1
        if fault == "token_unavailable":
            response = self.error(503, "Service unavailable")
            response.headers["Retry-After"] = str(self.faults.retry_after_seconds)
            return response
        response = self._token_endpoint(request)
        if fault == "token_truncate":
            response.send_fault = "truncate"
        return response

    def _token_endpoint(self, request: Request) -> Response:
        if self.tokens.authenticate(request) is None:
            return Response(401, {"error": "invalid_client"})
        return Response(200, self.tokens.issue())

    # -- how this system words things (overridden per system) -----------------------------
    def error(self, status: int, message: str) -> Response:
        return Response(status, {"message": message})

    def throttled(self) -> Response:
        return self.error(429, "Too many requests")

    def unauthorized(self) -> Response:
        response = self.error(401, "Invalid or expired token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="api", error="invalid_token"'
        return response

    def on_change(self) -> None:
        """Change some records (the `change_every` fault): records that change between pages."""

    # -- serving --------------------------------------------------------------------------
    def handle(self, request: Request) -> tuple[Response, str | None]:
        """The response, and the fault to apply while sending it (truncate/slow) if any."""
        for method, pattern, handler, authenticated in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None or method != request.method:
                continue
            request.match = match
            if not authenticated:
                response = self._call(handler, request)
                return response, response.send_fault
            if not self.tokens.check(request):
                return self.unauthorized(), None
            fault = self._next_fault()
            if fault == "throttle":
                response = self.throttled()
                response.headers.setdefault("Retry-After", str(self.faults.retry_after_seconds))
                return response, None
            if fault == "unavailable":
                response = self.error(503, "Service unavailable")
                response.headers["Retry-After"] = str(self.faults.retry_after_seconds)
                return response, None
            if fault == "error":
                return self.error(500, "Internal server error"), None
            if fault == "malformed":
                return Response(200, b'{"truncated": [{"id": '), None
            if fault == "change":
                self.on_change()
            return self._call(handler, request), fault if fault in ("truncate", "slow") else None
        return self.error(404, f"No route for {request.method} {request.path}"), None

    def _call(self, handler: Handler, request: Request) -> Response:
        try:
            return handler(request)
        except ValueError as error:  # a bad parameter: the client's mistake, answered as such
            return self.error(400, str(error))

    def _next_fault(self) -> str | None:
        faults = self.faults
        with self._lock:
            self.data_requests += 1
            n = self.data_requests
            for name, every in (
                ("throttle", faults.throttle_every),
                ("unavailable", faults.unavailable_every),
                ("error", faults.error_every),
                ("malformed", faults.malformed_every),
                ("truncate", faults.truncate_every),
                ("slow", faults.slow_every),
                ("change", faults.change_every),
            ):
                if faults.due(every, n):
                    self.faults_served[name] = self.faults_served.get(name, 0) + 1
                    return name
        return None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{self.system} simulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> SimulatedApi:
        api = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes; without TCP_NODELAY the body waits for
            # the client's delayed ACK (~40 ms a request), which would dominate every walk.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                try:
                    response, fault = api.handle(request)
                except Exception as error:  # a simulator bug must show as a 500, not a hang
                    response, fault = api.error(500, f"simulator error: {type(error).__name__}"), None
                payload = response.payload()
                if fault == "slow":
                    time.sleep(api.faults.slow_seconds)
                try:
                    self._send(response, payload, fault)
                except (BrokenPipeError, ConnectionResetError):
                    # The client gave up first (its read timeout): what a slow server sees.
                    self.close_connection = True

            def _send(self, response: Response, payload: bytes, fault: str | None) -> None:
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                if fault == "truncate":
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(payload[: len(payload) // 2])
                    self.close_connection = True
                    return
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:  # quiet: URLs may hold IDs
                pass

        self._server = _Server((self._host, self._port), _Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name=f"{self.system}-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> SimulatedApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def paged(items: list[Any], offset: int, limit: int) -> list[Any]:
    return items[offset : offset + limit]


def int_arg(request: Request, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    """An integer query parameter, clamped; garbage raises ValueError for a 400."""
    raw = request.arg(name)
    value = default if raw in (None, "") else int(raw)
    if value < low:
        raise ValueError(f"{name} must be >= {low}")
    return min(value, high) if high is not None else value
