"""The Magento webhook under hostile or unusual input: a disabled profile, replays inside
the window, absurd JSON, ids that are digits only to ``str.isdigit``, and the task's logs."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from connectors.errors import TransientError
from contacts.emarsys.webhook import event_errors, signature
from contacts.models import ContactEntity, Customer
from contacts.tasks import emarsys_realtime_sync as realtime_task
from profiles.models import QueueStatus, Run
from tests.contacts.emarsys.conftest import SECRET

pytestmark = pytest.mark.django_db


def post_raw(client, profile, body: bytes, *, stamp: str | None = None):
    stamp = stamp or str(int(time.time()))
    return client.post(
        f"/hooks/emarsys/{profile.pk}/",
        data=body,
        content_type="application/json",
        headers={
            "X-ContactSync-Timestamp": stamp,
            "X-ContactSync-Signature": signature(SECRET, stamp, body),
        },
    )


@pytest.fixture
def delayed(monkeypatch) -> list[dict[str, Any]]:
    """The task is not run: what the view enqueued."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("contacts.tasks.emarsys_realtime_sync.delay", lambda **kw: calls.append(kw))
    return calls


def test_disabled_profile_only_queues_the_person(client, env):
    env.profile.status = False  # "Enable Schedule" off: the merchant is reviewing/testing
    env.profile.save()
    customer = env.customer(email="disabled@example.com")
    body = json.dumps({"event": "customer.saved", "customer_id": customer["id"]}).encode()

    response = post_raw(client, env.profile, body)

    assert response.status_code == 202
    answer = response.json()
    assert answer["queued_only"] is True
    assert "queued, not synced" in answer["detail"]
    assert not Run.objects.filter(profile=env.profile).exists()
    assert env.contacts() == []  # nothing reached Emarsys
    assert Customer.objects.filter(store=env.magento, magento_id=customer["id"]).exists()
    assert ContactEntity.objects.get().queue_status == QueueStatus.PENDING


def test_disabled_profile_subscriber_notification_only_queues(client, env):
    env.profile.status = False
    env.profile.save()
    row = env.subscriber("quiet@example.com", 1)
    body = json.dumps({"event": "subscriber.saved", "subscriber": row}).encode()

    assert post_raw(client, env.profile, body).status_code == 202

    assert not Run.objects.exists()
    assert env.contacts() == []
    assert ContactEntity.objects.get().queue_status == QueueStatus.PENDING


def test_enabled_realtime_answer_is_not_queued_only(client, env, delayed):
    body = json.dumps({"event": "customer.saved", "customer_id": 5}).encode()
    answer = post_raw(client, env.profile, body).json()
    assert answer == {"accepted": True, "event": "customer.saved"}


def test_replay_inside_the_window_is_refused(client, env, delayed):
    body = json.dumps({"event": "customer.saved", "customer_id": "5"}).encode()
    stamp = str(int(time.time()))

    first = post_raw(client, env.profile, body, stamp=stamp)
    replays = [post_raw(client, env.profile, body, stamp=stamp) for _ in range(2)]

    assert first.status_code == 202
    assert [r.status_code for r in replays] == [409, 409]
    assert replays[0].json() == {"error": "replayed notification"}
    assert len(delayed) == 1
    # A new notification of the same change (a new timestamp) is a new signature.
    assert post_raw(client, env.profile, body, stamp=str(int(stamp) - 1)).status_code == 202
    assert len(delayed) == 2


def test_refused_requests_do_not_burn_the_signature(client, env, delayed):
    """Only accepted notifications are remembered: a 400 leaves nothing behind."""
    body = b'{"event": "customer.saved"}'
    stamp = str(int(time.time()))
    assert post_raw(client, env.profile, body, stamp=stamp).status_code == 400
    assert post_raw(client, env.profile, body, stamp=stamp).status_code == 400
    assert delayed == []


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000],
    ids=["list", "object"],
)
def test_deeply_nested_json_is_400(client, env, delayed, body):
    response = post_raw(client, env.profile, body)
    assert response.status_code == 400
    assert delayed == []


@pytest.mark.parametrize(
    "customer_id",
    ["\u00b2", "\u0663", "\uff15", "12345678901", "-1", "", True, 1.0, [1], None, " 5"],
)
def test_customer_id_must_be_ascii_digits(client, env, delayed, customer_id):
    body = json.dumps({"event": "customer.deleted", "customer_id": customer_id}).encode()
    response = post_raw(client, env.profile, body)
    assert response.status_code == 400
    assert "customer_id" in response.json()["error"]
    assert delayed == []


@pytest.mark.parametrize("customer_id", [5, "5", "0042", 9_999_999_999])
def test_customer_id_accepted(customer_id):
    assert event_errors({"event": "customer.saved", "customer_id": customer_id}) == ""


GOOD_ROW = {
    "subscriber_id": 7,
    "subscriber_email": "ann@example.com",
    "subscriber_status": 1,
    "customer_id": 0,
    "store_id": 1,
    "change_status_at": "2025-01-02 03:04:05",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("subscriber_id", "\u00b2"),
        ("subscriber_id", None),
        ("customer_id", "\u00b2"),
        ("customer_id", False),
        ("store_id", "x"),
        ("subscriber_status", "\u0661"),
        ("subscriber_email", ["ann@example.com"]),
        ("change_status_at", "2025-13-45 03:04:05"),
        ("change_status_at", 20250102),
    ],
)
def test_subscriber_row_fields_are_checked(field, value):
    problem = event_errors({"event": "subscriber.saved", "subscriber": {**GOOD_ROW, field: value}})
    assert f"subscriber.{field}" in problem


def test_subscriber_row_optional_fields_may_be_null():
    row = {**GOOD_ROW, "customer_id": None, "store_id": None, "change_status_at": None}
    assert event_errors({"event": "subscriber.saved", "subscriber": row}) == ""
    assert event_errors({"event": "subscriber.deleted", "subscriber": {"subscriber_id": "7"}}) == ""


def test_task_failure_log_names_kind_and_ids_never_the_email(env, monkeypatch, caplog):
    def fail(**kwargs):
        raise TransientError("magento: unavailable", status=503, method="GET", path="/x")

    monkeypatch.setattr("contacts.emarsys.services.emarsys_realtime_sync", fail)
    event = {"event": "subscriber.saved", "subscriber": {**GOOD_ROW, "customer_id": 42}}

    with caplog.at_level(logging.DEBUG, logger="contactsync"):
        realtime_task(profile_id=env.profile.pk, event=event)

    (record,) = [r for r in caplog.records if "realtime sync" in r.getMessage()]
    message = record.getMessage()
    assert "ann@example.com" not in caplog.text
    assert "2025-01-02" not in message  # no other field of the body either
    assert f"profile={env.profile.pk}" in message
    assert "subscriber.saved" in message
    assert "subscriber_id=7" in message
    assert "customer_id=42" in message
    assert "TransientError" in message
