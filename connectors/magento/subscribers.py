"""Newsletter subscribers through a pluggable source.

Core Magento has no REST route that lists subscribers, so three sources are offered, all
yielding the same normalised dict::

    {"subscriber_id": int | None, "email": str, "status": 1|2|3|4,
     "customer_id": int | None, "store_id": int | None, "change_status_at": str | None}

Status codes are Magento's: 1 subscribed, 2 not active (awaiting double opt-in),
3 unsubscribed, 4 unconfirmed. ``customer_id`` is ``None`` for guests (Magento stores 0).

* :class:`CustomerFlagSource` — ``extension_attributes.is_subscribed`` on customers.
  Registered customers only, a boolean only (``False`` is reported as 3: Magento cannot
  tell "never subscribed" from "unsubscribed" here), no ``subscriber_id``. Subscription
  changes do not bump the customer's ``updated_at``: run it with ``since=None`` for a
  reconcile. Write-back: ``PUT /V1/customers/{id}``.
* :class:`RestRouteSource` — an Emarsys-extension-style module route:

  ``GET /rest/<store>/V1/emarsys/subscriptions`` with query ``page`` (1-based),
  ``page_size`` (≤ 1000), optional ``changed_since`` (``YYYY-MM-DD HH:MM:SS`` UTC,
  inclusive, on ``change_status_at``), ``subscribed`` (``1``/``0``), ``only_guest``
  (``1``), ``website_id``, ``store_id``. Rows are ordered by ``subscriber_id``. Answer::

      {"current_page": 1, "last_page": 3, "page_size": 1000, "total_count": 2345,
       "subscriptions": [{"subscriber_id": 7, "subscriber_email": "a@b.c",
                          "subscriber_status": 1, "customer_id": 0, "store_id": 1,
                          "website_id": 1, "change_status_at": "2025-01-02 03:04:05"}]}

  ``POST /rest/<store>/V1/emarsys/subscriptions`` with
  ``{"subscriptions": [{"subscriber_email", "subscriber_status", "customer_id", "store_id"}]}``
  creates or updates the row for (email, store) and answers ``{"status": "ok"}``.
  Rows only ever *enter* a ``changed_since`` window (a status change moves
  ``change_status_at`` forward), and the order is by the stable ``subscriber_id``, so a
  change mid-run can cause a duplicate but never a skip. Past the last page the route
  returns an empty list; we stop on ``last_page`` anyway.
* :class:`SqlSource` — read-only ``SELECT`` on ``newsletter_subscriber`` through a MySQL/
  MariaDB DSN ``mysql://user:pass@host:port/db`` (PyMySQL, parameterised queries only;
  the optional table prefix is validated because identifiers cannot be parameters).
  Rows imported straight into SQL have no ``change_status_at``: incremental reads skip
  them, so schedule a periodic ``since=None`` reconcile.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from connectors.errors import ConfigurationError, TransientError
from connectors.magento.client import MagentoClient

SUBSCRIBED, NOT_ACTIVE, UNSUBSCRIBED, UNCONFIRMED = 1, 2, 3, 4
STATUSES = (SUBSCRIBED, NOT_ACTIVE, UNSUBSCRIBED, UNCONFIRMED)


class SubscriberSource(Protocol):
    """Where subscribers come from; see the module docstring for the dict shape."""

    def iter_subscribers(self, since: str | None) -> Iterator[dict[str, Any]]:
        """Subscribers whose status changed at or after ``since`` (all when ``None``)."""
        ...  # pragma: no cover

    def set_status(
        self, *, email: str, status: int, customer_id: int | None, store_id: int | None
    ) -> None:
        """Write a subscription status back to Magento (opt-in write-back)."""
        ...  # pragma: no cover


def normalise_row(row: dict[str, Any]) -> dict[str, Any]:
    """A ``newsletter_subscriber``-shaped row (REST or SQL) to the normalised dict."""
    customer_id = int(row.get("customer_id") or 0)
    changed = row.get("change_status_at")
    if changed is not None and not isinstance(changed, str):
        changed = changed.strftime("%Y-%m-%d %H:%M:%S")
    store_id = row.get("store_id")
    return {
        "subscriber_id": int(row["subscriber_id"]),
        "email": str(row.get("subscriber_email") or "").strip(),
        "status": int(row.get("subscriber_status") or 0),
        "customer_id": customer_id or None,
        "store_id": int(store_id) if store_id is not None else None,
        "change_status_at": changed,
    }


def _check_status(status: int) -> int:
    if status not in STATUSES:
        raise ValueError(f"unknown subscriber status {status!r}")
    return status


class CustomerFlagSource:
    """Subscribers read from customers' ``extension_attributes.is_subscribed``."""

    def __init__(self, client: MagentoClient, *, page_size: int = 100) -> None:
        self.client = client
        self.page_size = page_size

    def iter_subscribers(self, since: str | None) -> Iterator[dict[str, Any]]:
        """Registered customers that carry the flag; ``since`` filters on ``updated_at``."""
        cursor = (since, 0) if since else None
        pager = self.client.iter_customers_changed(
            cursor, page_size=self.page_size, overlap_seconds=0
        )
        for customer in pager:
            flag = (customer.get("extension_attributes") or {}).get("is_subscribed")
            if flag is None:
                continue  # Magento_Newsletter disabled: no information, not "unsubscribed".
            yield {
                "subscriber_id": None,
                "email": str(customer.get("email") or "").strip(),
                "status": SUBSCRIBED if flag else UNSUBSCRIBED,
                "customer_id": int(customer["id"]),
                "store_id": customer.get("store_id"),
                "change_status_at": None,
            }

    def set_status(
        self, *, email: str, status: int, customer_id: int | None, store_id: int | None
    ) -> None:
        """Subscribe (status 1) or unsubscribe (anything else) a registered customer."""
        _check_status(status)
        if customer_id is None:
            raise ConfigurationError("magento: guests cannot be written through is_subscribed")
        self.client.set_customer_subscription(customer_id, status == SUBSCRIBED)


class RestRouteSource:
    """Subscribers from the ``/V1/emarsys/subscriptions`` module route."""

    route = "emarsys/subscriptions"

    def __init__(self, client: MagentoClient, *, page_size: int = 1000) -> None:
        self.client = client
        self.page_size = page_size

    def iter_subscribers(self, since: str | None) -> Iterator[dict[str, Any]]:
        """Every page of the route, stopping on ``last_page`` (not on an empty page)."""
        page = 1
        while True:
            params: list[tuple[str, Any]] = [("page", page), ("page_size", self.page_size)]
            if since:
                params.append(("changed_since", since))
            body = self.client.get(self.route, params)
            if not isinstance(body, dict) or "subscriptions" not in body:
                raise TransientError("magento: malformed subscriptions response")
            for row in body["subscriptions"]:
                yield normalise_row(row)
            if page >= int(body.get("last_page") or 1) or not body["subscriptions"]:
                return
            page += 1

    def set_status(
        self, *, email: str, status: int, customer_id: int | None, store_id: int | None
    ) -> None:
        """Create or update the subscriber row for (email, store)."""
        row = {
            "subscriber_email": email,
            "subscriber_status": _check_status(status),
            "customer_id": customer_id or 0,
            "store_id": store_id or 0,
        }
        self.client.send("POST", self.route, {"subscriptions": [row]})


_PREFIX = re.compile(r"^[A-Za-z0-9_]{0,64}$")


def parse_mysql_dsn(dsn: str) -> dict[str, Any]:
    """``mysql://user:pass@host:port/db`` → PyMySQL ``connect()`` keyword arguments."""
    parts = urlsplit(dsn)
    if parts.scheme not in ("mysql", "mariadb", "mysql+pymysql"):
        raise ConfigurationError(f"magento: unsupported subscriber DSN scheme {parts.scheme!r}")
    database = parts.path.lstrip("/")
    if not database:
        raise ConfigurationError("magento: the subscriber DSN names no database")
    return {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": unquote(database),
        "charset": "utf8mb4",
    }


class SqlSource:
    """Read-only SQL on ``newsletter_subscriber`` (keyset by ``subscriber_id``)."""

    def __init__(
        self, dsn: str, *, table_prefix: str = "", batch_size: int = 1000, connect_timeout: int = 5
    ) -> None:
        if not _PREFIX.match(table_prefix):
            raise ConfigurationError("magento: table prefix may only hold letters, digits, _")
        self.connect_args = parse_mysql_dsn(dsn)
        self.connect_args["connect_timeout"] = connect_timeout
        self.table = f"{table_prefix}newsletter_subscriber"
        self.batch_size = batch_size

    def _connect(self) -> Any:
        import pymysql

        try:
            connection = pymysql.connect(
                cursorclass=pymysql.cursors.DictCursor, **self.connect_args
            )
        except pymysql.err.OperationalError as exc:
            raise TransientError(
                f"magento: subscriber database unreachable ({exc.args[0]})"
            ) from exc
        with connection.cursor() as cursor:
            # Belt and braces on top of a read-only grant: this source never writes.
            cursor.execute("SET SESSION TRANSACTION READ ONLY")
            # Magento stores UTC and so do we; keep TIMESTAMP columns from shifting.
            cursor.execute("SET time_zone = '+00:00'")
        return connection

    def iter_subscribers(self, since: str | None) -> Iterator[dict[str, Any]]:
        """Rows by ascending ``subscriber_id``, in batches, one read-only connection."""
        columns = (
            "subscriber_id, subscriber_email, subscriber_status, customer_id, store_id, "
            "change_status_at"
        )
        where = "subscriber_id > %s"
        if since:
            where += " AND change_status_at >= %s"
        sql = f"SELECT {columns} FROM `{self.table}` WHERE {where} ORDER BY subscriber_id LIMIT %s"
        connection = self._connect()
        try:
            last_id = 0
            while True:
                args: tuple[Any, ...] = (
                    (last_id, since, self.batch_size)
                    if since
                    else (
                        last_id,
                        self.batch_size,
                    )
                )
                with connection.cursor() as cursor:
                    cursor.execute(sql, args)
                    rows = cursor.fetchall()
                for row in rows:
                    last_id = int(row["subscriber_id"])
                    yield normalise_row(row)
                if len(rows) < self.batch_size:
                    return
        finally:
            connection.close()

    def set_status(
        self, *, email: str, status: int, customer_id: int | None, store_id: int | None
    ) -> None:
        """Refused: this source only has read access (write back through REST instead)."""
        raise ConfigurationError("magento: the SQL subscriber source is read-only")
