"""Alerts: one message per incident, a reminder at most daily, one when it is resolved
(Django's locmem mail backend), the webhook, the settings in load_config and the form."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import responses
import yaml
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from contacts.models import ContactEntity
from profiles.models import Profile, QueueStatus
from profiles.services.alerts import alerts_evaluate, open_incidents
from profiles.services.config import ConfigError, config_dump, config_load
from tests.factories import ClientFactory, ProfileFactory
from tests.profiles.test_config import CONFIG

pytestmark = pytest.mark.django_db


def _profile(**alerts):
    profile = ProfileFactory()
    profile.settings = {
        **(profile.settings or {}),
        "alerts": {"recipients": ["ops@example.com"], **alerts},
    }
    profile.save()
    return profile


def test_an_incident_is_told_once_reminded_daily_and_resolved_once():
    profile = _profile(failed_above=0)
    failed = ContactEntity.objects.create(
        profile=profile, person_key="customer:1", queue_status=QueueStatus.FAILED
    )
    now = timezone.now()
    assert alerts_evaluate(now=now) == 1
    assert len(mail.outbox) == 1
    first = mail.outbox[0]
    assert first.to == ["ops@example.com"]
    assert f"{profile.name}: alert — 1 contacts failed" in first.subject
    assert f"/admin/profiles/profile/{profile.pk}/change/" in first.body
    profile.refresh_from_db()
    assert [i["kind"] for i in open_incidents(profile)] == ["failed_contacts"]

    assert alerts_evaluate(now=now + timedelta(hours=5)) == 0  # still open: no repeat
    assert alerts_evaluate(now=now + timedelta(hours=25)) == 1  # the daily reminder
    assert "reminder" in mail.outbox[-1].subject
    assert alerts_evaluate(now=now + timedelta(hours=26)) == 0

    failed.queue_status = QueueStatus.COMPLETE
    failed.save()
    assert alerts_evaluate(now=now + timedelta(hours=27)) == 1
    assert "resolved" in mail.outbox[-1].subject
    assert alerts_evaluate(now=now + timedelta(hours=28)) == 0
    assert len(mail.outbox) == 3
    profile.refresh_from_db()
    assert open_incidents(profile) == []


def test_no_successful_run_and_refused_credentials():
    profile = _profile(no_success_hours=6)
    Profile.objects.filter(pk=profile.pk).update(
        status=True, created_at=timezone.now() - timedelta(hours=7)
    )
    profile.refresh_from_db()
    store = ClientFactory(name="Shop", refused_at=timezone.now(), refused_reason="401")
    profile.source_client = store
    profile.save()
    assert alerts_evaluate() == 2
    subjects = sorted(m.subject for m in mail.outbox)
    assert any("no successful export run ever (alert after 6 h)" in s for s in subjects)
    assert any("client 'Shop' refuses its credentials" in s for s in subjects)
    profile.refresh_from_db()
    assert {i["kind"] for i in open_incidents(profile)} == {"no_success", "credentials_refused"}
    store.refused_at = None
    store.save()
    assert alerts_evaluate() == 1
    assert "resolved" in mail.outbox[-1].subject
    assert "Shop" in mail.outbox[-1].subject


@responses.activate
def test_the_webhook_gets_json_and_a_failed_delivery_is_tried_again():
    hook = "https://hooks.example.com/contact-sync"
    responses.post(hook, status=500)
    profile = _profile(failed_above=0, webhook_url=hook)
    ContactEntity.objects.create(
        profile=profile, person_key="customer:1", queue_status=QueueStatus.FAILED
    )
    now = timezone.now()
    assert alerts_evaluate(now=now) == 0  # the webhook refused: not told yet
    responses.replace(responses.POST, hook, json={})
    assert alerts_evaluate(now=now + timedelta(minutes=5)) == 1
    body = json.loads(responses.calls[-1].request.body)
    assert body["incident"] == "failed_contacts"
    assert body["state"] == "open"
    assert body["profile_id"] == profile.pk


def test_alerts_in_config_as_code(monkeypatch):
    data = yaml.safe_load(CONFIG.replace("${STORE_SECRET}", "x"))
    data["profiles"][0]["alerts"] = {
        "recipients": ["ops@example.com"],
        "no_success_hours": 12,
        "failed_above": 10,
    }
    config_load(data)
    assert config_dump()["profiles"][0]["alerts"]["no_success_hours"] == 12
    data["profiles"][0]["alerts"] = {"recipients": ["nope"], "failed_above": -1}
    with pytest.raises(ConfigError) as exc:
        config_load(data)
    assert exc.value.errors == [
        "profiles[0].alerts: recipients: 'nope' is not an e-mail address",
        "profiles[0].alerts: failed_above: a whole number, 0 or more; got -1",
    ]


def test_the_dashboard_shows_an_open_incident(admin_client):
    profile = _profile(failed_above=0)
    ContactEntity.objects.create(
        profile=profile, person_key="customer:1", queue_status=QueueStatus.FAILED
    )
    alerts_evaluate()
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "1 contacts failed and need attention (alert above 0) (alert sent)" in page
