"""Authentication for Magento 2 REST: OAuth 1.0a (HMAC-SHA256) and Bearer tokens.

Magento verifies an OAuth 1.0a signature over ``METHOD & enc(url-without-query) &
enc(sorted params)`` where the params are the ``oauth_*`` header values plus **every query
parameter, taken from the raw query string** (split on ``&``/``=`` and ``rawurldecode``-d,
so a ``+`` stays a literal plus). The query string we send must therefore encode spaces
as ``%20`` and brackets as ``%5B``/``%5D`` — :func:`encode_query` — and the signature is
computed over exactly the URL that goes on the wire (:meth:`OAuth1Signer.sign` reads the
prepared request's final URL). Every call gets a fresh nonce and timestamp, so a retried
send is re-signed and never trips Magento's "nonce already used" check.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, unquote, urlsplit

SIGNATURE_METHOD = "HMAC-SHA256"


def percent_encode(value: str) -> str:
    """RFC 3986 / RFC 5849 §3.6 encoding (PHP ``rawurlencode``): only ``A-Za-z0-9-._~`` kept."""
    return quote(value, safe="~")


def encode_query(params: Iterable[tuple[str, Any]] | Mapping[str, Any]) -> str:
    """Build a query string Magento can verify: ``%20`` for spaces, brackets percent-encoded."""
    items = params.items() if isinstance(params, Mapping) else params
    return "&".join(f"{percent_encode(str(k))}={percent_encode(_text(v))}" for k, v in items)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return "" if value is None else str(value)


def split_raw_query(raw_query: str) -> list[tuple[str, str]]:
    """Parse a query string the way Magento's OAuth helper does (``rawurldecode``, no ``+``)."""
    pairs: list[tuple[str, str]] = []
    if not raw_query:
        return pairs
    for part in raw_query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def normalized_url(url: str) -> str:
    """Scheme, host (lower-case, default port dropped) and path; never the query string."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    port = parts.port
    netloc = (
        host
        if port is None or (scheme, port) in (("http", 80), ("https", 443))
        else (f"{host}:{port}")
    )
    return f"{scheme}://{netloc}{parts.path or '/'}"


def signature_base_string(method: str, url: str, params: Iterable[tuple[str, str]]) -> str:
    """The RFC 5849 §3.4.1 base string over already-decoded ``params``."""
    encoded = sorted((percent_encode(k), percent_encode(v)) for k, v in params)
    param_string = "&".join(f"{k}={v}" for k, v in encoded)
    return "&".join(
        (method.upper(), percent_encode(normalized_url(url)), percent_encode(param_string))
    )


def hmac_sha256_signature(base_string: str, consumer_secret: str, token_secret: str) -> str:
    """Base64 HMAC-SHA256 of ``base_string`` keyed with ``enc(cs)&enc(ts)``."""
    key = f"{percent_encode(consumer_secret)}&{percent_encode(token_secret)}"
    digest = hmac.new(key.encode(), base_string.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def parse_oauth_header(header: str) -> dict[str, str] | None:
    """Parse ``Authorization: OAuth k="v", …`` as Magento does; ``None`` if it is not OAuth."""
    lowered = header.lower()
    start = lowered.find("oauth ")
    if start < 0:
        return None
    params: dict[str, str] = {}
    for chunk in header[start + 6 :].split(","):
        name, sep, value = chunk.strip().partition("=")
        if not sep:
            continue
        name = unquote(name.strip())
        if name.startswith("oauth_"):
            params[name] = unquote(value.strip().strip('"'))
    return params


@dataclass
class OAuth1Signer:
    """Signs requests with the four credentials of a Magento Integration.

    ``nonce_factory`` and ``clock`` exist for known-answer tests; production uses a random
    32-hex-char nonce and the wall clock.
    """

    consumer_key: str
    consumer_secret: str
    access_token: str
    access_token_secret: str
    nonce_factory: Callable[[], str] = field(default=lambda: secrets.token_hex(16))
    clock: Callable[[], float] = field(default=time.time)

    def authorization_header(self, method: str, url: str) -> str:
        """The ``Authorization`` header value for ``method url`` (query params included)."""
        oauth = {
            "oauth_consumer_key": self.consumer_key,
            "oauth_nonce": self.nonce_factory(),
            "oauth_signature_method": SIGNATURE_METHOD,
            "oauth_timestamp": str(int(self.clock())),
            "oauth_token": self.access_token,
            "oauth_version": "1.0",
        }
        params = list(oauth.items()) + split_raw_query(urlsplit(url).query)
        base = signature_base_string(method, url, params)
        oauth["oauth_signature"] = hmac_sha256_signature(
            base, self.consumer_secret, self.access_token_secret
        )
        return "OAuth " + ", ".join(
            f'{percent_encode(k)}="{percent_encode(v)}"' for k, v in oauth.items()
        )

    def sign(self, request: Any) -> None:
        """Set the Authorization header on a ``requests.PreparedRequest`` (its final URL)."""
        request.headers["Authorization"] = self.authorization_header(request.method, request.url)


@dataclass
class BearerAuth:
    """``Authorization: Bearer`` for admin tokens or integration tokens used as bearer.

    Integration tokens only work as Bearer when the shop enabled
    ``oauth/consumer/enable_integration_as_bearer`` (off by default since 2.4.4).
    """

    token: str

    def sign(self, request: Any) -> None:
        """Set the Authorization header on a prepared request."""
        request.headers["Authorization"] = f"Bearer {self.token}"
