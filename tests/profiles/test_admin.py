"""Every model is in the admin; secrets never reach a page; actions call their services."""

from __future__ import annotations

import pytest
from django.urls import reverse

from profiles.models import Client, Run, RunStatus
from tests.factories import ClientFactory, ContactEntityFactory, ProfileFactory

pytestmark = pytest.mark.django_db

MODELS = [
    "profiles/client",
    "profiles/profile",
    "profiles/run",
    "contacts/customer",
    "contacts/subscriber",
    "contacts/guestbuyer",
    "contacts/contactentity",
    "django_celery_beat/periodictask",
]


def test_index_lists_every_model(admin_client):
    page = admin_client.get("/admin/").content.decode()
    for model in MODELS:
        assert f"/admin/{model}/" in page


@pytest.mark.parametrize("model", MODELS)
def test_changelists_render(admin_client, model):
    ContactEntityFactory()
    assert admin_client.get(f"/admin/{model}/").status_code == 200


def test_client_pages_never_render_the_secret(admin_client):
    client = ClientFactory(credentials={"consumer_secret": "s3cr3t-value-xyz"})
    page = admin_client.get(reverse("admin:profiles_client_change", args=[client.pk]))
    assert page.status_code == 200
    assert "s3cr3t-value-xyz" not in page.content.decode()
    assert "consumer_secret" in page.content.decode()


def test_client_form_keeps_credentials_when_left_empty_and_replaces_them_when_given(admin_client):
    client = ClientFactory(credentials={"k": "old"})
    url = reverse("admin:profiles_client_change", args=[client.pk])
    data = {
        "name": client.name,
        "type": client.type,
        "environment": client.environment,
        "base_url": client.base_url,
        "store_code": "default",
        "settings": "{}",
        "new_credentials": "",
    }
    assert admin_client.post(url, data).status_code == 302
    assert Client.objects.get(pk=client.pk).credentials == {"k": "old"}
    data["new_credentials"] = '{"k": "new"}'
    assert admin_client.post(url, data).status_code == 302
    assert Client.objects.get(pk=client.pk).credentials == {"k": "new"}
    data["new_credentials"] = "[1, 2]"
    page = admin_client.post(url, data)
    assert page.status_code == 200
    assert "Credentials must be a JSON object" in page.content.decode()


def test_export_now_action_starts_a_run(admin_client, monkeypatch):
    monkeypatch.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())
    profile = ProfileFactory()
    ContactEntityFactory.create_batch(2, profile=profile)
    response = admin_client.post(
        reverse("admin:profiles_profile_changelist"),
        {"action": "export_now", "_selected_action": [profile.pk]},
        follow=True,
    )
    assert response.status_code == 200
    run = Run.objects.get(profile=profile)
    assert run.status == RunStatus.SUCCESS
    assert run.created == 2
    assert f"Run {run.pk} of" in response.content.decode()
