"""Parsing helpers for FreeAgent responses: Link headers, contact ids, timestamps, errors."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .fields import WRITABLE

_LINK_RE = re.compile(r"""<([^>]*)>\s*;\s*rel\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s,;]+))""")


def parse_link_header(value: str | None) -> dict[str, str]:
    """``rel`` → URL from a ``Link`` header; accepts ``rel="next"`` and ``rel='next'``."""
    links: dict[str, str] = {}
    for match in _LINK_RE.finditer(value or ""):
        rel = match.group(2) or match.group(3) or match.group(4) or ""
        for name in rel.split():
            links.setdefault(name.lower(), match.group(1))
    return links


def contact_id(url_or_id: str | int) -> int:
    """The numeric id of a contact, from its ``url`` (last path segment) or an id."""
    text = str(url_or_id).strip().rstrip("/")
    tail = text.rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise ValueError(f"not a FreeAgent contact url or id: {url_or_id!r}")
    return int(tail)


def format_timestamp(value: datetime | str) -> str:
    """FreeAgent's timestamp form, ``2025-10-03T21:36:19.000Z`` (naive = UTC)."""
    if isinstance(value, str):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# Rails-style messages start with the humanised attribute ("Country … is not valid").
_CONTACT_FIELDS = sorted(WRITABLE, key=len, reverse=True)


def _field_of(message: str) -> str | None:
    lowered = message.lower()
    for name in _CONTACT_FIELDS:
        human = name.replace("_", " ")
        if lowered == human or lowered.startswith(human + " "):
            return name
    return None


def parse_errors(body: Any) -> tuple[list[str], dict[str, list[str]]]:
    """Messages and field errors from any FreeAgent error body."""
    messages: list[str] = []
    fields: dict[str, list[str]] = {}

    def take(item: Any) -> None:
        if isinstance(item, str):
            messages.append(item)
        elif isinstance(item, Mapping):
            message = item.get("message")
            if isinstance(message, str):
                messages.append(message)
                attribute = item.get("field") or item.get("attribute") or _field_of(message)
                if isinstance(attribute, str) and attribute:
                    fields.setdefault(attribute, []).append(message)
            else:
                for value in item.values():
                    take(value)
        elif isinstance(item, list):
            for value in item:
                take(value)

    if isinstance(body, Mapping):
        if "errors" in body:
            take(body["errors"])
        elif isinstance(body.get("error"), str):
            # OAuth shape.
            messages.append(str(body.get("error_description") or body["error"]))
        elif "message" in body:
            take(body)
    elif isinstance(body, str) and body.strip():
        messages.append(body.strip()[:500])
    return messages, fields
