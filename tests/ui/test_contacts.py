"""The entity table (filters, search, bulk retry/reset) and the per-contact explain page
with its one-click dry run and export now."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import ContactEntity, DeliveryAttempt
from profiles.models import Profile, QueueStatus, Run, RunStatus, RunTrigger
from profiles.services import runs
from tests.factories import ContactEntityFactory, ProfileFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def exported(live_clients):
    profile = Profile.objects.create(
        name="FA contacts",
        type="freeagent_contact_export",
        source_client=live_clients["magento"],
        client=live_clients["freeagent"],
        status=False,
    )
    runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    return profile


def test_entity_table_filters_and_search(admin_client):
    profile = ProfileFactory()
    ContactEntityFactory(profile=profile, email="alice@example.com", customer_id=501)
    ContactEntityFactory(
        profile=profile, email="bob@example.com", customer_id=502, queue_status="failed"
    )
    url = reverse("admin:contacts_contactentity_changelist")
    base = {"profile__id__exact": profile.pk}
    assert admin_client.get(url, {**base, "q": "alice"}).context["cl"].result_count == 1
    assert admin_client.get(url, {**base, "q": "502"}).context["cl"].result_count == 1
    assert (
        admin_client.get(url, {**base, "queue_status__exact": "failed"}).context["cl"].result_count
        == 1
    )
    page = admin_client.get(url, base).content.decode()
    assert f"Contacts of {profile.name}" in page


def test_bulk_retry_and_reset(admin_client):
    profile = ProfileFactory()
    a = ContactEntityFactory(
        profile=profile, queue_status="failed", attempts=3, last_payload_hash="h"
    )
    b = ContactEntityFactory(profile=profile, queue_status="complete", last_payload_hash="h")
    url = reverse("admin:contacts_contactentity_changelist")
    admin_client.post(url, {"action": "retry_selected", "_selected_action": [a.pk]})
    a.refresh_from_db()
    assert (a.queue_status, a.attempts, a.last_payload_hash) == ("pending", 0, "h")
    admin_client.post(url, {"action": "reset_selected", "_selected_action": [b.pk]})
    b.refresh_from_db()
    assert (b.queue_status, b.last_payload_hash) == ("pending", "")


def test_explain_page_shows_source_payload_remote_and_attempts(admin_client, exported):
    entity = (
        ContactEntity.objects.filter(profile=exported, status="created")
        .exclude(customer_id=None)
        .first()
    )
    page = admin_client.get(reverse("admin:contacts_contactentity_change", args=[entity.pk]))
    text = page.content.decode()
    for heading in (
        "Magento source data",
        "Mapped payload",
        "Last sent",
        "Remote record now",
        "Attempts",
    ):
        assert heading in text
    assert entity.email in text
    attempt = DeliveryAttempt.objects.filter(entity=entity).first()
    assert attempt is not None
    assert str(attempt.http_status) in text
    assert "Dry run this contact" in text
    # The create that worked is a delivery attempt, not a failed one.
    assert "failed attempts since the last success 0" in text
    listing = admin_client.get(reverse("admin:contacts_contactentity_changelist")).content
    assert b"Failed attempts" in listing


def test_explain_dry_run_of_one_contact_shows_it_even_when_complete(admin_client, exported):
    entity = ContactEntity.objects.filter(profile=exported, status="created").first()
    response = admin_client.post(reverse("admin:contacts_contactentity_dry_run", args=[entity.pk]))
    run = Run.objects.get(profile=exported, dry_run=True)
    assert run.scope["entity_ids"] == [entity.pk]
    assert run.status == RunStatus.SUCCESS
    assert run.unchanged == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert "What would be sent (1 contact)" in page
    explain = admin_client.get(reverse("admin:contacts_contactentity_change", args=[entity.pk]))
    assert "Last dry run of this contact" in explain.content.decode()


def test_explain_export_now_sends_one_contact(admin_client, exported):
    entity = ContactEntity.objects.filter(profile=exported, queue_status="failed").first()
    admin_client.post(reverse("admin:contacts_contactentity_export_now", args=[entity.pk]))
    run = Run.objects.filter(profile=exported, dry_run=False).latest("pk")
    assert run.scope["entity_ids"] == [entity.pk]
    assert run.processed == 1


def test_per_contact_retry_and_reset(admin_client):
    entity = ContactEntityFactory(
        queue_status=QueueStatus.FAILED, attempts=2, last_payload_hash="x"
    )
    admin_client.post(reverse("admin:contacts_contactentity_retry", args=[entity.pk]))
    entity.refresh_from_db()
    assert entity.queue_status == "pending"
    assert entity.attempts == 0
    admin_client.post(reverse("admin:contacts_contactentity_reset", args=[entity.pk]))
    entity.refresh_from_db()
    assert entity.last_payload_hash == ""
