"""Emarsys authentication: OAuth 2.0 client credentials (default) and legacy WSSE.

Both are "authenticators": :meth:`apply` puts the credentials on a prepared request (called
on every send, so a retried request is re-signed with a fresh nonce/timestamp) and
:meth:`invalidate` drops cached state after a 401 and says whether one retry is worth it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Protocol

import requests

from connectors.errors import AuthError, ConfigurationError, TransientError
from connectors.http import DEFAULT_TIMEOUT, decode_body

DEFAULT_TOKEN_URL = "https://auth.emarsys.net/oauth2/token"
# Refresh this long before the server-side expiry so a token never dies mid-request.
TOKEN_EXPIRY_MARGIN_S = 60.0


class EmarsysAuth(Protocol):
    """What :class:`~connectors.emarsys.client.EmarsysClient` needs from an authenticator."""

    def apply(self, request: requests.PreparedRequest) -> None:
        """Add the authentication header(s) to ``request``."""
        ...  # pragma: no cover

    def invalidate(self) -> bool:
        """Forget cached credentials after a 401; True when retrying could succeed."""
        ...  # pragma: no cover


# -- WSSE --------------------------------------------------------------------------------


def wsse_digest(nonce: str, created: str, secret: str) -> str:
    """``base64(sha1_hex(nonce + created + secret))``.

    Emarsys base64-encodes the 40-character *hex* digest, not the 20 raw bytes; encoding the
    raw bytes is the classic bug that yields "Credentials are invalid".
    """
    hex_digest = hashlib.sha1((nonce + created + secret).encode("utf-8")).hexdigest()  # noqa: S324
    return base64.b64encode(hex_digest.encode("ascii")).decode("ascii")


def wsse_header(username: str, secret: str, *, nonce: str, created: str) -> str:
    """The ``X-WSSE`` header value for the given nonce and timestamp."""
    digest = wsse_digest(nonce, created, secret)
    return (
        f'UsernameToken Username="{username}", PasswordDigest="{digest}", '
        f'Nonce="{nonce}", Created="{created}"'
    )


def utc_timestamp(now: float | None = None) -> str:
    """ISO-8601 UTC with an explicit zone; without one Emarsys assumes CET/CEST."""
    moment = datetime.fromtimestamp(time.time() if now is None else now, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class WsseAuth:
    """Legacy WSSE signing (deprecated by Emarsys, sunset end of 2026).

    A fresh 32-hex-character nonce and ``Created`` timestamp are generated for every send.
    """

    def __init__(
        self,
        username: str,
        secret: str,
        *,
        clock: Callable[[], float] = time.time,
        nonce_factory: Callable[[], str] = lambda: secrets.token_hex(16),
    ) -> None:
        if not username or not secret:
            raise ConfigurationError("emarsys: WSSE needs a username and a secret")
        self.username = username
        self._secret = secret
        self._clock = clock
        self._nonce_factory = nonce_factory

    def apply(self, request: requests.PreparedRequest) -> None:
        """Sign ``request`` with a new nonce and the current time."""
        request.headers["X-WSSE"] = wsse_header(
            self.username,
            self._secret,
            nonce=self._nonce_factory(),
            created=utc_timestamp(self._clock()),
        )

    def invalidate(self) -> bool:
        """A WSSE 401 means wrong credentials or clock skew; repeating will not help."""
        return False

    def __repr__(self) -> str:
        return f"WsseAuth(username={self.username!r})"


# -- OAuth 2.0 client credentials ----------------------------------------------------------


class OAuth2ClientCredentials:
    """OAuth 2.0 client-credentials grant with an in-memory token cache.

    The token is fetched lazily (HTTP Basic ``client_id:client_secret``, form body
    ``grant_type=client_credentials``), reused until ``TOKEN_EXPIRY_MARGIN_S`` before its
    ``expires_in``, and dropped by :meth:`invalidate` so the next send fetches a new one.
    """

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        *,
        token_url: str = DEFAULT_TOKEN_URL,
        session: requests.Session | None = None,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        clock: Callable[[], float] = time.time,
        scope: str | None = None,
    ) -> None:
        if not client_id or not client_secret:
            raise ConfigurationError("emarsys: OAuth needs a client id and a client secret")
        self.client_id = client_id
        self._client_secret = client_secret
        self.token_url = token_url
        self.session = session or requests.Session()
        self.timeout = timeout
        self.scope = scope
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = threading.Lock()
        self.fetch_count = 0

    def apply(self, request: requests.PreparedRequest) -> None:
        """Add ``Authorization: Bearer …`` with a cached or freshly fetched token."""
        request.headers["Authorization"] = f"Bearer {self.token()}"

    def invalidate(self) -> bool:
        """Drop the cached token; the caller may retry once with a new one."""
        with self._lock:
            self._token = None
            self._expires_at = 0.0
        return True

    def token(self) -> str:
        """The current access token, fetching one when missing or about to expire."""
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at:
                self._token, self._expires_at = self._fetch()
            return self._token

    def _fetch(self) -> tuple[str, float]:
        form: dict[str, str] = {"grant_type": "client_credentials"}
        if self.scope:
            form["scope"] = self.scope
        try:
            response = self.session.post(
                self.token_url,
                data=form,
                auth=(self.client_id, self._client_secret),
                headers={"Accept": "application/json"},
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            raise TransientError(
                f"emarsys: token request failed ({type(exc).__name__})",
                method="POST",
                path=self.token_url,
            ) from exc
        self.fetch_count += 1
        body = decode_body(response)
        common: dict[str, Any] = {
            "status": response.status_code,
            "method": "POST",
            "path": self.token_url,
        }
        if response.status_code >= 500 or response.status_code == 429:
            raise TransientError("emarsys: token endpoint unavailable", **common)
        if response.status_code >= 400 or not isinstance(body, dict):
            reason = body.get("error", "") if isinstance(body, dict) else ""
            # Never put the response body on the error: it could echo credentials.
            raise AuthError(f"emarsys: token request rejected {reason}".strip(), **common)
        token = body.get("access_token")
        if not isinstance(token, str) or not token:
            raise AuthError("emarsys: token response without access_token", **common)
        try:
            expires_in = float(body.get("expires_in", 3600))
        except (TypeError, ValueError):
            expires_in = 3600.0
        margin = min(TOKEN_EXPIRY_MARGIN_S, expires_in / 2)
        return token, self._clock() + expires_in - margin

    def __repr__(self) -> str:
        return (
            f"OAuth2ClientCredentials(client_id={self.client_id!r}, token_url={self.token_url!r})"
        )
