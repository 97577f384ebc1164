"""Authentication checks of the Emarsys simulator: WSSE and OAuth 2.0 bearer tokens."""

from __future__ import annotations

import base64
import hmac
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from connectors.emarsys.auth import wsse_digest

WSSE_WINDOW_S = 300.0  # "Created" must be within 5 minutes of server time
_WSSE_PART = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
_NONCE = re.compile(r"^[0-9a-fA-F]{32}$")
_SERVER_TZ = ZoneInfo("Europe/Vienna")  # assumed when "Created" carries no zone


@dataclass
class Principal:
    """Who a request was authenticated as (the rate limit is per API user)."""

    user: str
    scheme: str


class AuthFailed(Exception):
    """Authentication failed; the message is safe to return (no secrets)."""


def parse_created(value: str) -> float:
    """Epoch seconds of a WSSE ``Created`` value (ISO-8601; no zone means CET/CEST)."""
    text = value.strip().replace("Z", "+00:00")
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_SERVER_TZ)
    return moment.timestamp()


class Authenticator:
    """Verifies WSSE headers and OAuth bearer tokens; issues tokens at the token route."""

    def __init__(
        self,
        *,
        wsse_users: dict[str, str],
        oauth_clients: dict[str, str],
        token_ttl_s: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.wsse_users = dict(wsse_users)
        self.oauth_clients = dict(oauth_clients)
        self.token_ttl_s = token_ttl_s
        self.clock = clock
        self._nonces: dict[str, float] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self.tokens_issued = 0

    def reset(self) -> None:
        """Forget nonces and tokens."""
        with self._lock:
            self._nonces.clear()
            self._tokens.clear()
            self.tokens_issued = 0

    def expire_tokens(self) -> int:
        """Revoke every issued token (to exercise the client's re-fetch on 401)."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count

    # -- token endpoint ---------------------------------------------------------------------

    def issue_token(self, authorization: str, grant_type: str) -> dict[str, object]:
        """Client-credentials grant with HTTP Basic client authentication."""
        if grant_type != "client_credentials":
            raise ValueError("unsupported_grant_type")
        client_id, secret = _basic_credentials(authorization)
        expected = self.oauth_clients.get(client_id)
        if expected is None or not hmac.compare_digest(expected, secret):
            raise AuthFailed("invalid_client")
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (client_id, self.clock() + self.token_ttl_s)
            self.tokens_issued += 1
        return {"access_token": token, "token_type": "bearer", "expires_in": self.token_ttl_s}

    # -- request verification ------------------------------------------------------------

    def peek_user(self, headers: dict[str, str]) -> str:
        """The claimed API user, without verifying (used to key the rate limit)."""
        wsse = headers.get("x-wsse") or headers.get("wsse") or ""
        if wsse:
            return dict(_WSSE_PART.findall(wsse)).get("Username", "?")
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            with self._lock:
                entry = self._tokens.get(bearer[7:].strip())
            return entry[0] if entry else "?"
        return "?"

    def verify(self, headers: dict[str, str]) -> Principal:
        """Authenticate a request by ``X-WSSE``/``WSSE`` or ``Authorization: Bearer``."""
        wsse = headers.get("x-wsse") or headers.get("wsse")
        if wsse:
            return self._verify_wsse(wsse)
        authorization = headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            return self._verify_bearer(authorization[7:].strip())
        raise AuthFailed("missing credentials")

    def _verify_bearer(self, token: str) -> Principal:
        with self._lock:
            entry = self._tokens.get(token)
        if entry is None or entry[1] <= self.clock():
            raise AuthFailed("invalid or expired token")
        return Principal(entry[0], "oauth2")

    def _verify_wsse(self, header: str) -> Principal:
        if not header.strip().startswith("UsernameToken"):
            raise AuthFailed("malformed WSSE header")
        parts = dict(_WSSE_PART.findall(header))
        username, digest = parts.get("Username", ""), parts.get("PasswordDigest", "")
        nonce, created = parts.get("Nonce", ""), parts.get("Created", "")
        secret = self.wsse_users.get(username)
        if secret is None or not _NONCE.match(nonce) or not created:
            raise AuthFailed("unknown user or malformed nonce")
        try:
            created_at = parse_created(created)
        except ValueError as exc:
            raise AuthFailed("malformed Created") from exc
        now = self.clock()
        if abs(now - created_at) > WSSE_WINDOW_S:
            raise AuthFailed("Created is outside the allowed window")
        if not hmac.compare_digest(wsse_digest(nonce, created, secret), digest):
            raise AuthFailed("digest mismatch")
        with self._lock:
            self._nonces = {n: t for n, t in self._nonces.items() if t > now}
            if nonce in self._nonces:
                raise AuthFailed("nonce already used")
            self._nonces[nonce] = now + 2 * WSSE_WINDOW_S
        return Principal(username, "wsse")


def _basic_credentials(authorization: str) -> tuple[str, str]:
    if not authorization.lower().startswith("basic "):
        raise AuthFailed("invalid_client")
    try:
        decoded = base64.b64decode(authorization[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError) as exc:
        raise AuthFailed("invalid_client") from exc
    client_id, _, secret = decoded.partition(":")
    return client_id, secret
