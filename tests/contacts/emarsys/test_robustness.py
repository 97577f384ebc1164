"""Regression tests of the review findings: late subscriber notifications, refused
credentials, the custom-field creation race, failed contact-list adds, and two Magento
people sharing one e-mail created in parallel."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.conf import settings
from django.utils import timezone

from connectors.deadline import deadline
from connectors.emarsys.client import EmarsysClient
from connectors.errors import AuthError, TransientError, ValidationError
from connectors.locks import process_lock
from contacts.emarsys import upsert
from contacts.emarsys.fields import CUSTOMER_ID_FIELD, schema_resolve
from contacts.emarsys.services import emarsys_initial_export, emarsys_realtime_sync
from contacts.models import ContactEntity, Subscriber
from profiles.models import QueueStatus, RunStatus, SyncStatus
from profiles.services import runs
from profiles.services.connections import emarsys_client

pytestmark = pytest.mark.django_db


def sync(env):
    env.tick()
    return runs.run_start(profile=env.profile, foreground=True)


def seed_contact(env, **fields: Any) -> str:
    response = requests.post(f"{env.em}/_sim/contacts", json={"contacts": [fields]}, timeout=5)
    response.raise_for_status()
    return str(response.json()["ids"][0])


def entities():
    return list(ContactEntity.objects.order_by("pk"))


# -- 1. subscriber notifications out of order ---------------------------------------------


@pytest.fixture
def unguarded_mirror(monkeypatch):
    """The mirror's upsert as it was, taking every row as-is: the webhook path must not
    rely on the mirror refusing older rows."""
    from contacts.people import clean, email_key
    from contacts.services.mirror import magento_time, source_hash

    def upsert_as_is(store, data):
        row, _ = Subscriber.objects.update_or_create(
            store=store,
            subscriber_id=int(data["subscriber_id"]),
            defaults={
                "email": clean(data.get("email")),
                "email_normalized": email_key(data.get("email")),
                "customer_magento_id": data.get("customer_id") or None,
                "magento_store_id": data.get("store_id"),
                "subscriber_status": int(data["status"]),
                "raw": data,
                "source_hash": source_hash(data),
                "magento_updated_at": magento_time(data.get("change_status_at")),
            },
        )
        return row

    monkeypatch.setattr("contacts.emarsys.services.subscriber_upsert", upsert_as_is)


def _notify(env, row: dict[str, Any], status: int, at: str, kind: str = "saved") -> None:
    event = {
        "event": f"subscriber.{kind}",
        "subscriber": {**row, "subscriber_status": status, "change_status_at": at},
    }
    emarsys_realtime_sync(profile=env.profile, event=event)


def test_late_subscribe_notification_does_not_undo_a_newer_unsubscribe(env, unguarded_mirror):
    row = env.subscriber("late@example.com", 1)
    _notify(env, row, 3, "2025-01-02 10:05:00")
    (contact,) = env.contacts()
    assert contact["fields"]["31"] == "2"
    upserts = len(env.upserts())

    _notify(env, row, 1, "2025-01-02 10:00:00")  # delivered late

    mirror = Subscriber.objects.get(subscriber_id=row["subscriber_id"])
    assert mirror.subscriber_status == 3
    assert mirror.magento_updated_at.minute == 5
    (contact,) = env.contacts()
    assert contact["fields"]["31"] == "2"
    assert len(env.upserts()) == upserts  # nothing was sent for the stale notification

    _notify(env, row, 1, "2025-01-02 10:10:00")  # a real re-subscription is applied
    assert Subscriber.objects.get(subscriber_id=row["subscriber_id"]).subscriber_status == 1
    assert env.contacts()[0]["fields"]["31"] == "1"


def test_same_second_subscribe_or_save_after_delete_never_opts_in_again(env, unguarded_mirror):
    row = env.subscriber("tie@example.com", 1)
    _notify(env, row, 3, "2025-01-02 10:05:00")
    _notify(env, row, 1, "2025-01-02 10:05:00")
    assert Subscriber.objects.get(subscriber_id=row["subscriber_id"]).subscriber_status == 3

    other = env.subscriber("gone@example.com", 1)
    _notify(env, other, 1, "2025-01-02 11:00:00", kind="deleted")
    _notify(env, other, 1, "2025-01-02 11:00:00")  # the save before the delete, late
    gone = Subscriber.objects.get(subscriber_id=other["subscriber_id"])
    assert (gone.subscriber_status, gone.raw.get("deleted")) == (3, True)


# -- 2. refused credentials ----------------------------------------------------------------


def test_401_on_upsert_pauses_the_contacts_and_opens_the_breaker(env, monkeypatch):
    known = env.customer(email="known@example.com", firstname="K", lastname="N")
    sync(env)
    env.patch_customer(known["id"], firstname="Changed")
    for n in range(3):
        env.customer(email=f"a{n}@example.com", firstname="A", lastname=str(n))
    calls: list[str] = []
    lookups: list[str] = []
    original_lookup = EmarsysClient.get_contacts

    def denied(self, contacts, *, key_id, **kwargs):
        calls.append(key_id)
        raise AuthError("emarsys: Credentials are invalid", status=401)

    def lookup(self, values, **kwargs):
        lookups.append(str(kwargs.get("key_id")))
        return original_lookup(self, values, **kwargs)

    monkeypatch.setattr(EmarsysClient, "upsert_contacts", denied)
    monkeypatch.setattr(EmarsysClient, "get_contacts", lookup)

    run = sync(env)

    # the update of the known contact is refused: no lookups, no creates after it
    assert calls == ["id"]
    assert lookups == []
    assert run.status == RunStatus.PARTIAL
    assert (run.failed, run.retried) == (0, 4)
    for entity in entities():
        # Waiting for the reconnect: no due time, no attempt used up.
        assert entity.queue_status == QueueStatus.RETRY
        assert entity.next_attempt_at is None
        assert entity.attempts == 0
        assert entity.message["text"].startswith("Paused:")
        assert "refused the credentials" in entity.message["text"]
    env.emarsys.refresh_from_db()
    assert env.emarsys.refused_at is not None


def test_401_reading_the_fields_pauses_the_batch_with_a_clear_message(env, monkeypatch):
    env.customer(email="f@example.com", firstname="F", lastname="F")

    def denied(self, *args, **kwargs):
        raise AuthError("emarsys: Credentials are invalid", status=401)

    monkeypatch.setattr(EmarsysClient, "list_fields", denied)

    sync(env)

    (entity,) = entities()
    assert entity.queue_status == QueueStatus.RETRY
    assert entity.next_attempt_at is None
    assert entity.attempts == 0
    assert "refused the credentials" in entity.message["text"]
    assert "reconnect the client" in entity.message["text"]


def test_403_on_lookup_defers_instead_of_creating_unseen_people(env, monkeypatch):
    env.customer(email="b@example.com", firstname="B", lastname="B")

    def forbidden(self, values, **kwargs):
        raise AuthError("emarsys: Forbidden", status=403)

    monkeypatch.setattr(EmarsysClient, "get_contacts", forbidden)

    sync(env)

    assert env.upserts() == []
    (entity,) = entities()
    assert entity.queue_status == QueueStatus.RETRY
    assert "reconnect the client" in entity.message["text"]


def test_lookup_skips_only_an_unindexed_field_and_defers_on_other_errors(env, monkeypatch):
    env.customer(email="c@example.com", firstname="C", lastname="C")
    original = EmarsysClient.get_contacts
    customer_field = {}
    reply = {"code": 2015}

    def lookup(self, values, **kwargs):
        if str(kwargs.get("key_id")) == customer_field["id"]:
            body = {"replyCode": reply["code"], "replyText": "error"}
            raise ValidationError(f"replyCode {reply['code']}", status=400, body=body)
        return original(self, values, **kwargs)

    monkeypatch.setattr(EmarsysClient, "get_contacts", lookup)
    reply["code"] = 2004
    customer_field["id"] = schema_resolve(
        profile=env.profile, api=emarsys_client(env.emarsys)
    ).identity.customer_field

    sync(env)  # 2004: not a "field not searchable" reply → deferred, nothing created

    assert env.upserts() == []
    (entity,) = entities()
    assert entity.queue_status == QueueStatus.RETRY
    assert f"lookup by field {customer_field['id']} failed" in entity.message["text"]

    reply["code"] = 2015
    ContactEntity.objects.update(next_attempt_at=timezone.now() - timedelta(minutes=1))
    run = sync(env)  # 2015: that lookup is skipped, the others still protect the create

    assert run.created == 1
    assert len(env.contacts()) == 1


# -- 3. creating the key fields races ------------------------------------------------------


def test_field_created_meanwhile_by_another_batch_is_reused(env, monkeypatch):
    api = emarsys_client(env.emarsys)
    theirs = api.create_field(CUSTOMER_ID_FIELD, "numeric")  # the other batch won
    original = EmarsysClient.list_fields
    reads = []

    def stale_first(self, *args, **kwargs):
        fields = original(self, *args, **kwargs)
        reads.append(len(fields))
        if len(reads) == 1:  # our look happened before their create
            return [f for f in fields if f.name != CUSTOMER_ID_FIELD]
        return fields

    monkeypatch.setattr(EmarsysClient, "list_fields", stale_first)

    schema = schema_resolve(profile=env.profile, api=api)

    assert schema.identity.customer_field == theirs
    assert len(reads) == 2  # the 9002 made us read the fields again
    state = requests.get(f"{env.em}/_sim/state", timeout=5).json()
    names = [f["name"] for f in state["custom_fields"]]
    assert names.count(CUSTOMER_ID_FIELD) == 1


# -- 4. contact-list adds that fail --------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "queue_status"),
    [
        (TransientError("emarsys: Service unavailable", status=503), QueueStatus.RETRY),
        (ValidationError("emarsys: replyCode 3006: No list", status=400), QueueStatus.FAILED),
    ],
)
def test_failed_list_add_is_counted_and_the_next_run_adds_them(
    env, monkeypatch, error, queue_status
):
    for n in range(2):
        env.customer(email=f"l{n}@example.com", firstname="L", lastname=str(n))
    original = EmarsysClient.add_to_contact_list

    def refuse(self, *args, **kwargs):
        raise error

    monkeypatch.setattr(EmarsysClient, "add_to_contact_list", refuse)

    run = emarsys_initial_export(profile=env.profile, types="customers", foreground=True)

    assert run.status == (
        RunStatus.PARTIAL if queue_status == QueueStatus.RETRY else RunStatus.FAILED
    )
    assert run.created == 0
    assert len(env.contacts()) == 2  # written, only not in the list
    for entity in entities():
        assert entity.queue_status == queue_status
        assert "contact list 'Magento customers' failed" in entity.message["text"]
        assert entity.message["details"]["list"] == "Magento customers"
        assert entity.remote_id  # kept: the next sync updates by id
        assert entity.metadata["lists"] == ["customers"]  # still to do

    monkeypatch.setattr(EmarsysClient, "add_to_contact_list", original)
    ContactEntity.objects.update(
        queue_status=QueueStatus.PENDING, next_attempt_at=timezone.now() - timedelta(minutes=1)
    )
    again = sync(env)

    assert again.status == RunStatus.SUCCESS, again.summary
    assert len(env.contacts()) == 2
    state = requests.get(f"{env.em}/_sim/state", timeout=5).json()
    assert len(state["lists"]["Magento customers"]["contact_ids"]) == 2
    assert all(e.metadata["lists"] == [] for e in entities())


# -- 5. one e-mail, two Magento people, parallel batches ------------------------------------


def _two_customers_one_email(env) -> tuple[dict[str, Any], dict[str, Any]]:
    first = env.customer(email="shared@example.com", firstname="One", lastname="A")
    second = env.customer(email="Shared@example.com", firstname="Two", lastname="B")
    return first, second


def test_contact_created_while_we_wait_for_the_create_lock_makes_us_ambiguous(env, monkeypatch):
    """Another worker holds the create lock and creates the e-mail for its customer; our
    batch waits for it, then sees that contact instead of overwriting its customer id
    (without the lock, our look would find nothing and our upsert by e-mail would flip it)."""
    ours = env.customer(email="Shared@example.com", firstname="Two", lastname="B")
    field = schema_resolve(profile=env.profile, api=emarsys_client(env.emarsys))
    customer_field = field.identity.customer_field
    holding, asking = threading.Event(), threading.Event()
    real_lock = upsert.process_lock

    def lock_asked(*args, **kwargs):
        asking.set()
        return real_lock(*args, **kwargs)

    monkeypatch.setattr(upsert, "process_lock", lock_asked)

    def other_worker() -> None:  # another process's batch: the lock and Emarsys only
        name = upsert.create_lock_name(env.emarsys.pk)
        with process_lock(
            name, redis_url=settings.REDIS_URL or None, lock_dir=upsert._lock_dir(), ttl=60
        ):
            holding.set()
            asking.wait(10)
            time.sleep(0.2)  # our batch is now blocked on the lock
            seed_contact(env, **{"3": "shared@example.com", customer_field: "999"})

    thread = threading.Thread(target=other_worker)
    thread.start()
    assert holding.wait(5)
    try:
        run = sync(env)
    finally:
        asking.set()
        thread.join(10)

    (contact,) = env.contacts()
    assert contact["fields"][customer_field] == "999"  # not flipped
    assert contact["fields"].get("1") != "Two"
    entity = ContactEntity.objects.get(customer_id=ours["id"])
    assert entity.status == SyncStatus.AMBIGUOUS, entity.message
    assert "belongs to Magento customer 999" in entity.message["text"]
    assert entity.remote_id == ""
    assert run.failed == 1


def test_create_lock_held_too_long_defers_the_creates(env, monkeypatch):
    env.customer(email="wait@example.com", firstname="W", lastname="T")
    monkeypatch.setattr(upsert, "LOCK_WAIT", 0.2)
    name = upsert.create_lock_name(env.emarsys.pk)
    with process_lock(
        name, redis_url=settings.REDIS_URL or None, lock_dir=upsert._lock_dir(), ttl=60
    ):
        run = sync(env)

    assert run.status == RunStatus.PARTIAL
    (entity,) = entities()
    assert entity.queue_status == QueueStatus.RETRY
    assert "being created in this Emarsys account" in entity.message["text"]
    assert env.contacts() == []


def test_calls_that_could_outlive_the_create_lock_are_not_started(env, monkeypatch):
    env.customer(email="slow@example.com", firstname="S", lastname="L")
    monkeypatch.setattr(upsert.Upserter, "call_worst_case", lambda self: upsert.LOCK_TTL)

    sync(env)

    (entity,) = entities()
    # the time, not the contact: back in the queue with no attempt used up
    assert entity.queue_status == QueueStatus.PENDING
    assert entity.attempts == 0
    assert entity.next_attempt_at is not None
    assert "create lock" in entity.message["text"]
    assert env.contacts() == []


def test_lock_ttl_outlasts_the_longest_hold(env):
    holder = type("Holder", (), {"api": emarsys_client(env.emarsys)})()
    worst = upsert.Upserter.call_worst_case(holder)
    # lookup, updates of what it found, creates: each only started if it ends in time
    assert worst * 2 < upsert.LOCK_TTL - upsert.LOCK_SLACK
    assert settings.CELERY_TASK_TIME_LIMIT <= upsert.LOCK_TTL


def test_two_new_people_sharing_one_existing_contact_are_flagged_and_nothing_is_sent(env):
    cid = schema_resolve(profile=env.profile, api=emarsys_client(env.emarsys))
    existing = seed_contact(env, **{"3": "shared@example.com", "1": "Imported"})
    first, second = _two_customers_one_email(env)

    sync(env)

    (contact,) = env.contacts()
    assert contact["id"] == existing
    assert cid.identity.customer_field not in contact["fields"]  # nobody wrote to it
    assert contact["fields"]["1"] == "Imported"
    for person in (first, second):
        entity = ContactEntity.objects.get(customer_id=person["id"])
        assert entity.status == SyncStatus.AMBIGUOUS
        assert "shares the e-mail shared@example.com" in entity.message["text"]
        assert entity.remote_id == ""


def test_with_the_newest_rule_the_most_recently_updated_person_owns_the_contact(env):
    cid = schema_resolve(profile=env.profile, api=emarsys_client(env.emarsys))
    existing = seed_contact(env, **{"3": "shared@example.com", "1": "Imported"})
    first, second = _two_customers_one_email(env)
    env.profile.settings = {**env.profile.settings, "shared_email": "newest"}
    env.profile.save()
    env.patch_customer(first["id"], firstname="Newest")  # the later update

    sync(env)

    (contact,) = env.contacts()
    assert contact["id"] == existing
    assert contact["fields"][cid.identity.customer_field] == str(first["id"])
    assert contact["fields"]["1"] == "Newest"
    owner = ContactEntity.objects.get(customer_id=first["id"])
    secondary = ContactEntity.objects.get(customer_id=second["id"])
    assert owner.remote_id == existing
    assert secondary.status == SyncStatus.SKIPPED
    assert secondary.remote_id == ""
    assert "Secondary" in secondary.message["text"]


def test_new_ids_are_written_before_the_create_lock_is_released(env, monkeypatch):
    env.customer(email="linked@example.com", firstname="L", lastname="K")
    seen: list[str] = []
    original = upsert.Upserter._create

    def spy(self, items):
        original(self, items)
        seen.extend(ContactEntity.objects.values_list("remote_id", flat=True))

    monkeypatch.setattr(upsert.Upserter, "_create", spy)

    sync(env)

    (contact,) = env.contacts()
    assert seen == [contact["id"]]


def test_in_a_task_the_create_lock_outlives_its_holder(env, monkeypatch):
    """A batch task's lock lives past the task's hard limit, so no call is refused for fear
    of outliving it (a killed worker's lock still frees soon after its death)."""
    env.customer(email="task@example.com", firstname="T", lastname="K")
    monkeypatch.setattr(upsert.Upserter, "call_worst_case", lambda self: upsert.LOCK_TTL)

    with deadline(60, hard_limit=90):
        sync(env)

    (entity,) = entities()
    assert entity.queue_status == QueueStatus.COMPLETE
    assert [c["fields"]["3"] for c in env.contacts()] == ["task@example.com"]
