"""The shared HTTP client against a real simulated API with every fault switched on."""

from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from interop_pipeline.connectors.http import (
    EXPIRED_TOKEN_RETRIES,
    REFUSALS_IN_A_ROW,
    ApiClient,
    ApiError,
    ClientCredentialsToken,
    ContractError,
    HttpSettings,
)
from interop_pipeline.simulators.http_server import Faults, Response, SimulatedApi
from tests.api.support import EVERY_FAULT

FAST = HttpSettings(read_timeout=0.5, backoff_seconds=0.01, max_retries=8)


class NumbersApi(SimulatedApi):
    system = "Numbers"

    def __init__(self, **kw):
        super().__init__(clients={"district": "s3cret"}, **kw)
        self.route("GET", r"/numbers/(?P<n>\d+)", lambda r: Response(200, {"n": int(r.match["n"])}))
        self.route("GET", r"/broken", lambda r: Response(200, b"{not json"))


def _client(api: SimulatedApi, secret: str = "s3cret") -> ApiClient:
    token = ClientCredentialsToken(f"{api.base_url}/oauth/token", "district", secret, timeout=(1, 1))
    return ApiClient("Numbers", api.base_url, auth=token, settings=FAST)


def test_every_fault_is_survived_and_every_answer_is_right():
    faults = Faults.all_on()
    faults.retry_after_seconds = 0
    faults.slow_seconds = 0.8
    with NumbersApi(faults=faults) as api:
        client = _client(api)
        answers = [client.get_json(f"/numbers/{i}", page=i).body["n"] for i in range(120)]
    assert answers == list(range(120))
    # Every kind of fault happened and each cost a retry, not a record.
    assert set(api.faults_served) >= EVERY_FAULT
    assert client.retries >= sum(v for k, v in api.faults_served.items() if k != "change")
    assert client.auth.fetched >= 2  # the token expired mid-walk and was renewed


def test_a_late_401_for_a_replaced_token_does_not_drop_the_new_one():
    """Parallel requests sent with one expired token all get a 401: the first renews it, and
    the others' 401s must not throw the new token away (each would renew again, and a request
    could run out of renewals while the ODS kept accepting the current token)."""
    with NumbersApi() as api:
        token = ClientCredentialsToken(f"{api.base_url}/oauth/token", "district", "s3cret", timeout=(1, 1))
        expired = token.token()
        token.invalidate(expired)
        renewed = token.token()
        token.invalidate(expired)  # another request's 401, for the token already replaced
        assert token.token() == renewed and renewed != expired and token.fetched == 2
        token.invalidate(renewed)
        assert token.token() not in (expired, renewed) and token.fetched == 3


def test_tokens_used_up_by_parallel_requests_cost_no_record():
    """Tokens of three uses, eight requests in flight: most requests are sent with a token that
    others have already used up, some again and again. Every one is answered."""
    from concurrent.futures import ThreadPoolExecutor

    with NumbersApi(faults=Faults(expire_token_after=3)) as api:
        client = _client(api)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda i: client.get_json(f"/numbers/{i}").body["n"], range(400)))
    assert answers == list(range(400))
    assert client.auth.fetched > 400 / 3


def test_a_token_endpoint_down_now_and_then_costs_a_retry_not_a_request():
    """Every other token request is answered 503 (Retry-After): the token is asked again, the
    retry counted with the client's, and every request answered."""
    faults = Faults(expire_token_after=2, token_unavailable_every=2, retry_after_seconds=0)
    with NumbersApi(faults=faults) as api:
        client = _client(api)
        answers = [client.get_json(f"/numbers/{i}").body["n"] for i in range(20)]
    assert answers == list(range(20))
    assert api.faults_served["token_unavailable"] >= 5
    # Each renewal after a 401 is a retry, and so is each token request asked again.
    assert client.retries == (client.auth.fetched - 1) + api.faults_served["token_unavailable"]


def test_a_token_answer_cut_short_is_asked_again_and_every_time_fails_as_a_contract_break():
    """Every other token answer is cut off halfway: the token is asked again (a retry, counted)
    and every request answered. Cut short every time: a ContractError after body_attempts asks."""
    with NumbersApi(faults=Faults(expire_token_after=2, token_truncate_every=2)) as api:
        client = _client(api)
        answers = [client.get_json(f"/numbers/{i}").body["n"] for i in range(20)]
        assert answers == list(range(20))
        assert api.faults_served["token_truncate"] >= 5
        assert client.retries == (client.auth.fetched - 1) + api.faults_served["token_truncate"]
        api.faults.token_truncate_every = 1
        client = _client(api)
        with pytest.raises(ContractError, match="OAuth /oauth/token: token response cut short"):
            client.get_json("/numbers/1")
        assert client.retries == FAST.body_attempts - 1


def test_a_token_endpoint_that_stays_down_fails_naming_it_and_nothing_secret():
    """A token endpoint answering 503 to every retry, and one that refuses every connection (a
    port bound but not listening): each fails as an ApiError naming the endpoint and what the last
    attempt met, after the client's retries, without the secret."""
    few = HttpSettings(read_timeout=0.5, backoff_seconds=0.01, max_retries=3)
    with NumbersApi(faults=Faults(token_unavailable_every=1, retry_after_seconds=0)) as api:
        token = ClientCredentialsToken(f"{api.base_url}/oauth/token", "district", "s3cret", timeout=(1, 1))
        client = ApiClient("Numbers", api.base_url, auth=token, settings=few)
        with pytest.raises(ApiError, match="HTTP 503") as refused:
            client.get_json("/numbers/1")
    assert api.faults_served["token_unavailable"] == 1 + few.max_retries
    assert client.retries == few.max_retries
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
        token = ClientCredentialsToken(f"{base_url}/oauth/token", "district", "s3cret-never-shown", timeout=(1, 1))
        client = ApiClient("Numbers", base_url, auth=token, settings=few)
        with pytest.raises(
            ApiError, match="OAuth /oauth/token: token request failed: NewConnectionError after retries"
        ) as unreachable:
            client.get_json("/numbers/1")
    assert client.retries == few.max_retries
    for error in (refused, unreachable):
        assert "s3cret" not in str(error.value) and error.value.__cause__ is None


def test_a_token_the_api_never_accepts_fails_after_a_few_renewals():
    with NumbersApi() as api:
        client = _client(api)
        api.tokens.check = lambda request: False  # every token refused, as for a revoked client
        with pytest.raises(ApiError, match="401"):
            client.get_json("/numbers/1")
    assert client.auth.fetched == 1 + FAST.token_renewals


def test_a_client_the_api_stops_accepting_falls_back_to_a_few_renewals():
    """The API took the client's tokens, then refuses every one (its app deauthorized while the
    token endpoint still issues tokens): after REFUSALS_IN_A_ROW, each request fails after a few
    renewals instead of EXPIRED_TOKEN_RETRIES."""
    with NumbersApi() as api:
        client = _client(api)
        assert client.get_json("/numbers/1").body == {"n": 1}
        api.tokens.check = lambda request: False
        for n in range(20):
            with pytest.raises(ApiError, match="401"):
                client.get_json(f"/numbers/{n}")
    assert client.auth.fetched <= 1 + REFUSALS_IN_A_ROW + 20 * (FAST.token_renewals + 1)
    assert client.auth.fetched < 20 * EXPIRED_TOKEN_RETRIES / 2


def test_params_are_appended_to_the_query_and_the_answer_names_the_whole_url():
    """Paging builds the next URL from the answered one (OneRoster's X-Total-Count paging), so
    it must be absolute, with the query as sent: a list repeats its key, None is left out."""
    with NumbersApi() as api:
        client, base_url = _client(api), api.base_url
        first = client.get_json("/numbers/4", {"fields": ["id", "name"], "filter": None, "limit": 2})
        link = client.get_json(f"{base_url}/numbers/5?offset=2", [("limit", 2)])
    assert first.body == {"n": 4} and link.body == {"n": 5}
    assert first.url == f"{base_url}/numbers/4?fields=id&fields=name&limit=2"
    assert link.url == f"{base_url}/numbers/5?offset=2&limit=2"


def test_malformed_json_that_never_heals_names_system_endpoint_and_page():
    with NumbersApi() as api:
        with pytest.raises(ContractError, match=r"Numbers /broken page 3: malformed JSON"):
            _client(api).get_json("/broken", page=3)


def test_wrong_secret_fails_clearly_without_the_secret():
    with NumbersApi() as api:
        with pytest.raises(ApiError) as error:
            _client(api, secret="wrong-secret").get_json("/numbers/1")
    assert "HTTP 401" in str(error.value) and "wrong-secret" not in str(error.value)


def test_unknown_path_is_an_api_error_not_a_stack_trace():
    with NumbersApi() as api:
        with pytest.raises(ApiError, match=r"Numbers /nowhere page 1: HTTP 404"):
            _client(api).get_json("/nowhere", page=1)


class _Proxy(BaseHTTPRequestHandler):
    """A forward proxy that answers every request itself and remembers what it was asked."""

    seen: list[str] = []

    def do_GET(self):
        _Proxy.seen.append(self.path)  # a proxy is asked for the absolute URL
        body = b'{"n": 7}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_environment_is_read_once_per_client_proxies_and_no_proxy_honoured(monkeypatch):
    for var in ("HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    proxy = ThreadingHTTPServer(("127.0.0.1", 0), _Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        with NumbersApi() as api:
            base_url = api.base_url
            monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
            through_proxy = ApiClient("Numbers", api.base_url, settings=FAST)
            monkeypatch.setenv("NO_PROXY", "127.0.0.1")
            direct = _client(api)
            monkeypatch.delenv("HTTP_PROXY")  # read when each client was made, not per request
            assert through_proxy.get_json("/numbers/1").body == {"n": 7}
            assert direct.get_json("/numbers/2").body == {"n": 2}
    finally:
        proxy.shutdown()
    assert _Proxy.seen == [f"{base_url}/numbers/1"]


def test_a_netrc_entry_for_the_host_does_not_replace_the_bearer_token(tmp_path, monkeypatch):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-token\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    monkeypatch.setenv("HOME", str(tmp_path))
    with NumbersApi() as api:
        client = _client(api)
        assert client.get_json("/numbers/3").body == {"n": 3}
    assert client.auth.fetched == 1  # the bearer token went out and was accepted the first time
