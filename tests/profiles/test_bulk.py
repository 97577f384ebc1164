"""The bulk writers: one prepared statement for many rows, with the semantics of
``bulk_create``/``bulk_update`` (run on SQLite and on the suite's PostgreSQL alike)."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from contacts.models import Customer
from profiles.models import RunEvent
from profiles.services.bulk import rows_insert, rows_update
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def _customer(store, magento_id, email, firstname="Ann"):
    return Customer(store=store, magento_id=magento_id, email=email, firstname=firstname)


def test_insert_writes_every_row_in_one_query():
    store = ClientFactory()
    rows = [_customer(store, n, f"p{n}@example.com") for n in range(50)]
    with CaptureQueriesContext(connection) as queries:
        assert rows_insert(Customer, rows) == 50
    assert len(queries) == 1
    stored = Customer.objects.filter(store=store).order_by("magento_id")
    assert [c.email for c in stored] == [f"p{n}@example.com" for n in range(50)]
    assert all(c.synced_at is not None for c in stored)  # auto_now applied


def test_a_collision_updates_only_the_named_fields_or_is_skipped():
    store = ClientFactory()
    rows_insert(Customer, [_customer(store, 1, "old@example.com", "Old")])
    rows_insert(
        Customer,
        [_customer(store, 1, "new@example.com", "New"), _customer(store, 2, "two@example.com")],
        unique_fields=["store", "magento_id"],
        update_fields=["firstname"],
    )
    one = Customer.objects.get(store=store, magento_id=1)
    assert (one.firstname, one.email) == ("New", "old@example.com")
    assert Customer.objects.filter(store=store).count() == 2
    rows_insert(Customer, [_customer(store, 1, "x@example.com", "Skipped")], ignore_conflicts=True)
    assert Customer.objects.get(store=store, magento_id=1).firstname == "New"


def test_a_collision_without_a_rule_is_an_error():
    store = ClientFactory()
    rows_insert(Customer, [_customer(store, 1, "a@example.com")])
    with pytest.raises(IntegrityError):
        rows_insert(Customer, [_customer(store, 1, "b@example.com")])


def test_update_sets_each_rows_own_values_in_one_query():
    store = ClientFactory()
    rows_insert(Customer, [_customer(store, n, f"p{n}@example.com") for n in range(5)])
    rows = list(Customer.objects.filter(store=store))
    for row in rows:
        row.firstname = f"F{row.magento_id}"
    with CaptureQueriesContext(connection) as queries:
        assert rows_update(Customer, rows, ["firstname"]) == 5
    assert len(queries) == 1
    assert sorted(Customer.objects.filter(store=store).values_list("firstname", flat=True)) == [
        f"F{n}" for n in range(5)
    ]


def test_nothing_to_write_sends_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert rows_insert(RunEvent, []) == 0
        assert rows_update(RunEvent, [], ["message"]) == 0
    assert len(queries) == 0


def test_update_keeps_each_columns_type_and_lets_the_last_of_a_row_win():
    """Text, JSON, dates, integers and NULLs alike (PostgreSQL: a multi-row VALUES list
    cast to each column's type); a row named twice ends with its last values."""
    from datetime import UTC, datetime

    from tests.factories import ContactEntityFactory

    first, second = ContactEntityFactory(), ContactEntityFactory()
    at = datetime(2026, 12, 3, 10, 0, tzinfo=UTC)
    first.metadata = {"create_intent": {"at": "x", "email": "ä@example.com"}, "n": [1, None]}
    first.processed_at, first.attempts, first.remote_id = at, 3, "https://x/1"
    second.metadata, second.processed_at, second.attempts, second.remote_id = {}, None, 0, ""
    again = type(first).objects.get(pk=first.pk)
    again.metadata, again.processed_at, again.attempts, again.remote_id = {"last": True}, at, 4, "L"
    fields = ["metadata", "processed_at", "attempts", "remote_id"]
    with CaptureQueriesContext(connection) as queries:
        assert rows_update(type(first), [first, second, again], fields) == 3
    assert len(queries) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.metadata, first.processed_at, first.attempts, first.remote_id) == (
        {"last": True},
        at,
        4,
        "L",
    )
    assert (second.metadata, second.processed_at, second.attempts, second.remote_id) == (
        {},
        None,
        0,
        "",
    )


def test_insert_with_an_update_rule_takes_the_last_of_a_row_named_twice():
    store = ClientFactory()
    rows_insert(
        Customer,
        [
            _customer(store, 1, "a@example.com", "First"),
            _customer(store, 1, "a@example.com", "Last"),
        ],
        unique_fields=["store", "magento_id"],
        update_fields=["firstname"],
    )
    assert list(Customer.objects.filter(store=store).values_list("firstname", flat=True)) == [
        "Last"
    ]


def test_many_rows_go_in_a_few_statements():
    store = ClientFactory()
    with CaptureQueriesContext(connection) as queries:
        rows_insert(Customer, [_customer(store, n, f"p{n}@example.com") for n in range(2500)])
    assert len(queries) <= 3
    assert Customer.objects.filter(store=store).count() == 2500


def test_values_of_another_python_type_are_converted_as_django_would():
    from profiles.models import QueueStatus, SyncStatus
    from tests.factories import ContactEntityFactory

    entity = ContactEntityFactory()
    entity.remote_id = 12345  # an int into a CharField
    entity.status = SyncStatus.CREATED  # a choices enum
    entity.queue_status = QueueStatus.COMPLETE
    entity.attempts = "4"  # a str into an integer field
    rows_update(type(entity), [entity], ["remote_id", "status", "queue_status", "attempts"])
    stored = (
        type(entity)
        .objects.values("remote_id", "status", "queue_status", "attempts")
        .get(pk=entity.pk)
    )
    assert stored == {
        "remote_id": "12345",
        "status": "created",
        "queue_status": "complete",
        "attempts": 4,
    }
    fresh = type(entity)(profile=entity.profile, person_key="customer:777", attempts="2")
    fresh.remote_id = 99
    rows_insert(type(entity), [fresh])
    row = type(entity).objects.get(person_key="customer:777")
    assert (row.remote_id, row.attempts) == ("99", 2)


def test_plain_rows_keep_every_value_whatever_it_holds():
    """Rows with no conflict to resolve (COPY on PostgreSQL): JSON, NULLs, dates and text
    with tabs, newlines, backslashes and quotes come back as they went in, in one query."""
    from datetime import timedelta

    from django.utils import timezone

    from contacts.models import DeliveryAttempt
    from tests.factories import ContactEntityFactory

    entity = ContactEntityFactory()
    odd = 'tab\there, line\nbreak, back\\slash, "quotes", NUL-free \u00e9\u4e2d \\N'
    before = timezone.now()
    rows = [
        DeliveryAttempt(
            entity=entity,
            action="create",
            outcome="created",
            http_status=None if n else 201,
            duration_ms=n,
            message=odd if n == 1 else "",
            request={"body": {"name": odd, "n": n, "none": None, "list": [1, "2"]}},
            response={} if n else {"status": 201},
        )
        for n in range(3)
    ]
    with CaptureQueriesContext(connection) as queries:
        assert rows_insert(DeliveryAttempt, rows) == 3
    assert len(queries) == 1
    stored = list(DeliveryAttempt.objects.filter(entity=entity).order_by("duration_ms"))
    assert [s.http_status for s in stored] == [201, None, None]
    assert stored[1].message == odd
    assert stored[1].request == {"body": {"name": odd, "n": 1, "none": None, "list": [1, "2"]}}
    assert stored[0].response == {"status": 201}
    assert all(before <= s.created_at <= before + timedelta(minutes=1) for s in stored)
