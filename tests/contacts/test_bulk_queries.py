"""State is written in bulk: the queries of collection and of a batch do not grow with the
number of people in it (CaptureQueriesContext; a small constant of slack)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.freeagent.profile_type import FreeAgentContactExport
from contacts.models import ContactEntity, Customer, GuestBuyer
from profiles.models import QueueStatus

pytestmark = pytest.mark.django_db

# SQLite takes at most 999 parameters a statement, so Django splits a 100-row insert in two
# or three there; PostgreSQL writes a page in one.
SLACK = 4


def _collection_queries(world, people: int) -> int:
    for n in range(people):
        world.add_customer(email=f"c{people}-{n}@example.com")
        world.add_guest_order(f"g{people}-{n}@example.com")
    Customer.objects.all().delete()  # everyone is new to the mirror, both times
    GuestBuyer.objects.all().delete()
    profile = world.profile(name=f"fa-{people}")
    with CaptureQueriesContext(connection) as captured:
        FreeAgentContactExport().collect(profile=profile, run=None)
    queued = ContactEntity.objects.filter(profile=profile, queue_status=QueueStatus.PENDING)
    assert queued.count() >= 2 * people  # (the store's earlier people too, for the second)
    return len(captured.captured_queries)


def test_freeagent_collection_queries_do_not_grow_with_a_page(world):
    small = _collection_queries(world, 10)
    large = _collection_queries(world, 80)  # reads 90 of each: still one Magento page
    assert abs(large - small) <= SLACK, (small, large)
