"""Service detection: tests marked postgres/redis/mariadb run against the real servers
(and browser tests in Debian's Chromium).

Without the service they are skipped — unless REQUIRE_SERVICES=1 (CI), where a missing
service fails them, so CI can never pass by skipping.
"""

from __future__ import annotations

import os
from functools import cache

import pytest

REQUIRE_SERVICES = os.environ.get("REQUIRE_SERVICES") == "1"


@cache
def _postgres_reason() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://", "pgsql://")):
        return "DATABASE_URL does not point at PostgreSQL"
    return None


@cache
def _redis_reason() -> str | None:
    url = os.environ.get("REDIS_URL", "")
    if not url:
        return "REDIS_URL is not set"
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except Exception as exc:
        return f"Redis at REDIS_URL is not reachable: {exc}"
    return None


@cache
def _mariadb_reason() -> str | None:
    dsn = os.environ.get("MAGENTO_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")
    try:
        from urllib.parse import urlsplit

        import pymysql

        parts = urlsplit(dsn)
        pymysql.connect(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=parts.username or "root",
            password=parts.password or "",
            connect_timeout=2,
        ).close()
    except Exception as exc:
        return f"MariaDB at {dsn} is not reachable: {exc}"
    return None


@cache
def _browser_reason() -> str | None:
    if not os.path.exists("/usr/bin/chromium"):
        return "Debian's Chromium is not installed (apt-get install chromium)"
    return None


_CHECKS = {
    "postgres": _postgres_reason,
    "redis": _redis_reason,
    "mariadb": _mariadb_reason,
    "browser": _browser_reason,
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, check in _CHECKS.items():
        if item.get_closest_marker(marker) is None:
            continue
        reason = check()
        if reason is None:
            continue
        if REQUIRE_SERVICES:
            pytest.fail(f"REQUIRE_SERVICES=1 but {reason}", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _fresh_local_budgets() -> None:
    """In-process rate budgets are keyed by client id, which tests reuse: start clean."""
    from connectors.ratelimit import local_budgets_reset

    local_budgets_reset()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """The cache remembers webhook signatures (replay protection): start every test empty."""
    from django.conf import settings

    if not settings.configured:  # connector tests may run without Django (-p no:django)
        return
    from django.core.cache import cache

    cache.clear()
