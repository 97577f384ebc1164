"""OAuth half of the FreeAgent simulator: approve_app, token_endpoint, Bearer checks.

Refresh tokens rotate and the previous one dies at once (the strictest reading of the
docs), so a client that refreshes twice with the same token fails loudly; codes are single
use (a re-used code answers ``401 HTTP Basic: Access denied.``, as on the live API).
"""

from __future__ import annotations

import base64
import binascii
import math
import random
import threading
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode

from connectors.simulators.kit import Request, Response

CLIENT_ID = "sim-freeagent-client-id"
CLIENT_SECRET = "sim-freeagent-client-secret"
REFRESH_TOKEN_LIFETIME = 631151957  # what the docs' example sends
ACCESS_DENIED = "HTTP Basic: Access denied.\n"
INVALID_GRANT = {
    "error": "invalid_grant",
    "error_description": "The provided authorization grant is invalid, expired, revoked, "
    "does not match the redirection URI used in the authorization request, or was issued "
    "to another client.",
}


def fa_error(status: int, message: str) -> Response:
    """The documented single-error shape."""
    return Response(status, {"errors": {"error": {"message": message}}})


class OAuthSimMixin:
    """Token bookkeeping and the OAuth endpoints; mixed into the simulator."""

    lock: threading.RLock
    random: random.Random
    client_id: str
    client_secret: str
    token_ttl: float
    code_ttl: float
    access_tokens: dict[str, float]  # token → expires_at (epoch)
    refresh_tokens: set[str]
    codes: dict[str, dict[str, Any]]
    refresh_count: int
    code_exchanges: int

    # -- tokens --------------------------------------------------------------------------------

    def _new_secret(self, prefix: str) -> str:
        with self.lock:
            return f"{prefix}{self.random.getrandbits(160):040x}"

    def issue_tokens(self) -> dict[str, Any]:
        """Mint a token pair (what the token endpoint returns)."""
        access, refresh = self._new_secret("sim-at-"), self._new_secret("sim-rt-")
        with self.lock:
            self.access_tokens[access] = time.time() + self.token_ttl
            self.refresh_tokens.add(refresh)
        return {
            "access_token": access,
            "token_type": "bearer",
            "expires_in": max(1, math.ceil(self.token_ttl)),
            "refresh_token": refresh,
            "refresh_token_expires_in": REFRESH_TOKEN_LIFETIME,
        }

    def expire_tokens(self, access_token: str | None = None) -> int:
        """Expire one access token, or all; return how many were live."""
        now = time.time()
        with self.lock:
            targets = [access_token] if access_token else list(self.access_tokens)
            live = [t for t in targets if self.access_tokens.get(t, 0) > now]
            for token in live:
                self.access_tokens[token] = now - 1
        return len(live)

    def _authorised(self, request: Request) -> bool:
        header = request.header("authorization")
        if not header.lower().startswith("bearer "):
            return False
        with self.lock:
            return self.access_tokens.get(header[7:].strip(), 0) > time.time()

    def _guard(self, request: Request) -> Response | None:
        if self._authorised(request):
            return None
        return fa_error(401, "Access token is invalid or has expired")

    def credentials(self, base_url: str) -> dict[str, str]:
        """Client id/secret and a ready token pair for a client of ``base_url``."""
        tokens = self.issue_tokens()
        return {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "access_token": tokens["access_token"],
            "refresh_token": tokens["refresh_token"],
            "expires_at": str(time.time() + self.token_ttl),
            "base_url": base_url.rstrip("/") + "/v2",
        }

    # -- OAuth endpoints ---------------------------------------------------------------------

    def _approve_app(self, request: Request) -> Response:
        args = request.args
        redirect_uri = args.get("redirect_uri", "")
        if args.get("client_id") != self.client_id or not redirect_uri:
            return Response(400, "Invalid client_id or redirect_uri", content_type="text/html")
        if args.get("response_type") != "code":
            return Response(400, "response_type must be code", content_type="text/html")
        code = self._new_secret("sim-code-")
        with self.lock:
            self.codes[code] = {
                "redirect_uri": redirect_uri,
                "expires_at": time.time() + self.code_ttl,
            }
        query = {"code": code}
        if "state" in args:
            query["state"] = args["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return Response(
            302,
            None,
            headers={"Location": redirect_uri + sep + urlencode(query)},
            content_type="text/html; charset=utf-8",
        )

    def _client_authenticated(self, request: Request, form: dict[str, str]) -> bool:
        header = request.header("authorization")
        client_id, secret = form.get("client_id", ""), form.get("client_secret", "")
        if header.lower().startswith("basic "):
            try:
                decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                return False
            client_id, _, secret = decoded.partition(":")
        return client_id == self.client_id and secret == self.client_secret

    def _token_endpoint(self, request: Request) -> Response:
        if "json" in request.header("content-type"):
            form = {k: str(v) for k, v in (request.json() or {}).items()}
        else:
            form = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        denied = Response(
            401,
            ACCESS_DENIED,
            headers={"WWW-Authenticate": 'Basic realm="Application"'},
            content_type="text/html; charset=utf-8",
        )
        if not self._client_authenticated(request, form):
            return denied
        grant = form.get("grant_type")
        if grant == "authorization_code":
            with self.lock:
                entry = self.codes.pop(form.get("code", ""), None)  # single use
                if entry is None or entry["expires_at"] < time.time():
                    return denied
                if form.get("redirect_uri") != entry["redirect_uri"]:
                    return Response(400, INVALID_GRANT)
                self.code_exchanges += 1
            return Response(200, self.issue_tokens(), headers={"Cache-Control": "no-store"})
        if grant == "refresh_token":
            with self.lock:
                token = form.get("refresh_token", "")
                if token not in self.refresh_tokens:
                    return Response(400, INVALID_GRANT)
                self.refresh_tokens.discard(token)  # rotation: the old one dies now
                self.refresh_count += 1
            return Response(200, self.issue_tokens(), headers={"Cache-Control": "no-store"})
        return Response(400, {"error": "unsupported_grant_type"})
