"""Emarsys collection writes a Magento page of customers in a few statements: its queries
do not grow with the number of customers on the page."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from contacts.emarsys.collect import emarsys_collect
from contacts.models import ContactEntity, Customer
from profiles.models import Profile

pytestmark = pytest.mark.django_db

SLACK = 4  # SQLite splits a 100-row statement at 999 parameters; PostgreSQL does not


def _collection_queries(env, people: int) -> int:
    for n in range(people):
        env.customer(email=f"e{people}-{n}@example.com", firstname="E", lastname=str(n))
    Customer.objects.all().delete()  # everyone is new to the mirror, both times
    profile = Profile.objects.create(
        name=f"em-{people}",
        type="emarsys_contact_sync",
        source_client=env.magento,
        client=env.emarsys,
        settings={"export_types": "customers"},
    )
    with CaptureQueriesContext(connection) as captured:
        emarsys_collect(profile=profile, run=None)
    assert ContactEntity.objects.filter(profile=profile).count() >= people
    return len(captured.captured_queries)


def test_emarsys_collection_queries_do_not_grow_with_a_page(env):
    small = _collection_queries(env, 10)
    large = _collection_queries(env, 80)  # reads 90: still one Magento page
    assert abs(large - small) <= SLACK, (small, large)


def test_emarsys_subscriber_collection_queries_do_not_grow_with_a_page(env):
    from contacts.emarsys.collect import subscriber_source, subscribers_refresh
    from contacts.models import Subscriber
    from profiles.services.connections import magento_client

    def queries(people: int) -> int:
        for n in range(people):
            env.subscriber(f"s{people}-{n}@example.com", 1)
        Subscriber.objects.all().delete()
        profile = Profile.objects.create(
            name=f"em-subs-{people}",
            type="emarsys_contact_sync",
            source_client=env.magento,
            client=env.emarsys,
            settings={"export_types": "both"},
        )
        source = subscriber_source(env.magento, magento_client(env.magento))
        with CaptureQueriesContext(connection) as captured:
            queued = subscribers_refresh(profile=profile, source=source)
        assert len(queued) >= people
        return len(captured.captured_queries)

    small = queries(10)
    large = queries(80)
    assert abs(large - small) <= SLACK, (small, large)


def test_emarsys_batch_queries_do_not_grow_with_the_batch(env, monkeypatch):
    """The first batch of a run of 10 new customers, and of one of 100 (batch 1,000)."""
    from profiles.models import RunTrigger
    from profiles.services import runs

    batches: list[tuple[int, int]] = []
    real = runs.batch_process

    def counted(**kwargs):
        with CaptureQueriesContext(connection) as captured:
            size = real(**kwargs)
        if size:
            batches.append((size, len(captured.captured_queries)))
        return size

    monkeypatch.setattr(runs, "batch_process", counted)
    profile = env.profile
    profile.settings = {**profile.settings, "export_types": "customers"}
    profile.save(update_fields=["settings"])

    def first_batch(people: int) -> tuple[int, int]:
        for n in range(people):
            env.customer(email=f"q{people}-{n}@example.com", firstname="Q", lastname=str(n))
        seen = len(batches)
        runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
        return batches[seen]

    small = first_batch(10)
    large = first_batch(100)
    assert (small[0], large[0]) == (10, 100)
    assert abs(large[1] - small[1]) <= SLACK, (small, large)
