"""An Emarsys profile: ``forget`` hard-deletes the contact there and leaves nothing here;
a customer deleted in Magento is queued for its generator and kept in Emarsys."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from contacts.models import ContactEntity
from profiles.models import RunTrigger
from profiles.services import runs
from tests.traces import traces

pytestmark = pytest.mark.django_db


def test_the_emarsys_contact_is_deleted_and_every_trace_removed(env):
    env.customer(email="eve.erase@example.com", firstname="Eve", lastname="Erasable")
    env.customer(email="stay@example.com", firstname="Stay")
    run = runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    assert run.created == 2, run.summary
    emails = {c["fields"]["3"] for c in env.contacts()}
    assert "eve.erase@example.com" in emails
    out = io.StringIO()
    call_command("forget", "--email", "Eve.Erase@example.com", stdout=out)
    assert "deleted" in out.getvalue()
    assert {c["fields"]["3"] for c in env.contacts()} == {"stay@example.com"}
    assert traces(["eve.erase@example.com", "Erasable"]) == []
    assert ContactEntity.objects.filter(email="stay@example.com").exists()


def test_a_customer_deleted_in_magento_is_queued_and_kept_in_emarsys(env):
    import requests

    from contacts.services.deletions import magento_deletions_detect
    from profiles.services.connections import magento_client

    gone = env.customer(email="gone.customer@example.com", firstname="Gone")
    env.customer(email="stays@example.com", firstname="Stay")
    first = runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    assert first.created == 2, first.summary
    requests.delete(f"{env.mg}/_sim/customers/{gone['id']}", timeout=5).raise_for_status()
    report = magento_deletions_detect(
        env.profile.source_client, magento_client(env.profile.source_client)
    )
    assert (report.deleted, report.marked) == ([gone["id"]], 1)
    entity = ContactEntity.objects.get(profile=env.profile, customer_id=gone["id"])
    assert entity.queue_status == "pending"  # its generator decides, as for a notification
    after = runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    assert after.failed == 0, after.summary
    assert "gone.customer@example.com" in {c["fields"]["3"] for c in env.contacts()}  # kept
