"""One base HTTP client for every connector.

Everything goes through :meth:`BaseClient._request`: a timeout on every call, the shared
rate-limit budget, failures translated into the error family of :mod:`connectors.errors`
in one place, one structured log line per response (never a secret), and an optional
hook that captures request/response summaries (used by the explain page).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

import requests
from requests.utils import resolve_proxies

from connectors import telemetry
from connectors.deadline import DeadlineReached, check_wait, remaining
from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
    ValidationError,
)

logger = logging.getLogger("connectors.http")
T = TypeVar("T")

DEFAULT_TIMEOUT = (5.0, 30.0)  # (connect, read) seconds
USER_AGENT = "ContactSync/0.1 (+https://github.com/contact-sync)"
SECRET_HEADERS = frozenset(
    {"authorization", "x-wsse", "cookie", "set-cookie", "proxy-authorization"}
)


@dataclass(frozen=True)
class Exchange:
    """A summary of one request/response pair, safe to store (no secrets)."""

    method: str
    url: str
    status: int | None
    elapsed_ms: int
    request_body: Any = None
    response_body: Any = None
    error: str | None = None
    request_headers: dict[str, str] = field(default_factory=dict)
    response_headers: dict[str, str] = field(default_factory=dict)


ExchangeHook = Callable[[Exchange], None]


class Budget(Protocol):
    """What :mod:`connectors.ratelimit` provides: block until a request may be sent."""

    def acquire(self, cost: int = 1) -> float:
        """Wait for budget; return the seconds waited."""
        ...  # pragma: no cover


def parse_retry_after(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds to wait, from ``Retry-After`` (seconds or HTTP date) or ``X-RateLimit-Reset``.

    ``X-RateLimit-Reset`` is either seconds-until-reset or an absolute epoch timestamp;
    values larger than a day are taken as epoch seconds.
    """
    now = time.time() if now is None else now
    raw = headers.get("Retry-After")
    if raw:
        raw = raw.strip()
        try:
            return max(0.0, float(raw))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(raw).timestamp() - now)
            except (TypeError, ValueError):
                pass
    reset = headers.get("X-RateLimit-Reset")
    if reset:
        try:
            value = float(reset.strip())
        except ValueError:
            return None
        if value > 86400:
            return max(0.0, value - now)
        return max(0.0, value)
    return None


def decode_body(response: requests.Response) -> Any:
    """JSON when the body is JSON, the text otherwise, ``None`` for an empty body.

    FreeAgent answers DELETE with ``application/json`` and zero bytes, so never decode
    blindly.
    """
    if not response.content:
        return None
    ctype = response.headers.get("Content-Type", "")
    text = response.text
    if "json" in ctype or text[:1] in "{[":
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k: ("***" if k.lower() in SECRET_HEADERS else v) for k, v in headers.items()}


class BaseClient:
    """Base of the Magento, FreeAgent and Emarsys clients.

    Subclasses set :attr:`service` and override the hooks :meth:`_prepare` (auth),
    :meth:`_error_message` (API-specific error shapes) and, if the API reports errors
    inside 2xx bodies, :meth:`_check_body`.
    """

    service = "http"

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float | tuple[float, float] = DEFAULT_TIMEOUT,
        session: requests.Session | None = None,
        budget: Budget | None = None,
        on_exchange: ExchangeHook | None = None,
        user_agent: str = USER_AGENT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = user_agent
        self.budget = budget
        self.on_exchange = on_exchange
        # The proxies of each host, resolved once: requests would read the environment
        # (HTTP_PROXY, NO_PROXY…) again for every request — a millisecond each. Beyond
        # proxies the environment only offers ~/.netrc credentials, which requests would
        # look for (a file read) before every request; ours carry their own Authorization.
        self._proxies: dict[str, dict[str, str]] = {}
        self._proxies_from_env = self.session.trust_env
        self.session.trust_env = False

    # -- hooks ---------------------------------------------------------------------------

    def _prepare(self, request: requests.PreparedRequest) -> None:
        """Sign or authorise a prepared request. Called again on every retry."""

    def _error_message(self, status: int, body: Any) -> tuple[str, dict[str, list[str]]]:
        """Turn an error body into (message, field errors)."""
        if isinstance(body, dict):
            for key in ("message", "error_description", "error", "replyText"):
                if isinstance(body.get(key), str) and body[key]:
                    return body[key], {}
        if isinstance(body, str) and body.strip():
            return body.strip()[:500], {}
        return f"HTTP {status}", {}

    def _check_body(self, response: requests.Response, body: Any) -> None:
        """Raise for errors reported inside a successful HTTP status (Emarsys)."""

    # -- the one request path --------------------------------------------------------------

    def url_for(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | list[tuple[str, Any]] | None = None,
        json_body: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: bool = True,
    ) -> tuple[requests.Response, Any]:
        """Send one request; return (response, decoded body) or raise a ConnectorError."""
        method = method.upper()
        url = self.url_for(path)
        request = requests.Request(
            method, url, params=params, json=json_body, data=data, headers=dict(headers or {})
        )
        prepared = self.session.prepare_request(request)
        if auth:
            self._prepare(prepared)
        if self.budget is not None:
            telemetry.budget_wait_counted(self.service, self.budget.acquire())
        started = time.monotonic()
        log_path = urlsplit(prepared.url or url).path
        try:
            response = self.session.send(
                prepared,
                timeout=self.timeout,
                allow_redirects=False,
                proxies=self._proxies_for(prepared),
            )
        except requests.Timeout as exc:
            self._log(method, log_path, None, started, json_body, None, error="timeout")
            raise TransientError(
                f"{self.service}: timed out talking to {urlsplit(url).netloc}",
                method=method,
                path=log_path,
            ) from exc
        except requests.ConnectionError as exc:
            self._log(method, log_path, None, started, json_body, None, error="connection")
            raise TransientError(
                f"{self.service}: connection failed ({type(exc).__name__})",
                method=method,
                path=log_path,
            ) from exc
        body = decode_body(response)
        self._log(method, log_path, response, started, json_body, body)
        if response.status_code >= 400:
            raise self._error_for(method, log_path, response, body)
        self._check_body(response, body)
        return response, body

    def _proxies_for(self, prepared: requests.PreparedRequest) -> dict[str, str]:
        parts = urlsplit(prepared.url or "")
        host = f"{parts.scheme}://{parts.netloc}"
        if host not in self._proxies:
            self._proxies[host] = resolve_proxies(
                prepared, dict(self.session.proxies), self._proxies_from_env
            )
        return self._proxies[host]

    def _error_for(
        self, method: str, path: str, response: requests.Response, body: Any
    ) -> ConnectorError:
        status = response.status_code
        message, field_errors = self._error_message(status, body)
        message = f"{self.service}: {message}"
        request_id = response.headers.get("X-Request-Id") or response.headers.get("X-Request-ID")
        common: dict[str, Any] = {
            "status": status,
            "method": method,
            "path": path,
            "body": body,
            "request_id": request_id,
            "field_errors": field_errors,
        }
        if status == 429:
            retry_after = parse_retry_after(response.headers)
            return RateLimited(message, retry_after=retry_after or 1.0, **common)
        if status in (401, 403):
            return AuthError(message, **common)
        if status == 404:
            return NotFound(message, **common)
        if status in (400, 422):
            return ValidationError(message, **common)
        if status == 409 or status >= 500:
            return TransientError(message, **common)
        return PermanentError(message, **common)

    def _log(
        self,
        method: str,
        path: str,
        response: requests.Response | None,
        started: float,
        request_body: Any,
        response_body: Any,
        *,
        error: str | None = None,
    ) -> None:
        elapsed = time.monotonic() - started
        elapsed_ms = int(elapsed * 1000)
        status = response.status_code if response is not None else None
        telemetry.request_counted(self.service, method, status, elapsed, error=error)
        # An answer that worked is DEBUG (a first sync makes one a contact; each write is
        # in the contact's delivery attempts anyway), a refusal INFO, a failure WARNING.
        if status is None or status >= 500:
            level = logging.WARNING
        elif status >= 400:
            level = logging.INFO
        else:
            level = logging.DEBUG
        if not logger.isEnabledFor(level) and self.on_exchange is None:
            return
        logger.log(
            level,
            "%s %s %s %s %dms",
            self.service,
            method,
            path,
            status if status is not None else error,
            elapsed_ms,
            extra={
                "service": self.service,
                "http_method": method,
                "http_path": path,
                "http_status": status,
                "elapsed_ms": elapsed_ms,
            },
        )
        if self.on_exchange is not None:
            self.on_exchange(
                Exchange(
                    method=method,
                    url=path,
                    status=status,
                    elapsed_ms=elapsed_ms,
                    request_body=request_body,
                    response_body=response_body,
                    error=error,
                    request_headers=redact_headers(response.request.headers)
                    if response is not None
                    else {},
                    response_headers=dict(response.headers) if response is not None else {},
                )
            )


def iter_backoff(*, floor: float = 0.5, cap: float = 30.0, factor: float = 2.0) -> Iterator[float]:
    """Exponential backoff delays with full jitter, never below ``floor`` or above ``cap``."""
    import random

    attempt = 0
    while True:
        ceiling = min(cap, floor * (factor**attempt))
        yield max(floor, random.uniform(0, ceiling))
        attempt += 1


def call_with_retries(
    fn: Callable[[], T],
    *,
    max_attempts: int = 4,
    max_rate_limit_wait: float = 300.0,
    sleep: Callable[[float], None] | None = None,
    floor: float = 0.5,
    cap: float = 30.0,
) -> T:
    """Call ``fn`` retrying transient failures with backoff.

    Only :class:`TransientError` is retried. A :class:`RateLimited` answer sleeps for its
    ``retry_after`` and does **not** use up an attempt (up to ``max_rate_limit_wait`` seconds
    of waiting in total, after which it is re-raised so the caller can defer the work). No
    wait runs past the task's deadline (:mod:`connectors.deadline`).
    """
    # Looked up at call time, so tests (and simulations) can replace time.sleep.
    pause = sleep or time.sleep
    delays = iter_backoff(floor=floor, cap=cap)
    attempts = 0
    waited = 0.0
    while True:
        try:
            return fn()
        except RateLimited as exc:
            if waited + exc.retry_after > max_rate_limit_wait or isinstance(exc, DeadlineReached):
                raise
            check_wait(exc.retry_after, exc.message)
            waited += exc.retry_after
            pause(exc.retry_after)
        except TransientError:
            attempts += 1
            if attempts >= max_attempts:
                raise
            delay = next(delays)
            left = remaining()
            if left is not None and delay > left:
                raise  # no time left for another attempt: the caller defers the work
            pause(delay)


__all__ = [
    "USER_AGENT",
    "AuthError",
    "BaseClient",
    "ConnectorError",
    "Exchange",
    "NotFound",
    "PermanentError",
    "RateLimited",
    "TransientError",
    "ValidationError",
    "call_with_retries",
    "decode_body",
    "parse_retry_after",
]
