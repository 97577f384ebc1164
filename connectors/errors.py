"""The one error family every connector raises.

Callers decide what to do by class, never by parsing messages:

* :class:`TransientError` (and :class:`RateLimited`) — worth retrying later;
* :class:`PermanentError` subclasses — retrying the same request will fail the same way.
"""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """Base of every error raised by a connector client.

    Keeps what a support engineer needs: the HTTP status (if any), the method and path
    that failed, the decoded body and the remote request id.
    """

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str = "",
        path: str = "",
        body: Any = None,
        request_id: str | None = None,
        field_errors: dict[str, list[str]] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.method = method
        self.path = path
        self.body = body
        self.request_id = request_id
        self.field_errors: dict[str, list[str]] = field_errors or {}

    def __str__(self) -> str:
        where = f" ({self.method} {self.path} -> {self.status})" if self.status else ""
        return f"{self.message}{where}"

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe summary for storing on a contact or a run."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "status": self.status,
            "method": self.method,
            "path": self.path,
            "field_errors": self.field_errors,
            "request_id": self.request_id,
        }


class TransientError(ConnectorError):
    """Timeouts, connection resets, 5xx and 409: the same request may succeed later."""

    retryable = True


class RateLimited(TransientError):
    """HTTP 429, or our own shared budget ran out. ``retry_after`` is in seconds."""

    def __init__(self, message: str, *, retry_after: float = 1.0, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = max(0.0, float(retry_after))


class PermanentError(ConnectorError):
    """The request itself is wrong or not allowed; retrying it changes nothing."""


class AuthError(PermanentError):
    """401/403: credentials missing, wrong, expired beyond refresh, or not permitted."""


class ValidationError(PermanentError):
    """400/422: the remote rejected the payload. ``field_errors`` maps field → messages."""


class NotFound(PermanentError):
    """404: the remote record does not exist (any more)."""


class ConfigurationError(PermanentError):
    """Our side is misconfigured (missing base URL, unknown auth method …)."""
