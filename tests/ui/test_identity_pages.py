"""The admin pages of one person, one contact: *Resolve…*, the drift check page and the
"paused: credentials refused" banner — as a merchant uses them, permissions checked."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from contacts.models import ContactEntity, DeliveryAttempt
from profiles.models import Profile, Run, RunTrigger, SyncStatus
from profiles.services import runs
from profiles.services.pause import client_refused
from tests.ui.conftest import magento_customer_add

pytestmark = pytest.mark.django_db


@pytest.fixture
def fa_profile(live_clients):
    return Profile.objects.create(
        name="FA",
        type="freeagent_contact_export",
        source_client=live_clients["magento"],
        client=live_clients["freeagent"],
    )


def seed_fa_contact(sims, **fields):
    response = requests.post(f"{sims.freeagent.url}/_sim/contacts", json=[fields], timeout=5)
    assert response.status_code < 300, response.text
    return response.json()["contacts"][0]


def test_resolve_links_the_chosen_contact_and_records_who(admin_client, sims, fa_profile):
    chosen = seed_fa_contact(sims, first_name="R", last_name="One", email="res@example.com")
    seed_fa_contact(sims, first_name="R", last_name="Two", email="res@example.com")
    magento_customer_add(sims, email="res@example.com", firstname="Res", lastname="Olve")
    runs.run_start(profile=fa_profile, trigger=RunTrigger.CLI, foreground=True)
    entity = ContactEntity.objects.get(profile=fa_profile, email="res@example.com")
    assert entity.status == SyncStatus.AMBIGUOUS

    explain = admin_client.get(reverse("admin:contacts_contactentity_change", args=[entity.pk]))
    assert 'id="explain-resolve"' in explain.content.decode()
    url = reverse("admin:contacts_contactentity_resolve", args=[entity.pk])
    page = admin_client.get(url).content.decode()
    assert chosen["url"] in page
    assert page.count('name="remote"') == 2

    response = admin_client.post(url, {"choice": "link", "remote": chosen["url"]}, follow=True)

    assert response.status_code == 200
    entity.refresh_from_db()
    assert entity.remote_id == chosen["url"]
    assert entity.metadata["identity"]["by"] == "admin"
    assert DeliveryAttempt.objects.filter(entity=entity, action="decision").exists()
    run = runs.run_start(profile=fa_profile, trigger=RunTrigger.CLI, foreground=True)
    assert (run.updated, run.failed) == (1, 0), run.summary  # only the decided contact
    entity.refresh_from_db()
    assert entity.status == SyncStatus.UPDATED


def test_a_viewer_may_not_resolve(viewer, sims, fa_profile):
    magento_customer_add(sims, email="v@example.com", firstname="V")
    runs.run_start(profile=fa_profile, trigger=RunTrigger.CLI, foreground=True)
    entity = ContactEntity.objects.filter(profile=fa_profile).first()
    url = reverse("admin:contacts_contactentity_resolve", args=[entity.pk])
    assert viewer.get(url).status_code == 403
    assert viewer.post(url, {"choice": "separate"}).status_code == 403


def test_the_drift_page_queues_a_check_and_shows_its_report(admin_client, viewer, fa_profile):
    url = reverse("admin:contacts_contactentity_drift", args=[fa_profile.pk])
    assert "No drift check has run yet" in admin_client.get(url).content.decode()

    response = admin_client.post(url, {"repair": "1"}, follow=True)  # eager Celery in tests

    page = response.content.decode()
    assert "Drift check and repair queued" in page
    run = Run.objects.get(profile=fa_profile, scope__job="drift")
    assert run.scope["repair"] is True
    assert run.summary in page
    assert 'id="drift-counts"' in page
    assert viewer.post(url).status_code == 403
    assert viewer.get(url).status_code == 200


def test_a_paused_profile_says_so_with_the_way_to_reconnect(admin_client, live_clients, fa_profile):
    client_refused(live_clients["freeagent"], "FreeAgent refused the credentials (HTTP 401)")
    page = admin_client.get(
        reverse("admin:profiles_profile_change", args=[fa_profile.pk])
    ).content.decode()
    assert "Paused: credentials refused." in page
    assert reverse("admin:profiles_client_change", args=[live_clients["freeagent"].pk]) in page
    listing = admin_client.get(reverse("admin:profiles_profile_changelist")).content.decode()
    assert "paused: credentials refused" in listing
    home = admin_client.get(reverse("admin:index")).content.decode()
    assert "FA: paused" in home
