"""OAuth unit tests: authorize URL, code exchange, refresh errors, TokenState, TokenManager."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from responses import matchers

from connectors.errors import AuthError, ConfigurationError
from connectors.freeagent.auth import (
    PRODUCTION_URL,
    SANDBOX_URL,
    FreeAgentOAuth,
    TokenManager,
    TokenState,
    api_base_url,
)

BASE = SANDBOX_URL
BASIC = matchers.header_matcher({"Authorization": "Basic Y2lkOnNlY3JldA=="})  # cid:secret


def oauth() -> FreeAgentOAuth:
    return FreeAgentOAuth("cid", "secret", base_url=BASE, clock=lambda: 1000.0)


def test_base_urls() -> None:
    assert api_base_url() == "https://api.freeagent.com/v2" == PRODUCTION_URL
    assert api_base_url("sandbox") == "https://api.sandbox.freeagent.com/v2"
    assert api_base_url("sandbox", "http://127.0.0.1:8802/v2/") == "http://127.0.0.1:8802/v2"
    with pytest.raises(ConfigurationError):
        api_base_url("staging")


def test_authorize_url_carries_state_and_redirect() -> None:
    url = oauth().authorize_url("https://app.example/cb?x=1", "st-123")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{BASE}/approve_app"
    assert parse_qs(parts.query) == {
        "client_id": ["cid"],
        "response_type": ["code"],
        "redirect_uri": ["https://app.example/cb?x=1"],
        "state": ["st-123"],
    }


@responses.activate
def test_exchange_code_posts_form_with_basic_auth() -> None:
    responses.post(
        f"{BASE}/token_endpoint",
        json={
            "access_token": "at",
            "token_type": "bearer",
            "expires_in": 3600,
            "refresh_token": "rt",
            "refresh_token_expires_in": 631151957,
        },
        match=[
            BASIC,
            matchers.urlencoded_params_matcher(
                {"grant_type": "authorization_code", "code": "c0de", "redirect_uri": "https://cb"}
            ),
        ],
    )
    token = oauth().exchange_code("c0de", "https://cb")
    assert token == TokenState("at", "rt", expires_at=4600.0, refresh_token_expires_at=631152957.0)


@responses.activate
def test_reused_code_401_text_is_auth_error() -> None:
    responses.post(
        f"{BASE}/token_endpoint",
        status=401,
        body="HTTP Basic: Access denied.\n",
        content_type="text/html; charset=utf-8",
        headers={"WWW-Authenticate": 'Basic realm="Application"'},
    )
    with pytest.raises(AuthError, match=r"HTTP Basic: Access denied\."):
        oauth().exchange_code("used", "https://cb")


@responses.activate
def test_invalid_grant_on_refresh_is_auth_error() -> None:
    responses.post(
        f"{BASE}/token_endpoint",
        status=400,
        json={"error": "invalid_grant", "error_description": "revoked"},
    )
    with pytest.raises(AuthError, match="revoked") as info:
        oauth().refresh("dead")
    assert info.value.status == 400


def test_oauth_needs_client_credentials() -> None:
    with pytest.raises(ConfigurationError):
        FreeAgentOAuth("", "secret")


def test_token_state_round_trip_and_secret_free_repr() -> None:
    token = TokenState("at-secret", "rt-secret", expires_at=100.0)
    assert TokenState.from_dict(token.as_dict()) == token
    assert "secret" not in repr(token)
    assert token.expires_within(60, now=50.0)
    assert not token.expires_within(60, now=39.0)


def test_manager_without_token_raises_auth_error(tmp_path: Path) -> None:
    manager = TokenManager(oauth(), load=lambda: None, lock_name="x", lock_dir=tmp_path)
    with pytest.raises(AuthError, match="not connected"):
        manager.valid()


def test_manager_uses_a_token_another_process_already_refreshed(tmp_path: Path) -> None:
    stale = TokenState("old", "rt-old", expires_at=0.0)
    stored = {"token": stale}
    manager = TokenManager(
        oauth(),
        load=lambda: stored["token"],
        save=lambda t: stored.update(token=t),
        lock_name="x",
        lock_dir=tmp_path,
    )
    assert manager.current() is stale
    # Meanwhile another worker refreshed and saved a new pair.
    stored["token"] = TokenState("new", "rt-new", expires_at=9e9)
    assert manager.valid().access_token == "new"  # no HTTP call: responses is not active
    assert manager.refresh_count == 0
