"""Every model is in the admin, every changelist renders, and the bulk actions call their
services. (The pages behind the buttons are tested in tests/ui/.)"""

from __future__ import annotations

import pytest
from django.urls import reverse

from profiles.models import Run, RunStatus
from tests.factories import ContactEntityFactory, ProfileFactory

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


def test_index_is_the_dashboard_and_lists_every_model(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert "<h1>Dashboard</h1>" in page
    assert "Runs over time" in page
    for model in MODELS:
        assert f"/admin/{model}/" in page


@pytest.mark.parametrize("model", MODELS)
def test_changelists_render(admin_client, model):
    ContactEntityFactory()
    assert admin_client.get(f"/admin/{model}/").status_code == 200


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


def test_schedule_actions_toggle_the_beat_entry(admin_client):
    profile = ProfileFactory(status=True)
    url = reverse("admin:profiles_profile_changelist")
    admin_client.post(url, {"action": "disable_schedule", "_selected_action": [profile.pk]})
    profile.refresh_from_db()
    assert profile.status is False
    assert profile.schedule is not None
    assert profile.schedule.enabled is False
    admin_client.post(url, {"action": "enable_schedule", "_selected_action": [profile.pk]})
    profile.refresh_from_db()
    assert profile.schedule.enabled is True


def test_run_history_shows_a_chart(admin_client):
    profile = ProfileFactory()
    Run.objects.create(profile=profile, trigger="button", status="success", created=3, failed=1)
    page = admin_client.get(reverse("admin:profiles_run_changelist")).content.decode()
    assert 'class="cs-chart"' in page
    assert "Created: 3" in page
