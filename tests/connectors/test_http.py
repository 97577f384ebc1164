"""connectors.http.BaseClient: the one request path, the error family, Retry-After, retries."""

from __future__ import annotations

import json
from email.utils import formatdate

import pytest
import requests
import responses
from responses import matchers

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
    ValidationError,
)
from connectors.http import (
    BaseClient,
    Exchange,
    call_with_retries,
    decode_body,
    parse_retry_after,
)

BASE = "http://api.test/v1"


class CountingBudget:
    def __init__(self) -> None:
        self.calls = 0

    def acquire(self, cost: int = 1) -> float:
        self.calls += cost
        return 0.0


@pytest.fixture
def client() -> BaseClient:
    return BaseClient(BASE, timeout=1.0)


@responses.activate
def test_success_returns_response_and_decoded_json(client: BaseClient) -> None:
    responses.get(
        f"{BASE}/things",
        json={"a": 1},
        match=[matchers.query_param_matcher({"q": "x"})],
    )
    response, body = client._request("GET", "things", params={"q": "x"})
    assert response.status_code == 200
    assert body == {"a": 1}


@responses.activate
def test_sends_json_body_user_agent_and_uses_budget() -> None:
    budget = CountingBudget()
    client = BaseClient(BASE, budget=budget, user_agent="ua-test/1")
    responses.post(
        f"{BASE}/things",
        json={"ok": True},
        match=[
            matchers.json_params_matcher({"name": "n"}),
            matchers.header_matcher({"User-Agent": "ua-test/1"}),
        ],
    )
    client._request("POST", "/things", json_body={"name": "n"})
    assert budget.calls == 1


@pytest.mark.parametrize(
    ("status", "error", "retryable"),
    [
        (400, ValidationError, False),
        (401, AuthError, False),
        (403, AuthError, False),
        (404, NotFound, False),
        (406, PermanentError, False),
        (409, TransientError, True),
        (422, ValidationError, False),
        (500, TransientError, True),
        (502, TransientError, True),
        (503, TransientError, True),
        (429, RateLimited, True),
    ],
)
@responses.activate
def test_status_maps_to_error_class(
    client: BaseClient, status: int, error: type[ConnectorError], retryable: bool
) -> None:
    responses.get(
        f"{BASE}/x",
        json={"message": f"boom {status}"},
        status=status,
        headers={"X-Request-Id": "req-1"},
    )
    with pytest.raises(error) as info:
        client._request("GET", "x")
    exc = info.value
    assert type(exc) is error
    assert exc.status == status
    assert exc.retryable is retryable
    assert exc.request_id == "req-1"
    assert exc.method == "GET"
    assert exc.path == "/v1/x"
    assert f"boom {status}" in exc.message
    assert exc.body == {"message": f"boom {status}"}


@responses.activate
def test_429_retry_after_seconds(client: BaseClient) -> None:
    responses.get(f"{BASE}/x", body="slow down", status=429, headers={"Retry-After": "7"})
    with pytest.raises(RateLimited) as info:
        client._request("GET", "x")
    assert info.value.retry_after == 7.0
    assert "slow down" in info.value.message


@responses.activate
def test_429_x_ratelimit_reset_relative(client: BaseClient) -> None:
    responses.get(f"{BASE}/x", status=429, headers={"X-RateLimit-Reset": "12"})
    with pytest.raises(RateLimited) as info:
        client._request("GET", "x")
    assert info.value.retry_after == 12.0


@responses.activate
def test_429_without_hint_defaults_to_one_second(client: BaseClient) -> None:
    responses.get(f"{BASE}/x", status=429)
    with pytest.raises(RateLimited) as info:
        client._request("GET", "x")
    assert info.value.retry_after == 1.0


def test_parse_retry_after_forms() -> None:
    now = 1_700_000_000.0
    assert parse_retry_after({"Retry-After": " 3 "}, now=now) == 3.0
    assert parse_retry_after({"Retry-After": "2.5"}, now=now) == 2.5
    date = formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"Retry-After": date}, now=now) == pytest.approx(30.0)
    assert parse_retry_after({"X-RateLimit-Reset": str(int(now + 45))}, now=now) == 45.0
    assert parse_retry_after({"X-RateLimit-Reset": "20"}, now=now) == 20.0
    assert parse_retry_after({"Retry-After": "-5"}, now=now) == 0.0
    assert parse_retry_after({"X-RateLimit-Reset": "soon"}, now=now) is None
    assert parse_retry_after({}, now=now) is None


@responses.activate
def test_timeout_is_transient(client: BaseClient) -> None:
    responses.get(f"{BASE}/x", body=requests.ReadTimeout("read timed out"))
    with pytest.raises(TransientError) as info:
        client._request("GET", "x")
    assert "timed out" in info.value.message
    assert not isinstance(info.value, RateLimited)


@responses.activate
def test_connection_error_is_transient(client: BaseClient) -> None:
    responses.get(f"{BASE}/x", body=requests.ConnectionError("refused"))
    with pytest.raises(TransientError) as info:
        client._request("GET", "x")
    assert "connection failed" in info.value.message


@responses.activate
def test_empty_json_body_decodes_to_none(client: BaseClient) -> None:
    # FreeAgent answers DELETE with application/json and zero bytes.
    responses.delete(f"{BASE}/x/1", body=b"", status=200, content_type="application/json")
    response, body = client._request("DELETE", "x/1")
    assert response.status_code == 200
    assert body is None


def test_decode_body_variants() -> None:
    def make(content: bytes, ctype: str) -> requests.Response:
        r = requests.Response()
        r._content = content
        r.headers["Content-Type"] = ctype
        r.encoding = "utf-8"
        return r

    assert decode_body(make(b"", "application/json")) is None
    assert decode_body(make(b'{"a":1}', "text/plain")) == {"a": 1}
    assert decode_body(make(b"{broken", "application/json")) == "{broken"
    assert decode_body(make(b"HTTP Basic: Access denied.", "text/html")) == (
        "HTTP Basic: Access denied."
    )


@responses.activate
def test_exchange_hook_redacts_authorization() -> None:
    seen: list[Exchange] = []
    client = BaseClient(BASE, on_exchange=seen.append)
    responses.get(f"{BASE}/x", json={"ok": 1})
    client._request("GET", "x", headers={"Authorization": "Bearer secret-token"})
    assert len(seen) == 1
    assert seen[0].status == 200
    assert seen[0].request_headers["Authorization"] == "***"
    assert "secret-token" not in json.dumps(seen[0].request_headers)


def test_call_with_retries_retries_transient_then_succeeds() -> None:
    sleeps: list[float] = []
    calls = {"n": 0}

    def flaky() -> str:
        calls["n"] += 1
        if calls["n"] < 3:
            raise TransientError("503")
        return "ok"

    assert call_with_retries(flaky, max_attempts=4, sleep=sleeps.append) == "ok"
    assert calls["n"] == 3
    assert len(sleeps) == 2
    assert all(0.5 <= s <= 30.0 for s in sleeps)


def test_call_with_retries_gives_up_after_max_attempts() -> None:
    calls = {"n": 0}

    def broken() -> None:
        calls["n"] += 1
        raise TransientError("down")

    with pytest.raises(TransientError):
        call_with_retries(broken, max_attempts=3, sleep=lambda s: None)
    assert calls["n"] == 3


def test_call_with_retries_never_retries_permanent_errors() -> None:
    calls = {"n": 0}

    def invalid() -> None:
        calls["n"] += 1
        raise ValidationError("bad")

    with pytest.raises(ValidationError):
        call_with_retries(invalid, max_attempts=5, sleep=lambda s: None)
    assert calls["n"] == 1


def test_rate_limit_waits_do_not_use_attempts() -> None:
    sleeps: list[float] = []
    calls = {"n": 0}

    def limited() -> str:
        calls["n"] += 1
        if calls["n"] <= 5:
            raise RateLimited("429", retry_after=2.0)
        return "done"

    # Five 429s with only two attempts allowed: still succeeds, sleeping Retry-After each time.
    assert call_with_retries(limited, max_attempts=2, sleep=sleeps.append) == "done"
    assert sleeps == [2.0] * 5


def test_rate_limit_wait_is_bounded() -> None:
    sleeps: list[float] = []

    def always_limited() -> None:
        raise RateLimited("429", retry_after=40.0)

    with pytest.raises(RateLimited):
        call_with_retries(always_limited, max_rate_limit_wait=100.0, sleep=sleeps.append)
    assert sleeps == [40.0, 40.0]


@responses.activate
def test_proxies_come_from_the_environment_once_and_netrc_is_never_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A proxy in the environment is honoured (resolved once per host); ~/.netrc, which
    requests would otherwise read before every request, is not: our requests carry their
    own credentials."""
    import requests.sessions
    import requests.utils

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "api.example.com")
    lookups: list[str] = []
    real = requests.utils.get_environ_proxies

    def counted(url: str, no_proxy: str | None = None) -> dict[str, str]:
        lookups.append(url)
        return real(url, no_proxy=no_proxy)

    def no_netrc(*args: object, **kwargs: object) -> None:
        raise AssertionError("~/.netrc was read")

    monkeypatch.setattr(requests.utils, "get_environ_proxies", counted)
    monkeypatch.setattr(requests.sessions, "get_netrc_auth", no_netrc)
    monkeypatch.setattr(requests.utils, "get_netrc_auth", no_netrc)
    responses.add(responses.GET, "https://api.example.com/v1/ping", json={"ok": True})
    client = BaseClient("https://api.example.com/v1")
    for _ in range(3):
        client._request("GET", "ping")
    assert len(responses.calls) == 3
    assert len(lookups) <= 1
    proxied = BaseClient("https://shop.example.org")
    prepared = proxied.session.prepare_request(
        requests.Request("GET", "https://shop.example.org/x")
    )
    assert proxied._proxies_for(prepared).get("https") == "http://proxy.internal:3128"
