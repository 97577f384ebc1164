"""FreeAgent OAuth 2.0: authorize URL, code exchange, and refresh without races.

FreeAgent access tokens live one hour and **refresh tokens rotate**: every refresh returns
a new refresh token and (in our simulator, and probably live) kills the old one. With N
Celery workers holding the same expired token, naive refreshing makes N-1 of them fail.
:class:`TokenManager` therefore refreshes under a cross-process lock and, once inside,
re-loads the stored token: if another process already refreshed, it uses that token.
"""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from connectors.errors import AuthError, ConfigurationError, ConnectorError
from connectors.http import DEFAULT_TIMEOUT, USER_AGENT, BaseClient, Budget
from connectors.locks import process_lock

PRODUCTION_URL = "https://api.freeagent.com/v2"
SANDBOX_URL = "https://api.sandbox.freeagent.com/v2"
ENVIRONMENTS = {"production": PRODUCTION_URL, "sandbox": SANDBOX_URL}
REFRESH_MARGIN_S = 60.0


def api_base_url(environment: str = "production", base_url: str | None = None) -> str:
    """The API root (ending in ``/v2``) for an environment, or an explicit ``base_url``."""
    if base_url:
        return base_url.rstrip("/")
    try:
        return ENVIRONMENTS[environment]
    except KeyError:
        raise ConfigurationError(f"unknown FreeAgent environment {environment!r}") from None


@dataclass(frozen=True)
class TokenState:
    """One OAuth token pair. ``expires_at`` is epoch seconds (UTC)."""

    access_token: str
    refresh_token: str
    expires_at: float
    refresh_token_expires_at: float | None = None

    def expires_within(self, seconds: float, *, now: float | None = None) -> bool:
        """True if the access token is expired or will be within ``seconds``."""
        now = time.time() if now is None else now
        return self.expires_at - seconds <= now

    @classmethod
    def from_token_response(
        cls, body: Mapping[str, Any], *, now: float | None = None
    ) -> TokenState:
        """Build from the token endpoint's JSON (``expires_in`` is relative)."""
        now = time.time() if now is None else now
        try:
            access = str(body["access_token"])
            refresh = str(body["refresh_token"])
            expires_in = float(body.get("expires_in") or 3600)
        except (KeyError, TypeError, ValueError) as exc:
            raise AuthError(f"freeagent: unexpected token response ({exc})") from exc
        refresh_in = body.get("refresh_token_expires_in")
        return cls(
            access_token=access,
            refresh_token=refresh,
            expires_at=now + expires_in,
            refresh_token_expires_at=now + float(refresh_in) if refresh_in else None,
        )

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (for encrypted storage)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TokenState:
        """The inverse of :meth:`as_dict`."""
        rte = data.get("refresh_token_expires_at")
        return cls(
            access_token=str(data["access_token"]),
            refresh_token=str(data["refresh_token"]),
            expires_at=float(data["expires_at"]),
            refresh_token_expires_at=float(rte) if rte is not None else None,
        )

    def __repr__(self) -> str:
        # Never let a token reach a log line or a traceback.
        return f"TokenState(expires_at={self.expires_at!r}, access_token=***, refresh_token=***)"


class FreeAgentOAuth(BaseClient):
    """The OAuth endpoints: ``approve_app`` (browser) and ``token_endpoint``.

    The client authenticates with HTTP Basic (the documented way) and posts form bodies.
    Bad client credentials or a re-used code answer ``401 HTTP Basic: Access denied.``;
    a dead refresh token answers ``invalid_grant``; both raise :class:`AuthError` (the
    account must be re-connected).
    """

    service = "freeagent-oauth"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        base_url: str = PRODUCTION_URL,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        budget: Budget | None = None,
        user_agent: str = USER_AGENT,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(
            base_url, timeout=timeout, session=session, budget=budget, user_agent=user_agent
        )
        if not client_id or not client_secret:
            raise ConfigurationError("freeagent: client_id and client_secret are required")
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.session.headers["Accept"] = "application/json"

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """Where to send the merchant's browser to approve the app."""
        query = urlencode(
            {
                "client_id": self.client_id,
                "response_type": "code",
                "redirect_uri": redirect_uri,
                "state": state,
            }
        )
        return f"{self.base_url}/approve_app?{query}"

    def _prepare(self, request: requests.PreparedRequest) -> None:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        request.headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")

    def _error_for(
        self, method: str, path: str, response: requests.Response, body: Any
    ) -> ConnectorError:
        error = super()._error_for(method, path, response, body)
        # A refused grant is not a payload problem: the merchant has to re-connect.
        if response.status_code == 400 and isinstance(body, dict) and "error" in body:
            return AuthError(
                error.message,
                status=error.status,
                method=method,
                path=path,
                body=body,
                request_id=error.request_id,
            )
        return error

    def _token_call(self, form: dict[str, str]) -> TokenState:
        now = self.clock()
        _, body = self._request("POST", "token_endpoint", data=form)
        if not isinstance(body, dict):
            raise AuthError("freeagent: token endpoint answered without JSON")
        return TokenState.from_token_response(body, now=now)

    def exchange_code(self, code: str, redirect_uri: str) -> TokenState:
        """Trade the ``code`` from the approve_app redirect for a token pair."""
        return self._token_call(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
        )

    def refresh(self, refresh_token: str) -> TokenState:
        """Get a new token pair; the returned refresh token replaces the old one."""
        return self._token_call({"grant_type": "refresh_token", "refresh_token": refresh_token})


TokenLoader = Callable[[], "TokenState | None"]
TokenSaver = Callable[[TokenState], None]


class TokenManager:
    """Keeps one FreeAgent account's token valid, refreshing at most once per expiry.

    ``load`` returns the token as currently stored (e.g. decrypted from the database) and
    ``save`` persists a new one; both run inside the lock during a refresh, so the rotated
    refresh token is written before any other process may refresh. ``lock_name`` should
    identify the FreeAgent account (e.g. ``"freeagent-token:<client pk>"``).
    """

    def __init__(
        self,
        oauth: FreeAgentOAuth,
        *,
        token: TokenState | None = None,
        load: TokenLoader | None = None,
        save: TokenSaver | None = None,
        lock_name: str,
        redis_url: str | None = None,
        lock_dir: str | Path | None = None,
        lock_timeout: float = 30.0,
        refresh_margin: float = REFRESH_MARGIN_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.oauth = oauth
        self._token = token
        self._load = load
        self._save = save
        self.lock_name = lock_name
        self.redis_url = redis_url
        self.lock_dir = lock_dir
        self.lock_timeout = lock_timeout
        self.refresh_margin = refresh_margin
        self.clock = clock
        self.refresh_count = 0  # refreshes this manager performed itself
        self._mutex = threading.Lock()

    def current(self) -> TokenState:
        """The token in hand (loaded on first use), without checking its expiry."""
        if self._token is None and self._load is not None:
            self._token = self._load()
        if self._token is None:
            raise AuthError("freeagent: not connected (no OAuth token stored)")
        return self._token

    def valid(self) -> TokenState:
        """A token that is not expired or about to expire, refreshing first if needed."""
        token = self.current()
        if token.expires_within(self.refresh_margin, now=self.clock()):
            return self.refresh(token, forced=False)
        return token

    def refresh(self, stale: TokenState, *, forced: bool = True) -> TokenState:
        """Replace ``stale``: refresh under the lock unless another process already did.

        ``forced`` means the server rejected ``stale`` (a 401), so a stored token with the
        same access token is refreshed even if its clock says it is still fresh.
        """
        with (
            self._mutex,
            process_lock(
                self.lock_name,
                redis_url=self.redis_url,
                lock_dir=self.lock_dir,
                timeout=self.lock_timeout,
            ),
        ):
            latest = (self._load() if self._load is not None else None) or self._token or stale
            fresh = not latest.expires_within(self.refresh_margin, now=self.clock())
            if fresh and (latest.access_token != stale.access_token or not forced):
                self._token = latest
                return latest
            new = self.oauth.refresh(latest.refresh_token)
            if self._save is not None:
                self._save(new)
            self._token = new
            self.refresh_count += 1
            return new


__all__ = [
    "ENVIRONMENTS",
    "PRODUCTION_URL",
    "SANDBOX_URL",
    "FreeAgentOAuth",
    "TokenManager",
    "TokenState",
    "api_base_url",
]
