"""The one HTTP client every REST connector uses.

A urllib3 connection pool whose Retry handles what the transport can: connection errors, read
timeouts, a body that arrives cut short, and 429/5xx answers (honouring Retry-After). On top of
it, :meth:`ApiClient.get_json` handles what only the application can see: an expired token
(401 → fetch a new one and repeat; see `token_renewals`), a vendor's own throttling
answer (Canvas sends 403), and a body that is not JSON (fetched again a few times, then a
:class:`ContractError` naming system, endpoint and page). Bodies are never logged or put in
messages: they carry student data.

urllib3 rather than a requests Session: an Ed-Fi load is tens of thousands of single-record
POSTs, and requests' own work per request (merging settings, cookies, hooks, a CA-bundle stat)
was a third of the client's CPU for each one.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import certifi
import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from urllib3.util.retry import Retry

RETRY_STATUSES = (429, 500, 502, 503, 504)


class ApiError(RuntimeError):
    """A request that failed for good, named by system, endpoint and page (never by its data)."""

    def __init__(self, system: str, endpoint: str, page: str | int | None, problem: str):
        self.system, self.endpoint, self.page, self.problem = system, endpoint, page, problem
        where = f"{system} {endpoint}" + (f" page {page}" if page is not None else "")
        super().__init__(f"{where}: {problem}")


class ContractError(ApiError):
    """The API answered, but not as its contract says (malformed JSON, a missing key field...)."""


class TokenSource(Protocol):
    def token(self) -> str: ...

    def invalidate(self, rejected: str) -> None: ...


@dataclass
class StaticToken:
    """A long-lived bearer token (a Canvas access token, for example). It cannot be renewed."""

    value: str

    def token(self) -> str:
        return self.value

    def invalidate(self, rejected: str) -> None:  # nothing to refresh: a 401 after this is fatal
        pass


@dataclass
class ClientCredentialsToken:
    """OAuth 2 client-credentials grant: fetched on first use, renewed shortly before it expires
    and whenever the API says it has (401). The ApiClient given this token (one client per token)
    asks the token endpoint with its own retries (`session`): a token endpoint throttles and times
    out like any other."""

    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str | None = None
    timeout: tuple[float, float] = (5.0, 30.0)
    renew_margin_seconds: float = 30.0
    session: requests.Session | None = None
    body_attempts: int = 4  # asks for an answer cut short or not JSON (HttpSettings.body_attempts)
    on_retry: Callable[[], None] | None = field(default=None, repr=False)  # told of each such ask again
    _value: str | None = field(default=None, init=False, repr=False)
    _expires_at: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    fetched: int = field(default=0, init=False)

    def token(self) -> str:
        with self._lock:
            if self._value is None or time.monotonic() >= self._expires_at - self.renew_margin_seconds:
                self._fetch()
            assert self._value is not None
            return self._value

    def invalidate(self, rejected: str) -> None:
        """Forget the token the API rejected, unless another request has already replaced it
        (requests in parallel get the same 401s; each dropping the newest token would have them
        renew over and over)."""
        with self._lock:
            if self._value == rejected:
                self._value = None

    def _fetch(self) -> None:
        data = {"grant_type": "client_credentials"}
        if self.scope:
            data["scope"] = self.scope
        endpoint = urlsplit(self.token_url).path
        for attempt in range(1, max(self.body_attempts, 1) + 1):
            body = self._answer(data, endpoint, last=attempt >= self.body_attempts)
            if body is not None:
                break
            if self.on_retry is not None:
                self.on_retry()
        try:
            self._value = str(body["access_token"])
            expires_in = float(body.get("expires_in", 3600))
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            raise ContractError("OAuth", endpoint, None, f"token response without access_token ({error})") from None
        self._expires_at = time.monotonic() + expires_in
        self.fetched += 1

    def _answer(self, data: dict[str, str], endpoint: str, *, last: bool) -> Any:
        """The token endpoint's JSON answer; None for an answer cut short or not JSON, unless this
        is the `last` ask (then a ContractError, as for the data requests' bodies)."""
        http = self.session or requests
        try:
            response = http.post(
                self.token_url, data=data, auth=(self.client_id, self.client_secret), timeout=self.timeout
            )
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as error:
            if not last:
                return None
            raise ContractError("OAuth", endpoint, None, f"token response cut short ({type(error).__name__})") from None
        except requests.RequestException as error:
            # Named by type, never by message: what the last attempt met when retries ran out
            # (urllib3's MaxRetryError carries it), else requests' own error.
            reason = getattr(error.args[0] if error.args else None, "reason", None)
            what = type(reason if isinstance(reason, Exception) else error).__name__
            retried = " after retries" if self.session is not None else ""
            raise ApiError("OAuth", endpoint, None, f"token request failed: {what}{retried}") from None
        if response.status_code != 200:
            # The body may echo the client id; it never holds the secret, but keep it out anyway.
            raise ApiError("OAuth", endpoint, None, f"token request refused with HTTP {response.status_code}")
        try:
            return response.json()
        except ValueError:
            if not last:
                return None
            raise ContractError("OAuth", endpoint, None, "token response is not JSON") from None


# 401s once the API has taken the client's tokens (expiries), retried with a new token per request;
# after this many 401s in a row across the client with no token taken in between, the client is
# treated as refused (its app deauthorized while the token endpoint still issues tokens).
EXPIRED_TOKEN_RETRIES = 20
REFUSALS_IN_A_ROW = 64


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts and retry budget; the district config's API source settings fill these in."""

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 6
    backoff_seconds: float = 0.5  # first retry waits this long, then doubles (capped)
    backoff_max_seconds: float = 30.0
    body_attempts: int = 4  # fetches of one page whose body is not JSON
    # 401 → new token → same request, at most this often per request while the API has taken no
    # token of the client (a refused secret, a revoked client) or has refused REFUSALS_IN_A_ROW
    # since it last took one; otherwise a 401 is an expiry, renewed up to EXPIRED_TOKEN_RETRIES
    # times per request.
    token_renewals: int = 3


@dataclass
class JsonResponse:
    """A decoded page: its JSON body, headers, and the whole URL asked (its query included)."""

    body: Any
    headers: Mapping[str, str]
    url: str
    status: int


class _CountingRetry(Retry):
    """urllib3 Retry that reports every retry it makes to the client's counter."""

    on_retry: Callable[[], None] | None = None

    def increment(self, *args: Any, **kwargs: Any) -> Retry:
        new = super().increment(*args, **kwargs)
        new.on_retry = self.on_retry
        if self.on_retry is not None:
            self.on_retry()
        return new


class ApiClient:
    """GETs (and POSTs) JSON from one system. Thread-safe for concurrent page fetches."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        auth: TokenSource | None = None,
        settings: HttpSettings | None = None,
        is_throttled: Callable[[urllib3.BaseHTTPResponse], bool] | None = None,
        user_agent: str = "interop-pipeline",
    ):
        self.system = system
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.settings = settings or HttpSettings()
        self.is_throttled = is_throttled
        self.retries = 0  # transport and application retries of this client, for asset metadata
        self._refused_since_taken: int | None = None  # 401s since the API last took a token; None: never took one
        self.requests = 0
        self._lock = threading.Lock()
        retry = _CountingRetry(
            total=self.settings.max_retries,
            connect=self.settings.max_retries,
            read=self.settings.max_retries,
            status=self.settings.max_retries,
            status_forcelist=RETRY_STATUSES,
            # POSTs here are upserts by natural key or token requests, so repeating one is safe.
            allowed_methods=None,
            backoff_factor=self.settings.backoff_seconds,
            backoff_max=self.settings.backoff_max_seconds,
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        retry.on_retry = self._count_retry
        timeout = urllib3.Timeout(connect=self.settings.connect_timeout, read=self.settings.read_timeout)
        self.pool = _pool_for(self.base_url, retries=retry, timeout=timeout, maxsize=16)
        self._token_session: requests.Session | None = None
        if isinstance(auth, ClientCredentialsToken) and auth.session is None:
            # The token endpoint (often another host) is asked with the same retries, counted
            # with this client's.
            self._token_session = auth.session = requests.Session()
            for scheme in ("http://", "https://"):
                auth.session.mount(scheme, HTTPAdapter(max_retries=retry))
            auth.body_attempts, auth.on_retry = self.settings.body_attempts, self._count_retry
        self._headers = {"Accept": "application/json", "Accept-Encoding": "gzip, deflate", "User-Agent": user_agent}

    def _count_retry(self) -> None:
        with self._lock:
            self.retries += 1

    def url(self, path_or_url: str) -> str:
        """Absolute URLs (paging links) are used as given; paths are joined to the base URL."""
        if path_or_url.startswith(("http://", "https://")):
            return path_or_url
        return f"{self.base_url}/{path_or_url.lstrip('/')}"

    def get_json(
        self,
        path_or_url: str,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        *,
        page: str | int | None = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (200,),
    ) -> JsonResponse:
        return self.request("GET", path_or_url, params=params, page=page, headers=headers, ok_statuses=ok_statuses)

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        page: str | int | None = None,
        headers: Mapping[str, str] | None = None,
        ok_statuses: tuple[int, ...] = (200,),
    ) -> JsonResponse:
        """One JSON request, surviving the faults vendors produce; an answer outside
        `ok_statuses` after every retry raises ApiError (or ContractError for a bad body).
        `json_body` is encoded to JSON once, unless it is bytes: JSON already encoded."""
        url = _with_query(self.url(path_or_url), params)
        payload = json_body
        if json_body is not None and not isinstance(json_body, bytes):
            payload = json.dumps(json_body).encode("utf-8")
        endpoint = urlsplit(url).path
        renewals = expiries = 0
        body_failures = 0
        throttle_waits = 0
        while True:
            token = self.auth.token() if self.auth is not None else None
            response = self._send(method, url, payload, headers, endpoint, page, token)
            if response.status == 401 and token is not None:
                # Tokens expire mid-walk; fetch a new one and repeat this request. Once the API has
                # taken one of this client's tokens, its secret is good and a 401 is an expiry:
                # renewing always helps, up to a generous bound (requests in parallel can use up a
                # use-limited token before this one is sent, and before any answer shows that the
                # token was taken). Before that, a small bound: a refused client still fails.
                self.auth.invalidate(token)
                with self._lock:
                    if self._refused_since_taken is not None:
                        self._refused_since_taken += 1
                    expired = self._refused_since_taken is not None and self._refused_since_taken <= REFUSALS_IN_A_ROW
                if expired:
                    expiries += 1
                else:
                    renewals += 1
                if renewals <= self.settings.token_renewals and expiries <= EXPIRED_TOKEN_RETRIES:
                    self._count_retry()
                    continue
            elif token is not None and response.status < 500 and response.status not in (403, 429):
                self._refused_since_taken = 0
            if self.is_throttled is not None and self.is_throttled(response):
                throttle_waits += 1
                if throttle_waits > self.settings.max_retries:
                    raise ApiError(self.system, endpoint, page, "still throttled after every retry")
                self._count_retry()
                time.sleep(self._throttle_wait(response, throttle_waits))
                continue
            if response.status not in ok_statuses:
                raise ApiError(self.system, endpoint, page, _status_problem(response))
            try:
                body = json.loads(response.data) if response.data else None
            except ValueError as error:
                body_failures += 1
                if body_failures >= self.settings.body_attempts:
                    raise ContractError(
                        self.system, endpoint, page, f"malformed JSON after {body_failures} fetches ({error})"
                    ) from None
                self._count_retry()
                continue
            return JsonResponse(body=body, headers=response.headers, url=url, status=response.status)

    def _send(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str] | None,
        endpoint: str,
        page: str | int | None,
        token: str | None,
    ) -> urllib3.BaseHTTPResponse:
        """One request with this bearer token, transport retries included (a body cut short is
        one: urllib3 reads it whole inside its retry loop)."""
        all_headers = {**self._headers, **(headers or {})}
        if token is not None:
            all_headers["Authorization"] = f"Bearer {token}"
        if body is not None:
            all_headers["Content-Type"] = "application/json"
        with self._lock:
            self.requests += 1
        try:
            return self.pool.request(method, url, body=body, headers=all_headers)
        except urllib3.exceptions.MaxRetryError as error:
            # Transport retries are spent: name the failure without the URL's query string.
            raise ApiError(self.system, endpoint, page, f"{type(error.reason).__name__} after retries") from None
        except urllib3.exceptions.HTTPError as error:
            raise ApiError(self.system, endpoint, page, f"{type(error).__name__}") from None

    def _throttle_wait(self, response: urllib3.BaseHTTPResponse, attempt: int) -> float:
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None:
            try:
                return min(float(retry_after), self.settings.backoff_max_seconds)
            except ValueError:
                pass
        return min(self.settings.backoff_seconds * 2 ** (attempt - 1), self.settings.backoff_max_seconds)

    def close(self) -> None:
        self.pool.clear()
        if self._token_session is not None:
            self._token_session.close()


def _pool_for(base_url: str, **options: Any) -> urllib3.PoolManager:
    """Connections to the API's host, with the environment (a proxy unless NO_PROXY says
    otherwise, a CA bundle) read once. No ~/.netrc lookup: an entry for the vendor's host would
    replace the bearer token with Basic credentials."""
    options["ca_certs"] = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or certifi.where()
    proxies = get_environ_proxies(base_url)  # empty where NO_PROXY says
    proxy = proxies.get(urlsplit(base_url).scheme) or proxies.get("all")
    if not proxy:
        return urllib3.PoolManager(**options)
    credentials = urllib3.util.parse_url(proxy).auth
    proxy_headers = urllib3.make_headers(proxy_basic_auth=credentials) if credentials else None
    return urllib3.ProxyManager(proxy, proxy_headers=proxy_headers, **options)


def _with_query(url: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None) -> str:
    """The URL with `params` appended to any query it has, as requests encodes them: a list value
    repeats its key, a None value is left out."""
    if not params:
        return url
    items = params.items() if isinstance(params, Mapping) else params
    pairs = [
        (key, value)
        for key, values in items
        for value in (values if isinstance(values, list | tuple) else [values])
        if value is not None
    ]
    if not pairs:
        return url
    return f"{url}{'&' if urlsplit(url).query else '?'}{urlencode(pairs)}"


def _status_problem(response: urllib3.BaseHTTPResponse) -> str:
    """HTTP status and, where the API gives one, its short error code: never the whole body."""
    return f"HTTP {response.status} {response.reason or ''}".strip()
