"""WSSE signing, OAuth token caching/refresh, and both schemes against the simulator."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
import requests
import responses
from responses import matchers

from connectors.emarsys import EmarsysClient, OAuth2ClientCredentials, WsseAuth, reply_code_of
from connectors.emarsys.auth import utc_timestamp, wsse_digest, wsse_header
from connectors.errors import AuthError, TransientError
from connectors.http import call_with_retries

from .conftest import BASE, sim_post

TOKEN_URL = "https://auth.emarsys.test/oauth2/token"
FIELDS_OK = {"replyCode": 0, "replyText": "OK", "data": []}
WSSE_RE = re.compile(
    r'^UsernameToken Username="(?P<user>[^"]+)", PasswordDigest="(?P<digest>[^"]+)", '
    r'Nonce="(?P<nonce>[0-9a-f]{32})", Created="(?P<created>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)"$'
)


def test_wsse_digest_is_base64_of_the_hex_sha1() -> None:
    nonce, created, secret = (
        "d36e316282959a9ed4c89851497a717f",
        "2014-03-20T12:51:45Z",
        "customersecret",
    )
    # The algorithm, spelled out: SHA-1 over nonce+created+secret, hex-encoded, then base64.
    hex_digest = hashlib.sha1((nonce + created + secret).encode()).hexdigest()
    assert hex_digest == "ad25a9cbd966e558863d375a46edd0f89b6ee98c"
    assert base64.b64encode(hex_digest.encode()).decode() == wsse_digest(nonce, created, secret)
    assert (
        wsse_digest(nonce, created, secret)
        == "YWQyNWE5Y2JkOTY2ZTU1ODg2M2QzNzVhNDZlZGQwZjg5YjZlZTk4Yw=="
    )
    # Not the raw-bytes encoding (the classic bug).
    assert wsse_digest(nonce, created, secret) != "rSWpy9lm5ViGPTdaRu3Q+Jtu6Yw="
    assert wsse_header("acct001", secret, nonce=nonce, created=created) == (
        'UsernameToken Username="acct001", '
        'PasswordDigest="YWQyNWE5Y2JkOTY2ZTU1ODg2M2QzNzVhNDZlZGQwZjg5YjZlZTk4Yw==", '
        'Nonce="d36e316282959a9ed4c89851497a717f", Created="2014-03-20T12:51:45Z"'
    )


def test_created_is_utc_iso8601() -> None:
    assert utc_timestamp(1395319905.7) == "2014-03-20T12:51:45Z"


@responses.activate
def test_every_send_is_signed_afresh_including_retries() -> None:
    responses.get(f"{BASE}/field/translate/en", json={"message": "busy"}, status=503)
    responses.get(f"{BASE}/field/translate/en", json=FIELDS_OK)
    client = EmarsysClient(BASE, auth=WsseAuth("acct001", "s3cret"))
    assert call_with_retries(client.list_fields, sleep=lambda _: None) == []
    headers = [call.request.headers["X-WSSE"] for call in responses.calls]
    parsed = [WSSE_RE.match(h) for h in headers]
    assert all(parsed), headers
    first, second = (m.groupdict() for m in parsed if m)
    assert first["user"] == "acct001"
    assert first["nonce"] != second["nonce"]
    assert second["digest"] == wsse_digest(second["nonce"], second["created"], "s3cret")


@responses.activate
def test_wsse_401_is_not_retried() -> None:
    responses.get(
        f"{BASE}/field/translate/en",
        json={"replyCode": 1, "replyText": "Credentials are invalid", "data": ""},
        status=401,
    )
    client = EmarsysClient(BASE, auth=WsseAuth("acct001", "wrong"))
    with pytest.raises(AuthError) as caught:
        client.list_fields()
    assert reply_code_of(caught.value) == 1
    assert len(responses.calls) == 1


def _token_route(token: str, expires_in: int = 3600) -> None:
    responses.post(
        TOKEN_URL,
        json={"access_token": token, "token_type": "bearer", "expires_in": expires_in},
        match=[
            matchers.urlencoded_params_matcher({"grant_type": "client_credentials"}),
            matchers.header_matcher(
                {"Authorization": "Basic " + base64.b64encode(b"cid:csecret").decode()}
            ),
        ],
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@responses.activate
def test_oauth_token_is_cached_until_shortly_before_expiry() -> None:
    clock = FakeClock()
    _token_route("tok-1", expires_in=600)
    _token_route("tok-2", expires_in=600)
    for token in ("tok-1", "tok-1", "tok-2"):
        responses.get(
            f"{BASE}/field/translate/en",
            json=FIELDS_OK,
            match=[matchers.header_matcher({"Authorization": f"Bearer {token}"})],
        )
    auth = OAuth2ClientCredentials("cid", "csecret", token_url=TOKEN_URL, clock=clock)
    client = EmarsysClient(BASE, auth=auth)
    client.list_fields()
    clock.now += 500  # still > 60 s before expiry
    client.list_fields()
    clock.now += 50  # within the refresh margin
    client.list_fields()
    assert auth.fetch_count == 2
    assert "csecret" not in repr(auth)


@responses.activate
def test_oauth_401_refetches_the_token_once() -> None:
    _token_route("old")
    _token_route("new")
    responses.get(
        f"{BASE}/field/translate/en",
        json={"replyCode": 1, "replyText": "Credentials are invalid", "data": ""},
        status=401,
        match=[matchers.header_matcher({"Authorization": "Bearer old"})],
    )
    responses.get(
        f"{BASE}/field/translate/en",
        json=FIELDS_OK,
        match=[matchers.header_matcher({"Authorization": "Bearer new"})],
    )
    auth = OAuth2ClientCredentials("cid", "csecret", token_url=TOKEN_URL)
    assert EmarsysClient(BASE, auth=auth).list_fields() == []
    assert auth.fetch_count == 2


@responses.activate
def test_oauth_second_401_raises_after_one_retry() -> None:
    _token_route("a")
    _token_route("b")
    responses.get(
        f"{BASE}/field/translate/en",
        json={"replyCode": 1, "replyText": "Credentials are invalid", "data": ""},
        status=401,
    )
    auth = OAuth2ClientCredentials("cid", "csecret", token_url=TOKEN_URL)
    with pytest.raises(AuthError):
        EmarsysClient(BASE, auth=auth).list_fields()
    api_calls = [c for c in responses.calls if "field" in c.request.url]
    assert len(api_calls) == 2
    assert auth.fetch_count == 2


@responses.activate
@pytest.mark.parametrize(("status", "error"), [(401, AuthError), (503, TransientError)])
def test_token_endpoint_failures(status: int, error: type[Exception]) -> None:
    responses.post(TOKEN_URL, json={"error": "invalid_client"}, status=status)
    auth = OAuth2ClientCredentials("cid", "csecret", token_url=TOKEN_URL)
    with pytest.raises(error) as caught:
        EmarsysClient(BASE, auth=auth).list_fields()
    assert "csecret" not in str(caught.value)


def test_both_schemes_against_the_simulator(sim, sim_client) -> None:
    app, _ = sim
    assert len(sim_client("wsse").list_fields()) == 49
    assert len(sim_client("oauth2").list_fields()) == 49
    assert app.authenticator.tokens_issued == 1


def test_simulator_rejects_replayed_nonce_stale_created_and_bad_secret(sim) -> None:
    app, server = sim
    creds = app.credentials(server.url)
    url = f"{creds['base_url']}/field/translate/en"
    created = utc_timestamp()
    header = wsse_header(
        creds["wsse_username"], creds["wsse_secret"], nonce="ab" * 16, created=created
    )
    assert requests.get(url, headers={"X-WSSE": header}, timeout=5).status_code == 200
    replay = requests.get(url, headers={"X-WSSE": header}, timeout=5)
    assert replay.status_code == 401
    assert replay.json() == {"replyCode": 1, "replyText": "Credentials are invalid", "data": ""}
    stale = wsse_header(
        creds["wsse_username"],
        creds["wsse_secret"],
        nonce="cd" * 16,
        created="2014-03-20T12:51:45Z",
    )
    assert requests.get(url, headers={"X-WSSE": stale}, timeout=5).status_code == 401
    wrong = wsse_header(creds["wsse_username"], "nope", nonce="ef" * 16, created=created)
    assert requests.get(url, headers={"WSSE": wrong}, timeout=5).status_code == 401
    assert requests.get(url, timeout=5).status_code == 401


def test_revoked_token_is_replaced_transparently(sim, sim_client) -> None:
    app, server = sim
    client = sim_client("oauth2")
    client.list_fields()
    assert sim_post(server, "/_sim/expire_tokens", {})["expired"] == 1
    assert len(client.list_fields()) == 49
    assert app.authenticator.tokens_issued == 2
