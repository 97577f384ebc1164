"""The explain page's "Fetch from Emarsys": the contact's live Emarsys record, read from the
simulator over real HTTP; view permission only; Emarsys errors are a message, not a 500."""

from __future__ import annotations

import html

import pytest
import requests
from django.urls import reverse

from contacts.models import ContactEntity
from profiles.models import Profile, RunStatus, RunTrigger
from profiles.services import runs
from tests.factories import ContactEntityFactory
from tests.ui.conftest import staff_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def synced(live_clients):
    profile = Profile.objects.create(
        name="EM contacts",
        type="emarsys_contact_sync",
        source_client=live_clients["magento"],
        client=live_clients["emarsys"],
        status=False,
    )
    run = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    assert run.status in (RunStatus.SUCCESS, RunStatus.PARTIAL), run.summary
    return profile


def _entity(profile: Profile) -> ContactEntity:
    entity = (
        ContactEntity.objects.filter(profile=profile)
        .exclude(remote_id="")
        .exclude(remote_id=None)
        .exclude(customer_id=None)
        .order_by("pk")
        .first()
    )
    assert entity is not None
    return entity


def _sim_contact(sims, remote_id: str) -> tuple[dict, str]:
    """The simulator's contact fields and the id of its "Magento Customer ID" field."""
    base = sims.emarsys.url.rstrip("/")
    contacts = requests.get(f"{base}/_sim/contacts", timeout=5).json()
    contact = next(c for c in contacts if str(c["id"]) == str(remote_id))
    fields = requests.get(f"{base}/_sim/state", timeout=5).json()["custom_fields"]
    cid = next(str(f["id"]) for f in fields if f["name"] == "Magento Customer ID")
    return contact["fields"], cid


def test_fetch_shows_the_live_emarsys_record(admin_client, synced, sims):
    entity = _entity(synced)
    explain = reverse("admin:contacts_contactentity_change", args=[entity.pk])
    fetch = reverse("admin:contacts_contactentity_fetch_remote", args=[entity.pk])
    before = admin_client.get(explain).content.decode()
    assert "Fetch from Emarsys" in before
    assert fetch in before
    fields, cid = _sim_contact(sims, entity.remote_id)
    assert fields[cid] == str(entity.customer_id)

    response = admin_client.post(fetch)

    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert "fetched from Emarsys just now" in page
    remote = page.split('id="explain-remote"', 1)[1].split("</pre>", 1)[0]
    assert fields["3"] == entity.email
    assert f' (3)": "{entity.email}"' in remote  # named from the cached field list
    assert f'"Magento Customer ID ({cid})": "{entity.customer_id}"' in remote
    assert admin_client.get(fetch).status_code == 405  # POST only


def test_no_button_without_remote_id(admin_client, synced):
    entity = ContactEntityFactory(profile=synced, remote_id="", email="new@example.com")
    page = admin_client.get(reverse("admin:contacts_contactentity_change", args=[entity.pk]))
    assert "Fetch from Emarsys" not in page.content.decode()
    response = admin_client.post(
        reverse("admin:contacts_contactentity_fetch_remote", args=[entity.pk]), follow=True
    )
    assert "Only an Emarsys contact with an Emarsys internal id" in response.content.decode()


def test_view_permission_is_needed_and_enough(client, synced):
    entity = _entity(synced)
    fetch = reverse("admin:contacts_contactentity_fetch_remote", args=[entity.pk])
    client.force_login(staff_user("blind", "profiles.view_profile"))
    assert client.post(fetch).status_code == 403
    client.force_login(staff_user("looker", "contacts.view_contactentity"))
    assert client.post(fetch).status_code == 200


def test_emarsys_error_is_a_message(admin_client, synced):
    entity = _entity(synced)
    emarsys = synced.client
    emarsys.credentials = {**emarsys.credentials, "secret": "not-the-secret"}
    emarsys.save(update_fields=["credentials"])
    response = admin_client.post(
        reverse("admin:contacts_contactentity_fetch_remote", args=[entity.pk]), follow=True
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "Could not fetch the contact from Emarsys" in text
    assert "fetched from Emarsys just now" not in text
