"""Customers deleted in Magento are noticed by a pass over the ids (keyset pages, ids
only) and marked — never from a pass that did not finish or an empty listing."""

from __future__ import annotations

import pytest
import requests

from contacts.models import ContactEntity, Customer
from contacts.services import deletions
from profiles.models import QueueStatus, RunTrigger, SyncStatus
from profiles.services import runs
from profiles.services.connections import magento_client

pytestmark = pytest.mark.django_db


def remove_in_magento(world, customer_id: int) -> None:
    answer = requests.delete(f"{world.sims.magento.url}/_sim/customers/{customer_id}", timeout=5)
    assert answer.status_code == 200, answer.text


def test_a_deleted_customer_is_marked_and_its_remote_contact_kept(world, monkeypatch):
    monkeypatch.setattr(deletions, "MAX_PAGE_SIZE", 2)  # several keyset pages
    people = [world.add_customer() for _ in range(5)]
    profile = world.profile()
    run = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    assert run.created == 5
    gone = [people[1]["id"], people[4]["id"]]  # one inside a page, one after the last
    for customer_id in gone:
        remove_in_magento(world, customer_id)
    api = magento_client(world.store)

    report = deletions.magento_deletions_detect(world.store, api)
    assert (report.listed, report.deleted, report.marked, report.refused) == (
        3,
        sorted(gone),
        2,
        "",
    )
    assert not Customer.objects.filter(magento_id__in=gone).exists()
    marked = ContactEntity.objects.filter(profile=profile, customer_id__in=gone)
    assert {e.status for e in marked} == {SyncStatus.SOURCE_DELETED}
    assert {e.queue_status for e in marked} == {QueueStatus.COMPLETE}
    assert "Deleted in Magento" in marked[0].message["text"]
    assert len(world.fa_contacts()) == 5  # policy "ignore": FreeAgent keeps them
    others = ContactEntity.objects.filter(profile=profile).exclude(customer_id__in=gone)
    assert {e.status for e in others} == {SyncStatus.CREATED}

    again = deletions.magento_deletions_detect(world.store, api)
    assert (again.deleted, again.marked) == ([], 0)  # idempotent
    rerun = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    assert rerun.failed == 0  # the marked contacts are not processed again


def test_an_empty_listing_marks_nobody(world):
    people = [world.add_customer() for _ in range(2)]
    profile = world.profile()
    runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    for person in people:
        remove_in_magento(world, person["id"])
    report = deletions.magento_deletions_detect(world.store, magento_client(world.store))
    assert report.marked == 0
    assert "listed no customer at all" in report.refused
    assert Customer.objects.count() == 2
    assert not ContactEntity.objects.filter(status=SyncStatus.SOURCE_DELETED).exists()


def test_a_pass_that_does_not_finish_marks_nothing(world):
    people = [world.add_customer() for _ in range(3)]
    profile = world.profile()
    runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    remove_in_magento(world, people[0]["id"])
    requests.post(
        f"{world.sims.magento.url}/_sim/faults", json={"error_rate": 1.0}, timeout=5
    ).raise_for_status()
    try:
        reports = deletions.stores_deletions_detect()
    finally:
        requests.post(f"{world.sims.magento.url}/_sim/faults", json={"error_rate": 0}, timeout=5)
    assert reports[0].marked == 0
    assert reports[0].refused.startswith("Magento:")
    assert not ContactEntity.objects.filter(status=SyncStatus.SOURCE_DELETED).exists()
