"""The simulator's request authentication, following Magento's own checks in order.

The OAuth 1.0a verification is written here from Magento's algorithm (``Helper/Request``
and ``Helper/Signature/Hmac``), not borrowed from the client's signer, so a client bug
cannot hide behind the same bug on the server side: params are the ``oauth_*`` header
values plus the raw query split on ``&``/``=`` and ``rawurldecode``-d (a ``+`` stays a
plus), ``ksort``-ed, ``rawurlencode``-d, over ``scheme://host/path`` without the query.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote

from connectors.simulators.kit import Request

NOT_AUTHORIZED = "The consumer isn't authorized to access %resources."


def _raw(value: str) -> str:
    return quote(value, safe="-._~")


@dataclass
class AuthFailure(Exception):
    """An authentication/authorisation failure in Magento's response shape."""

    status: int
    body: dict[str, Any]


def failure(status: int, message: str, parameters: Any = None) -> AuthFailure:
    """Build an :class:`AuthFailure` with ``{message, parameters?}``."""
    body: dict[str, Any] = {"message": message}
    if parameters is not None:
        body["parameters"] = parameters
    return AuthFailure(status, body)


@dataclass
class IntegrationAuth:
    """One Integration's credentials and the shop's auth settings."""

    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    consumer_id: int = 1
    integration_as_bearer: bool = False
    admin_tokens: set[str] = field(default_factory=set)
    denied_resources: set[str] = field(default_factory=set)
    nonces: set[str] = field(default_factory=set)

    def check(self, request: Request, resource: str) -> None:
        """Raise :class:`AuthFailure` unless the request may use ``resource``."""
        header = request.header("authorization")
        scheme = header.split(" ", 1)[0].lower() if header else ""
        if scheme == "bearer":
            token = header.split(" ", 1)[1].strip() if " " in header else ""
            allowed = token in self.admin_tokens or (
                self.integration_as_bearer and token == self.access_token
            )
            if not allowed:
                # An unknown bearer token is not an error: the request runs as a guest.
                raise failure(401, NOT_AUTHORIZED, {"resources": resource})
        elif "oauth " in header.lower():
            self._verify_oauth(request, header)
        else:
            raise failure(401, NOT_AUTHORIZED, {"resources": resource})
        if resource in self.denied_resources:
            raise failure(401, NOT_AUTHORIZED, {"resources": resource})

    def _verify_oauth(self, request: Request, header: str) -> None:
        params: dict[str, str] = {}
        for chunk in header[header.lower().find("oauth ") + 6 :].split(","):
            name, sep, value = chunk.strip().partition("=")
            name = unquote(name.strip())
            if sep and name.startswith("oauth_"):
                params[name] = unquote(value.strip().strip('"'))
        if "oauth_version" in params and params["oauth_version"] != "1.0":
            raise failure(
                400, 'The "%1" Oauth version isn\'t supported.', [params["oauth_version"]]
            )
        required = (
            "oauth_consumer_key",
            "oauth_signature",
            "oauth_signature_method",
            "oauth_nonce",
            "oauth_timestamp",
            "oauth_token",
        )
        missing = [p for p in required if p not in params]
        if missing:
            errors = [
                {
                    "message": '"%fieldName" is required. Enter and try again.',
                    "parameters": {"fieldName": p},
                }
                for p in missing
            ]
            if len(errors) == 1:
                raise AuthFailure(400, errors[0])
            raise AuthFailure(
                400, {"message": "One or more input exceptions have occurred.", "errors": errors}
            )
        if len(params["oauth_token"]) != 32:
            raise failure(400, "The token length is invalid. Check the length and try again.")
        if params["oauth_signature_method"] != "HMAC-SHA256":
            raise failure(
                400, "Signature method %1 is not supported", [params["oauth_signature_method"]]
            )
        if params["oauth_consumer_key"] != self.consumer_key:
            raise failure(401, "A consumer having the specified key does not exist")
        try:
            timestamp = int(params["oauth_timestamp"])
        except ValueError:
            timestamp = 0
        if timestamp <= 0 or timestamp > time.time() + 600:
            raise failure(400, "Incorrect timestamp value in the oauth_timestamp parameter")
        if params["oauth_nonce"] in self.nonces:
            raise failure(
                401,
                "The nonce is already being used by the consumer with ID %1",
                [str(self.consumer_id)],
            )
        self.nonces.add(params["oauth_nonce"])
        if params["oauth_token"] != self.access_token:
            raise failure(401, "A token with the specified ID does not exist")
        expected = self.expected_signature(request, params)
        if not hmac.compare_digest(expected, params["oauth_signature"]):
            raise failure(401, "The signature is invalid. Verify and try again.")

    def expected_signature(self, request: Request, oauth: dict[str, str]) -> str:
        """Recompute the signature from the request as received."""
        signed = {k: v for k, v in oauth.items() if k != "oauth_signature"}
        for part in request.raw_query.split("&") if request.raw_query else []:
            name, _, value = part.partition("=")
            signed[unquote(name)] = unquote(value)  # PHP arrays: the last duplicate wins
        pairs = "&".join(f"{_raw(k)}={_raw(signed[k])}" for k in sorted(signed))
        host = request.header("host") or f"{request.environ.get('SERVER_NAME')}"
        url = f"http://{host.lower()}{quote(request.path, safe='/')}"
        base = f"{request.method}&{_raw(url)}&{_raw(pairs)}"
        key = f"{_raw(self.consumer_secret)}&{_raw(self.access_token_secret)}"
        digest = hmac.new(key.encode(), base.encode("utf-8"), hashlib.sha256).digest()
        return base64.b64encode(digest).decode("ascii")
