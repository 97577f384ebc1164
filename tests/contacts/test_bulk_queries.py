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


class _BatchQueries:
    """The queries of each batch a run processes, by its number of contacts."""

    def __init__(self, monkeypatch) -> None:
        from profiles.services import runs

        self.batches: list[tuple[int, int]] = []
        real = runs.batch_process

        def counted(**kwargs):
            with CaptureQueriesContext(connection) as captured:
                size = real(**kwargs)
            if size:
                self.batches.append((size, len(captured.captured_queries)))
            return size

        monkeypatch.setattr(runs, "batch_process", counted)

    def first_of(self, run_call) -> tuple[int, int]:
        """(contacts, queries) of the first batch of the run ``run_call`` starts."""
        seen = len(self.batches)
        run_call()
        return self.batches[seen]


def _fa_export(profile, batch: int):
    from profiles.models import RunTrigger
    from profiles.services import runs

    profile.process_batch_size = batch
    profile.save(update_fields=["process_batch_size"])
    return lambda: runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)


def test_freeagent_batch_queries_do_not_grow_with_the_batch(world, monkeypatch):
    """Creates (10, then 100 new people) and updates (100, then 10 changed people): the
    first batch of each run, so one-time costs are alike on both sides."""
    counts = _BatchQueries(monkeypatch)
    profile = world.profile()
    ids = [world.add_customer(email=f"b{n}@example.com")["id"] for n in range(10)]
    small = counts.first_of(_fa_export(profile, 10))
    ids += [world.add_customer(email=f"b{n}@example.com")["id"] for n in range(10, 110)]
    large = counts.first_of(_fa_export(profile, 100))
    assert (small[0], large[0]) == (10, 100)
    assert abs(large[1] - small[1]) <= SLACK, ("creates", small, large)

    world.advance_clock()
    for customer_id in ids[10:]:
        world.patch_customer(customer_id, lastname="Changed")
    updates_large = counts.first_of(_fa_export(profile, 100))
    world.advance_clock()
    for customer_id in ids[:10]:
        world.patch_customer(customer_id, lastname="Changed")
    updates_small = counts.first_of(_fa_export(profile, 10))
    assert (updates_small[0], updates_large[0]) == (10, 100)
    assert abs(updates_large[1] - updates_small[1]) <= SLACK, (
        "updates",
        updates_small,
        updates_large,
    )
    puts = [r for r in world.fa_requests("PUT")]
    assert len(puts) == 110  # every change sent: the counts above are of real work
