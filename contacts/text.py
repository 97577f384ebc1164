"""Text from Magento made safe to store and to send. Pure functions.

* :func:`clean_json` removes what PostgreSQL (and JSON consumers) cannot take — NUL and
  other control characters, unpaired UTF-16 surrogates — from every string of a record,
  and says which fields it changed, so the contact can say so instead of the collection
  failing on that record again and again.
* :func:`email_problem` is the one e-mail check of both targets: what FreeAgent and Emarsys
  refuse (spaces, quotes, angle brackets, a second @ …) fails the contact with the reason
  before anything is sent.
"""

from __future__ import annotations

import re
from typing import Any

# Control characters but tab, newline and carriage return; unpaired surrogates.
_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|[\ud800-\udfff]")
CLEANED_KEY = "_contactsync_cleaned"

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")  # O'Neil is fine
_LABEL = re.compile(
    r"^[A-Za-z0-9\u00a1-\uffff](?:[A-Za-z0-9\u00a1-\uffff-]*[A-Za-z0-9\u00a1-\uffff])?$"
)
MAX_EMAIL = 254


def clean_text(value: str) -> str:
    """``value`` without control characters (tab and newlines kept) or lone surrogates."""
    return _UNSAFE.sub("", value)


def clean_json(data: Any, path: str = "") -> tuple[Any, list[str]]:
    """``data`` with every string cleaned (keys too); the paths of the values changed."""
    changed: list[str] = []
    if isinstance(data, str):
        cleaned = clean_text(data)
        return cleaned, ([path or "(value)"] if cleaned != data else [])
    if isinstance(data, list):
        items = []
        for index, item in enumerate(data):
            value, paths = clean_json(item, f"{path}[{index}]")
            items.append(value)
            changed += paths
        return items, changed
    if isinstance(data, dict):
        out: dict[Any, Any] = {}
        for key, item in data.items():
            name = clean_text(key) if isinstance(key, str) else key
            value, paths = clean_json(item, f"{path}.{name}" if path else str(name))
            out[name] = value
            changed += paths
        return out, changed
    return data, changed


def email_problem(email: str) -> str | None:
    """Why FreeAgent or Emarsys would refuse this address (None when it is fine)."""
    if not email:
        return "is empty"
    if len(email) > MAX_EMAIL:
        return f"is {len(email)} characters long (at most {MAX_EMAIL})"
    if any(ch.isspace() for ch in email):
        return f"{email!r} contains a space"
    if any(ch in email for ch in '"<>(),;:[]\\'):
        return f"{email!r} contains a character addresses cannot hold (quotes, brackets …)"
    if email.count("@") != 1:
        return f"{email!r} is not an e-mail address (it needs exactly one @)"
    local, domain = email.split("@")
    if not local or not _LOCAL.match(local) or ".." in local or local[0] == "." or local[-1] == ".":
        return f"{email!r} has an invalid part before the @"
    labels = domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return f"{email!r} has an invalid domain"
    return None
