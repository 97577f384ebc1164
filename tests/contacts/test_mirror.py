"""The Magento mirror keeps the newest state of each record."""

from __future__ import annotations

import pytest

from contacts.models import Subscriber
from contacts.services.mirror import subscriber_upsert
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def test_an_older_subscriber_change_never_overwrites_a_newer_one():
    store = ClientFactory()
    base = {"subscriber_id": 7, "email": "s@example.com", "store_id": 1}
    subscriber_upsert(store, {**base, "status": 3, "change_status_at": "2025-06-01 10:05:00"})
    # A late (or replayed) "subscribed" from 10:00 arrives afterwards.
    subscriber_upsert(store, {**base, "status": 1, "change_status_at": "2025-06-01 10:00:00"})
    assert Subscriber.objects.get(subscriber_id=7).subscriber_status == 3
    subscriber_upsert(store, {**base, "status": 1, "change_status_at": "2025-06-01 10:06:00"})
    assert Subscriber.objects.get(subscriber_id=7).subscriber_status == 1
