"""Model fields that encrypt their value at rest (Fernet, key from FIELD_ENCRYPTION_KEY)."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(keys: str) -> MultiFernet:
    # Several comma-separated keys allow rotation: the first encrypts, all decrypt.
    try:
        return MultiFernet([Fernet(k.strip().encode()) for k in keys.split(",") if k.strip()])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY must be one or more comma-separated Fernet keys"
        ) from exc


def encrypt(value: str) -> str:
    return PREFIX + _fernet(settings.FIELD_ENCRYPTION_KEY).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    if not token.startswith(PREFIX):
        raise ValueError("value is not encrypted")
    try:
        return (
            _fernet(settings.FIELD_ENCRYPTION_KEY).decrypt(token[len(PREFIX) :].encode()).decode()
        )
    except InvalidToken as exc:
        raise ImproperlyConfigured(
            "Stored credentials cannot be decrypted with FIELD_ENCRYPTION_KEY "
            "(was the key changed?)"
        ) from exc


SECRET_MARKERS = ("secret", "token", "password", "dsn", "key")
REDACTED = "***"


def redact(value: Any) -> Any:
    """``value`` with every secret-looking key's value replaced by ``***``."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if v and any(m in str(k).lower() for m in SECRET_MARKERS) else redact(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


class Ciphertext(dict[str, Any]):
    """A value to be written as this exact ciphertext (key rotation writes these)."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token


class Undecryptable(Ciphertext):
    """What an encrypted value reads as when no configured key opens it: empty (so pages
    render and the client asks for its secrets again), keeping the ciphertext, which is
    written back unchanged — a save never destroys secrets a restored key could open."""


def undecryptable(value: Any) -> bool:
    """True for a value no configured key could decrypt."""
    return isinstance(value, Undecryptable)


def _load(value: str) -> Any:
    try:
        return json.loads(decrypt(value))
    except ImproperlyConfigured:
        return Undecryptable(value)


def rotate(token: str) -> str | None:
    """The ciphertext re-encrypted with the first key; None when it already is. Raises
    :class:`InvalidToken` when no configured key opens it."""
    keys = [k.strip() for k in settings.FIELD_ENCRYPTION_KEY.split(",") if k.strip()]
    body = token[len(PREFIX) :].encode()
    try:
        Fernet(keys[0].encode()).decrypt(body)
        return None
    except InvalidToken:
        pass
    return PREFIX + _fernet(settings.FIELD_ENCRYPTION_KEY).rotate(body).decode()


class EncryptedJSONField(models.TextField):
    """A dict stored as Fernet ciphertext; reads give back the dict, the DB never sees it."""

    description = "Encrypted JSON"

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None or value == "":
            return {}
        if isinstance(value, dict):
            return value
        if not str(value).startswith(PREFIX):
            # Written before the column was encrypted: plain JSON, encrypted on next save.
            return json.loads(value)
        return _load(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, dict):
            return value
        if value is None or value == "":
            return {}
        if isinstance(value, str) and value.startswith(PREFIX):
            return _load(value)
        if isinstance(value, str):
            return json.loads(value)
        return value

    def get_prep_value(self, value: Any) -> Any:
        if isinstance(value, Ciphertext):
            # Written as is: an unreadable value is never overwritten (a restored key could
            # still open it); a rotated one is already encrypted.
            return value.token
        if value is None:
            value = {}
        return encrypt(json.dumps(value, sort_keys=True))

    def value_to_string(self, obj: models.Model) -> str:
        # Serialisation (dumpdata) keeps the structure but never a secret value.
        return json.dumps(redact(self.value_from_object(obj)), sort_keys=True)
