"""The three subscriber sources: customer flag, the module REST route, read-only SQL."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pymysql
import pytest

from connectors.errors import ConfigurationError
from connectors.magento.client import MagentoClient
from connectors.magento.subscribers import (
    CustomerFlagSource,
    RestRouteSource,
    SqlSource,
    parse_mysql_dsn,
)
from connectors.simulators.magento.app import MagentoSimulator

DSN = os.environ.get("MAGENTO_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")
KEYS = {"subscriber_id", "email", "status", "customer_id", "store_id", "change_status_at"}


def test_customer_flag_source(client: MagentoClient, sim: MagentoSimulator) -> None:
    source = CustomerFlagSource(client, page_size=20)
    rows = list(source.iter_subscribers(None))
    assert len(rows) == len(sim.customers)
    assert all(set(r) == KEYS and r["subscriber_id"] is None for r in rows)
    subscribed = {r["customer_id"] for r in rows if r["status"] == 1}
    assert subscribed == {c["id"] for c in sim.customers.values() if sim.is_subscribed(c)}

    target = next(r for r in rows if r["status"] == 3)
    source.set_status(
        email=target["email"], status=1, customer_id=target["customer_id"], store_id=1
    )
    assert sim.is_subscribed(sim.customers[target["customer_id"]])
    with pytest.raises(ConfigurationError):
        source.set_status(email="guest@example.com", status=1, customer_id=None, store_id=1)


def test_rest_route_source_pages_filters_and_writes(
    client: MagentoClient, sim: MagentoSimulator
) -> None:
    source = RestRouteSource(client, page_size=7)
    rows = list(source.iter_subscribers(None))
    assert [r["subscriber_id"] for r in rows] == sorted(sim.subscribers)
    assert {(r["customer_id"] is None, r["status"]) for r in rows} >= {
        (guest, status) for guest in (True, False) for status in (1, 2, 3, 4)
    }
    since = "2025-01-01 00:00:00"
    recent = list(source.iter_subscribers(since))
    assert {r["subscriber_id"] for r in recent} == {
        s["subscriber_id"]
        for s in sim.subscribers.values()
        if s["change_status_at"] and s["change_status_at"] >= since
    }

    before = len(sim.subscribers)
    source.set_status(email="new.reader@example.com", status=2, customer_id=None, store_id=3)
    source.set_status(email="NEW.reader@example.com", status=1, customer_id=None, store_id=3)
    assert len(sim.subscribers) == before + 1
    row = max(sim.subscribers.values(), key=lambda r: r["subscriber_id"])
    assert (row["subscriber_status"], row["customer_id"], row["store_id"]) == (1, 0, 3)
    latest = list(source.iter_subscribers(row["change_status_at"]))
    assert row["subscriber_id"] in {r["subscriber_id"] for r in latest}
    with pytest.raises(ValueError, match="unknown subscriber status"):
        source.set_status(email="x@example.com", status=9, customer_id=None, store_id=1)


def test_dsn_parsing() -> None:
    args = parse_mysql_dsn("mysql://reader:p%40ss@db.local:3307/magento")
    assert args == {
        "host": "db.local",
        "port": 3307,
        "user": "reader",
        "password": "p@ss",
        "database": "magento",
        "charset": "utf8mb4",
    }
    with pytest.raises(ConfigurationError):
        parse_mysql_dsn("postgres://x@y/z")
    with pytest.raises(ConfigurationError):
        SqlSource(DSN, table_prefix="x; DROP TABLE y")


@pytest.fixture
def sql_table() -> Iterator[str]:
    prefix = f"cs_test_{secrets.token_hex(4)}_"
    conn = pymysql.connect(**{k: v for k, v in parse_mysql_dsn(DSN).items()}, autocommit=True)
    table = f"{prefix}newsletter_subscriber"
    with conn.cursor() as cur:
        cur.execute(
            f"CREATE TABLE `{table}` (subscriber_id INT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
            " store_id SMALLINT UNSIGNED DEFAULT 0, change_status_at TIMESTAMP NULL DEFAULT NULL,"
            " customer_id INT UNSIGNED NOT NULL DEFAULT 0, subscriber_email VARCHAR(150),"
            " subscriber_status INT NOT NULL DEFAULT 0, subscriber_confirm_code VARCHAR(32))"
        )
        rows = [
            (1, "2025-01-01 10:00:00", 0, "guest@example.com", 1),
            (1, "2025-02-01 10:00:00", 7, "Reg.User@Example.com", 3),
            (3, None, 0, "imported@example.org", 1),  # direct SQL import: no change_status_at
            (3, "2025-03-01 10:00:00", 8, "o'brien@example.ie", 2),
            (2, "2025-03-02 10:00:00", 0, "zoë@example.de", 4),
        ]
        cur.executemany(
            f"INSERT INTO `{table}` (store_id, change_status_at, customer_id, subscriber_email,"
            " subscriber_status) VALUES (%s, %s, %s, %s, %s)",
            rows,
        )
    try:
        yield prefix
    finally:
        with conn.cursor() as cur:
            cur.execute(f"DROP TABLE IF EXISTS `{table}`")
        conn.close()


@pytest.mark.mariadb
def test_sql_source_reads_in_batches_and_incrementally(sql_table: str) -> None:
    source = SqlSource(DSN, table_prefix=sql_table, batch_size=2)
    rows = list(source.iter_subscribers(None))
    assert [r["subscriber_id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0] == {
        "subscriber_id": 1,
        "email": "guest@example.com",
        "status": 1,
        "customer_id": None,
        "store_id": 1,
        "change_status_at": "2025-01-01 10:00:00",
    }
    assert rows[1]["customer_id"] == 7
    assert rows[2]["change_status_at"] is None
    assert rows[4]["email"] == "zoë@example.de"
    assert {r["status"] for r in rows} == {1, 2, 3, 4}
    recent = list(source.iter_subscribers("2025-02-01 10:00:00"))
    assert [r["subscriber_id"] for r in recent] == [2, 4, 5]  # NULL change_status_at is skipped
    with pytest.raises(ConfigurationError):
        source.set_status(email="a@example.com", status=1, customer_id=None, store_id=1)


@pytest.mark.mariadb
def test_sql_source_session_is_read_only(sql_table: str) -> None:
    source = SqlSource(DSN, table_prefix=sql_table)
    connection = source._connect()
    try:
        with connection.cursor() as cur, pytest.raises(pymysql.err.MySQLError):
            cur.execute(f"DELETE FROM `{sql_table}newsletter_subscriber`")
    finally:
        connection.close()
    assert len(list(source.iter_subscribers(None))) == 5
