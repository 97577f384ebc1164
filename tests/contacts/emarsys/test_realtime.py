"""Realtime-failsafe: the signed webhook, the failsafe queue at the background runtime,
opt-in changes back to Magento without echo, and the beat schedules of both modes."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from contacts.emarsys import config
from contacts.emarsys.optin import emarsys_optin_sync
from contacts.emarsys.webhook import signature
from contacts.models import ContactEntity
from contacts.tasks import emarsys_optin_sync as optin_task
from profiles.models import QueueStatus, Run, RunTrigger
from profiles.services import runs
from profiles.tasks import run_profile_scheduled
from tests.contacts.emarsys.conftest import SECRET

pytestmark = pytest.mark.django_db


def post_hook(client, env, payload, *, secret=SECRET, at=None):
    body = json.dumps(payload).encode()
    stamp = str(int(at if at is not None else time.time()))
    return client.post(
        f"/hooks/emarsys/{env.profile.pk}/",
        data=body,
        content_type="application/json",
        headers={
            "X-ContactSync-Timestamp": stamp,
            "X-ContactSync-Signature": signature(secret, stamp, body),
        },
    )


def test_signed_notification_syncs_the_person_within_the_request(client, env):
    customer = env.customer(email="rt@example.com", firstname="Rita", lastname="Time")

    response = post_hook(client, env, {"event": "customer.saved", "customer_id": customer["id"]})

    assert response.status_code == 202
    (contact,) = env.contacts()
    assert contact["fields"]["3"] == "rt@example.com"
    run = Run.objects.get(profile=env.profile)
    assert run.trigger == RunTrigger.WEBHOOK
    assert run.created == 1
    assert run.scope["entity_ids"] == [ContactEntity.objects.get().pk]


def test_subscriber_notification_carries_the_row(client, env):
    row = env.subscriber("news@example.com", 1)
    payload = {"event": "subscriber.saved", "subscriber": row}

    assert post_hook(client, env, payload).status_code == 202

    (contact,) = env.contacts()
    assert contact["fields"]["31"] == "1"
    assert contact["fields"][env.field_id("Magento Subscriber ID")] == str(row["subscriber_id"])


@pytest.mark.parametrize(
    ("secret", "age", "why"),
    [
        ("not-the-secret-of-this-profile", 0, "bad signature"),
        (SECRET, 301, "stale timestamp"),
        (SECRET, -310, "timestamp from the future"),  # clear of the 300 s window
    ],
)
def test_bad_signature_or_stale_timestamp_is_refused(client, env, secret, age, why):
    customer = env.customer(email="no@example.com")
    payload = {"event": "customer.saved", "customer_id": customer["id"]}

    response = post_hook(client, env, payload, secret=secret, at=time.time() - age)

    assert response.status_code == 403, why
    assert env.contacts() == []
    assert not ContactEntity.objects.exists()


def test_webhook_rejects_get_and_unknown_events(client, env):
    assert client.get(f"/hooks/emarsys/{env.profile.pk}/").status_code == 405
    assert post_hook(client, env, {"event": "order.placed"}).status_code == 400


def test_failure_waits_in_the_failsafe_queue_until_the_background_runtime(
    client, env, django_capture_on_commit_callbacks
):
    customer = env.customer(email="flaky@example.com", firstname="Fay")
    runs.run_start(profile=env.profile, foreground=True)
    env.patch_customer(customer["id"], firstname="Faye")
    env.faults(error_rate=1.0)

    post_hook(client, env, {"event": "customer.saved", "customer_id": customer["id"]})

    entity = ContactEntity.objects.get()
    assert entity.queue_status == QueueStatus.RETRY
    expected = config.next_runtime(env.profile.settings, timezone.localtime())
    assert entity.next_attempt_at == expected
    assert "failsafe queue" in entity.message["text"]
    env.faults(error_rate=0.0)

    # A poll before the runtime leaves it waiting …
    runs.run_start(profile=env.profile, foreground=True)
    entity.refresh_from_db()
    assert entity.queue_status == QueueStatus.RETRY
    assert env.contacts()[0]["fields"]["1"] == "Fay"

    # … the background runtime's beat entry sends it.
    ContactEntity.objects.filter(pk=entity.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    with django_capture_on_commit_callbacks(execute=True):
        run_profile_scheduled(profile_id=env.profile.pk)  # eager Celery: the workers' path
    entity.refresh_from_db()
    assert entity.queue_status == QueueStatus.COMPLETE
    assert env.contacts()[0]["fields"]["1"] == "Faye"


def test_optin_changed_in_emarsys_reaches_magento_and_is_not_echoed(env):
    customer = env.customer(email="opt@example.com", firstname="Otto")
    row = env.subscriber("opt@example.com", 1, customer_id=customer["id"])
    runs.run_start(profile=env.profile, foreground=True)
    assert env.contacts()[0]["fields"]["31"] == "1"
    env.sims.emarsys.app.export_polls = 0
    env.tick()
    requests.post(
        f"{env.em}/_sim/optin",
        json={"key_id": "3", "key_value": "opt@example.com", "opt_in": "2"},
        timeout=5,
    ).raise_for_status()

    optin_task.delay(profile_id=env.profile.pk)  # the daily beat entry's task (eager)

    sync_run = Run.objects.get(profile=env.profile, scope__job="optin_sync")
    assert (sync_run.updated, sync_run.failed) == (1, 0), sync_run.summary
    (magento_row,) = [s for s in env.subscribers() if s["subscriber_id"] == row["subscriber_id"]]
    assert magento_row["subscriber_status"] == 3

    # The next Magento → Emarsys run has nothing to send back …
    calls = len(env.upserts())
    env.tick()
    run = runs.run_start(profile=env.profile, foreground=True)
    assert len(env.upserts()) == calls
    assert run.unchanged == 1
    # … and the next opt-in sync sees the same change as already in step.
    again = emarsys_optin_sync(profile=env.profile, sleep=lambda s: None)
    assert again.applied == 0


def test_schedules_follow_the_sync_mode(env):
    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="profile ")}
    pk = env.profile.pk
    main = tasks[f"profile {pk} main"]
    assert (main.crontab.minute, main.crontab.hour) == ("*/5", "*")
    assert tasks[f"profile {pk} failsafe"].crontab.hour == "2"
    assert tasks[f"profile {pk} optin"].task == "contacts.emarsys_optin_sync"

    env.profile.settings.update(sync_mode="background_only", background_runtime="03:30")
    env.profile.save()

    tasks = {t.name: t for t in PeriodicTask.objects.filter(name__startswith="profile ")}
    assert set(tasks) == {f"profile {pk} main", f"profile {pk} optin", f"profile {pk} drift"}
    main = tasks[f"profile {pk} main"]
    assert (main.crontab.minute, main.crontab.hour) == ("30", "3")
    assert (
        tasks[f"profile {pk} optin"].crontab.minute,
        tasks[f"profile {pk} optin"].crontab.hour,
    ) == (
        "30",
        "3",
    )


def test_background_only_webhook_queues_for_the_daily_run(client, env):
    env.profile.settings["sync_mode"] = "background_only"
    env.profile.save()
    customer = env.customer(email="later@example.com")

    assert (
        post_hook(
            client, env, {"event": "customer.saved", "customer_id": customer["id"]}
        ).status_code
        == 202
    )

    assert env.contacts() == []
    assert ContactEntity.objects.get().queue_status == QueueStatus.PENDING
