"""A guest subscriber's names come from their most recent guest order — on their own
website when they bought there, else on any — never from an older or another site's one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from contacts.emarsys.stages import GuestNames
from contacts.models import GuestBuyer
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def guest(store, email, website_id, first, last, when, order_id):
    return GuestBuyer.objects.create(
        store=store,
        email=email,
        email_normalized=email,
        website_id=website_id,
        firstname=first,
        lastname=last,
        magento_updated_at=datetime(*when, tzinfo=UTC),
        last_order_id=order_id,
        source_hash=str(order_id),
    )


def test_the_most_recent_order_on_the_subscribers_website_names_them():
    store = ClientFactory(type="magento")
    # On website 1 an old order with a high id; on website 2 the most recent order.
    guest(store, "g@example.com", 1, "Oliver", "Khan", (2024, 7, 18), 19)
    guest(store, "g@example.com", 2, "Jana", "Černý", (2025, 2, 16), 12)
    guest(store, "h@example.com", 1, "Old", "Name", (2024, 1, 1), 90)
    guest(store, "h@example.com", 3, "New", "Name", (2025, 1, 1), 10)

    names = GuestNames(store, ["g@example.com", "h@example.com"])

    assert names.of("g@example.com", 2) == ("Jana", "Černý")
    assert names.of("g@example.com", 1) == ("Oliver", "Khan")  # their order on that site
    assert names.of("h@example.com", 2) == ("New", "Name")  # none there: the most recent
    assert names.of("x@example.com", 1) == ("", "")
