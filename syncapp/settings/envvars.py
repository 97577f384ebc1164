"""Reading the environment: an empty variable is an unset one.

``cp .env.example .env`` leaves lines such as ``CELERY_BROKER_URL=``; docker compose passes
them to every container as ``''``. A reader that took ``''`` for a value would set the
broker to nothing (and Celery to its ``amqp://localhost`` default) or the var folder to
``.``. Every optional setting is read here, where blank means "use the default".
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f"}


def raw(name: str) -> str | None:
    """The variable's value, or None when it is unset or blank."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def text(name: str, default: str = "") -> str:
    value = raw(name)
    return default if value is None else value


def flag(name: str, default: bool = False) -> bool:
    value = raw(name)
    if value is None:
        return default
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a yes/no value (use 1 or 0).")


def integer(name: str, default: int) -> int:
    value = raw(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r} is not a whole number.") from None


def items(name: str, default: list[str] | None = None) -> list[str]:
    """A comma-separated list; blank entries are dropped."""
    value = raw(name)
    if value is None:
        return list(default or [])
    return [part.strip() for part in value.split(",") if part.strip()]


def database(name: str, default: str) -> dict[str, Any]:
    url = text(name, default)
    try:
        return dict(environ.Env.db_url_config(url))
    except Exception as exc:  # django-environ raises several kinds for a bad URL
        raise ImproperlyConfigured(f"{name} is not a database URL ({exc}).") from None


# Brokers that reach a server (and so need a host) and those that live in the process
# or on this machine's disk.
NETWORK_BROKERS = {"redis", "rediss", "amqp", "amqps", "pyamqp", "sqs", "sentinel"}
LOCAL_BROKERS = {"filesystem", "memory"}


def broker_url(name: str, default: str) -> str:
    """The Celery broker: refused at start-up when it points nowhere (no scheme Celery
    knows, or a network broker without a host), instead of letting Celery fall back to
    ``amqp://guest@localhost`` and every worker wait for a server that is not there."""
    url = text(name, default)
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0].lower()
    if scheme in LOCAL_BROKERS:
        return url
    if scheme not in NETWORK_BROKERS:
        raise ImproperlyConfigured(
            f"{name}={url!r}: not a broker URL Contact Sync knows "
            f"(redis://host:6379/0, amqp://user:password@host:5672//, or filesystem://)."
        )
    if not parts.hostname:
        raise ImproperlyConfigured(
            f"{name}={url!r} names no host: the workers would wait for a broker that is "
            f"not there. Give the broker's host (e.g. redis://redis:6379/0)."
        )
    return url
