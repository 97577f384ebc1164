"""The Emarsys ``{replyCode, replyText, data}`` envelope and its per-item errors.

Success is ``replyCode == 0`` only. Batch calls report per-contact failures inside an
HTTP 200 under ``data.errors`` in one of three shapes, normalised here to :class:`ItemError`:

* an object keyed by key value: ``{"a@b.c": {"2008": "No contact found…"}}``;
* an array (getdata): ``[{"key": "a@b.c", "errorCode": "2008", "errorMsg": "…"}]``;
* an empty array ``[]`` (never ``{}``) when nothing failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
    ValidationError,
)

# Per-item codes the sync logic branches on.
NOT_FOUND = 2008
ALREADY_EXISTS = frozenset({2009, 2006})  # 2006 on the single-create page, 2009 elsewhere
AMBIGUOUS_KEY = 2010

AUTH_CODES = frozenset({1})  # "Credentials are invalid"
RATE_LIMIT_CODES = frozenset({7003})
NOT_FOUND_CODES = frozenset({2008, 3006, 4003, 4004, 4006, 13001, 10002})
# "Try again later": export still running, database/internal errors.
TRANSIENT_CODES = frozenset({4001, 4005, 4007, 2011, 1003, 9004, 10003})
# The payload is wrong whatever the 4xx status (1000 also answers an oversized body).
VALIDATION_CODES = frozenset(
    {1000, 2002, 2003, 2004, 2005, 2006, 2007, 2009, 2010, 2013, 2014, 2015, 2016}
    | {3002, 3003, 3004, 3005, 9001, 9002, 9003, 9005, 9006, 10001}
)


def as_id(value: Any) -> str:
    """Normalise an Emarsys id (int in some responses, string in others) to ``str``."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"not an Emarsys id: {value!r}")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def as_int(value: Any, default: int = 0) -> int:
    """Parse an int that may arrive as a JSON number or a numeric string."""
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


@dataclass(frozen=True)
class ItemError:
    """One contact/key that failed inside an otherwise successful call."""

    key: str
    code: int
    message: str

    @property
    def not_found(self) -> bool:
        """2008: no contact with this key value (update of a missing contact)."""
        return self.code == NOT_FOUND

    @property
    def already_exists(self) -> bool:
        """2009 (or 2006): create of a contact that already exists, or an upsert race."""
        return self.code in ALREADY_EXISTS

    @property
    def ambiguous(self) -> bool:
        """2010: more than one contact has this key value."""
        return self.code == AMBIGUOUS_KEY

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form for storing on a contact's message."""
        return {"key": self.key, "code": self.code, "message": self.message}


def parse_item_errors(raw: Any) -> list[ItemError]:
    """Normalise any of the three ``data.errors`` shapes to a list of :class:`ItemError`."""
    if not raw:
        return []
    errors: list[ItemError] = []
    if isinstance(raw, dict):
        for key, detail in raw.items():
            if isinstance(detail, dict) and detail:
                for code, message in detail.items():
                    errors.append(ItemError(str(key), as_int(code), str(message)))
            elif isinstance(detail, dict):
                errors.append(ItemError(str(key), 0, "unknown error"))
            else:
                errors.append(ItemError(str(key), 0, str(detail)))
        return errors
    if isinstance(raw, list):
        for entry in raw:
            if isinstance(entry, dict):
                errors.append(
                    ItemError(
                        _key_text(entry.get("key")),
                        as_int(entry.get("errorCode", entry.get("code"))),
                        str(entry.get("errorMsg", entry.get("message", ""))),
                    )
                )
            else:
                errors.append(ItemError("", 0, str(entry)))
    return errors


def _key_text(value: Any) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def is_envelope(body: Any) -> bool:
    """True for a decoded body shaped like ``{"replyCode": …, …}``."""
    return isinstance(body, dict) and "replyCode" in body


def reply_code(body: Any) -> int | None:
    """The envelope's replyCode, or None when ``body`` is not an envelope."""
    if not is_envelope(body):
        return None
    return as_int(body.get("replyCode"), default=-1)


def reply_code_of(error: ConnectorError) -> int | None:
    """The Emarsys replyCode carried by a connector error (kept in ``error.body``)."""
    return reply_code(error.body)


def envelope_message(body: Any) -> str:
    """``replyCode N: text`` for an envelope, so logs and contact messages keep both."""
    code = reply_code(body)
    text = str(body.get("replyText") or "").strip() if isinstance(body, dict) else ""
    if code is None:
        return text or "unexpected response"
    return f"replyCode {code}: {text or 'error'}"


def error_class_for(code: int, status: int | None) -> type[ConnectorError] | None:
    """The error class a non-zero replyCode maps to, or None to decide by HTTP status.

    Codes win over statuses because Emarsys reuses codes under different statuses; only
    429 and 5xx stay status-driven (they are retryable whatever the code says).
    """
    if status is not None and status < 400:
        status = None  # an error envelope inside a 2xx: decide by the code alone
    if status == 429:
        return RateLimited
    if status is not None and status >= 500:
        return TransientError  # 7003 under 500 is a database error, not a rate limit
    if code in RATE_LIMIT_CODES and status is None:
        return RateLimited
    if code in AUTH_CODES or status in (401, 403):
        return AuthError
    if code in TRANSIENT_CODES:
        return TransientError
    if code in NOT_FOUND_CODES:
        return NotFound
    if code in VALIDATION_CODES or (code > 0 and status in (None, 400, 422)):
        return ValidationError
    return None if status is not None else PermanentError
