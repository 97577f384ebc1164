"""Consent is never overwritten — each case seen by merchants, end to end against the
simulators over real HTTP (issue: Emarsys opt-in integrity in both directions, every
subscriber source complete, subscribers with names)."""

from __future__ import annotations

import time

import pytest
import requests
from django.core.exceptions import ValidationError
from django.urls import reverse

from contacts.emarsys import config
from contacts.emarsys.optin import CURSOR_STATE, emarsys_optin_sync
from contacts.emarsys.reconcile import emarsys_reconcile
from contacts.models import ContactEntity, DeliveryAttempt
from contacts.tasks import emarsys_optin_sync as daily_task
from profiles.models import Profile, QueueStatus, RunStatus, SyncStatus
from profiles.services import runs
from profiles.services.config import ConfigError, config_dump, config_load
from tests.contacts.emarsys.conftest import MAGENTO_KEYS

pytestmark = pytest.mark.django_db


def sync(env, **kwargs):
    env.tick()
    return runs.run_start(profile=env.profile, foreground=True, **kwargs)


def contact_of(env, email):
    found = [c for c in env.contacts() if c["fields"].get("3", "").lower() == email]
    assert len(found) == 1, found
    return found[0]


def opt_in_emarsys(env, email, value, at=None):
    """The person changes their opt-in in Emarsys (a form)."""
    body = {"key_id": "3", "key_value": email, "opt_in": str(value)}
    if at is not None:
        body["at"] = at
    requests.post(f"{env.em}/_sim/optin", json=body, timeout=5).raise_for_status()


def magento_status(env, subscriber_id):
    return next(s for s in env.subscribers() if s["subscriber_id"] == subscriber_id)[
        "subscriber_status"
    ]


def last_sent(entity):
    attempt = DeliveryAttempt.objects.filter(entity=entity).order_by("-pk").first()
    return attempt.request["contact"]


def use_customer_flags(env, export_types="customers"):
    """The Magento client reads subscriptions from customers' is_subscribed (the default)."""
    env.magento.settings = {"subscribers": {"source": "customers"}}
    env.magento.save()
    env.profile.settings = {**env.profile.settings, "export_types": export_types}
    env.profile.save()


@pytest.fixture(autouse=True)
def _exports_ready_at_once(env):
    env.sims.emarsys.app.export_polls = 0


# -- 1. an opt-out made in Emarsys is never silently undone -------------------------------------


@pytest.mark.parametrize("source", ["rest", "customers"])
def test_an_emarsys_opt_out_survives_an_edit_of_another_field_and_reaches_magento(env, source):
    customer = env.customer(email="ann@example.com", firstname="Ann", lastname="Lee")
    row = env.subscriber("ann@example.com", 1, customer_id=customer["id"])
    if source == "customers":
        use_customer_flags(env)
    sync(env)
    assert contact_of(env, "ann@example.com")["fields"]["31"] == "1"

    env.tick()
    opt_in_emarsys(env, "ann@example.com", 2)
    env.patch_customer(customer["id"], lastname="Leigh")
    run = sync(env)

    assert run.updated == 1, run.summary
    contact = contact_of(env, "ann@example.com")
    assert contact["fields"]["2"] == "Leigh"
    assert contact["fields"]["31"] == "2"  # the opt-out stands
    entity = ContactEntity.objects.get(profile=env.profile)
    assert "31" not in last_sent(entity)  # only the changed field went out

    result = emarsys_optin_sync(profile=env.profile, sleep=lambda s: None)
    assert (result.applied, result.failed) == (1, 0), result.lines
    assert magento_status(env, row["subscriber_id"]) == 3

    # And nothing turns it back: the next export and back-sync are in step.
    calls = len(env.upserts())
    run = sync(env)
    assert len(env.upserts()) == calls, run.summary
    assert contact_of(env, "ann@example.com")["fields"]["31"] == "2"
    again = emarsys_optin_sync(profile=env.profile, sleep=lambda s: None)
    assert again.applied == 0
    assert magento_status(env, row["subscriber_id"]) == 3


def test_a_magento_unsubscribe_reaches_emarsys_and_a_later_resubscription_too(env):
    customer = env.customer(email="bo@example.com", firstname="Bo")
    row = env.subscriber("bo@example.com", 1, customer_id=customer["id"])
    sync(env)
    env.patch_subscriber(row["subscriber_id"], subscriber_status=3)
    sync(env)
    assert contact_of(env, "bo@example.com")["fields"]["31"] == "2"
    env.patch_subscriber(row["subscriber_id"], subscriber_status=1)  # a newer subscription
    sync(env)
    assert contact_of(env, "bo@example.com")["fields"]["31"] == "1"


def test_when_both_sides_changed_the_opt_out_wins_everywhere(env):
    customer = env.customer(email="cy@example.com", firstname="Cy")
    row = env.subscriber("cy@example.com", 1, customer_id=customer["id"])
    sync(env)
    # Magento: unsubscribed and subscribed again; Emarsys: opted out — between two syncs.
    env.patch_subscriber(row["subscriber_id"], subscriber_status=3)
    env.patch_subscriber(row["subscriber_id"], subscriber_status=1)
    opt_in_emarsys(env, "cy@example.com", 2)

    sync(env)

    assert contact_of(env, "cy@example.com")["fields"]["31"] == "2"
    assert magento_status(env, row["subscriber_id"]) == 3
    entity = ContactEntity.objects.get(profile=env.profile)
    assert "opt-out wins" in entity.message["details"]["optin"]


def test_an_existing_emarsys_opt_out_is_kept_when_a_subscribed_customer_is_first_synced(env):
    requests.post(
        f"{env.em}/_sim/contacts",
        json={"contacts": [{"3": "dee@example.com", "31": "2"}]},
        timeout=5,
    ).raise_for_status()
    customer = env.customer(email="dee@example.com", firstname="Dee")
    row = env.subscriber("dee@example.com", 1, customer_id=customer["id"])

    sync(env)

    assert contact_of(env, "dee@example.com")["fields"]["31"] == "2"
    assert magento_status(env, row["subscriber_id"]) == 3


# -- 2. every subscriber source sees every subscription change ---------------------------------


def test_customers_source_sees_subscription_changes_through_the_reconcile(env):
    customer = env.customer(email="eve@example.com", firstname="Eve")
    row = env.subscriber("eve@example.com", 1, customer_id=customer["id"])
    use_customer_flags(env)
    sync(env)
    assert contact_of(env, "eve@example.com")["fields"]["31"] == "1"
    env.customer(email="zed@example.com", firstname="Zed")  # the poll's cursor moves on
    sync(env)

    # Magento does not move the customer's updated_at for a newsletter change.
    env.patch_subscriber(row["subscriber_id"], subscriber_status=3)
    run = sync(env)
    assert run.collected == 0  # the poll cannot see it …

    result = emarsys_reconcile(profile=env.profile, sleep=lambda s: None)  # … this does
    assert result.failed == 0, result.lines
    assert result.run.status == RunStatus.SUCCESS
    assert "1 changed" in result.run.summary
    sync(env)
    assert contact_of(env, "eve@example.com")["fields"]["31"] == "2"


def test_the_daily_job_runs_the_back_sync_and_the_reconcile(env):
    customer = env.customer(email="fay@example.com", firstname="Fay")
    row = env.subscriber("fay@example.com", 1, customer_id=customer["id"])
    use_customer_flags(env)
    sync(env)
    env.patch_subscriber(row["subscriber_id"], subscriber_status=3)

    daily_task.delay(profile_id=env.profile.pk)

    jobs = set(env.profile.runs.values_list("scope__job", flat=True))
    assert {"optin_sync", "reconcile"} <= jobs
    assert ContactEntity.objects.get(profile=env.profile).queue_status == QueueStatus.PENDING


def test_rest_source_reconcile_finds_a_change_that_did_not_move_change_status_at(env):
    guest = env.subscriber("gus@example.com", 1)
    sync(env)
    env.tick()
    env.subscriber("later@example.com", 1)  # the poll's cursor moves past Gus
    sync(env)
    # Written straight into the table: status changed, change time left as it was.
    env.patch_subscriber(
        guest["subscriber_id"], subscriber_status=3, change_status_at=guest["change_status_at"]
    )
    run = sync(env)
    assert run.collected == 0

    result = emarsys_reconcile(profile=env.profile, sleep=lambda s: None)

    assert result.failed == 0, result.lines
    sync(env)
    assert contact_of(env, "gus@example.com")["fields"]["31"] == "2"


def test_rest_source_reconcile_treats_a_deleted_subscriber_row_as_unsubscribed(env):
    guest = env.subscriber("hal@example.com", 1)
    sync(env)
    requests.delete(f"{env.mg}/_sim/subscribers/{guest['subscriber_id']}", timeout=5)

    emarsys_reconcile(profile=env.profile, sleep=lambda s: None)
    sync(env)

    assert contact_of(env, "hal@example.com")["fields"]["31"] == "2"


def test_guest_subscribers_from_the_customers_source_are_refused_not_dropped(env):
    use_customer_flags(env, export_types="customers")
    env.profile.settings = {**env.profile.settings, "export_types": "both"}
    with pytest.raises(ValidationError, match="guest subscribers would be left out"):
        env.profile.full_clean()
    # Saved anyway (behind the form's back): the run refuses, it never drops them.
    Profile.objects.filter(pk=env.profile.pk).update(settings=env.profile.settings)
    env.customer(email="kim@example.com", firstname="Kim")
    run = sync(env)
    assert run.status == RunStatus.FAILED
    assert "guest subscribers would be left out" in run.summary
    assert env.contacts() == []


def test_load_config_refuses_a_source_change_that_would_drop_guest_subscribers(env):
    info = env.sims.describe()["magento"]
    data = {
        "clients": [
            {
                "name": env.magento.name,
                "type": "magento",
                "base_url": info["base_url"],
                "store_code": info["store_code"],
                "auth": {k: info[k] for k in MAGENTO_KEYS},
                "subscribers": {"source": "customers"},
            }
        ]
    }
    with pytest.raises(ConfigError, match="guest subscribers would be left out"):
        config_load(data)
    env.magento.refresh_from_db()
    assert env.magento.settings["subscribers"]["source"] == "rest"


# -- 3. subscribers carry first and last name ------------------------------------------------------


def test_a_guest_subscriber_is_created_with_the_names_of_their_latest_order(env):
    requests.post(
        f"{env.mg}/_sim/orders",
        json={"email": "gia@example.com", "customer_firstname": "Gia", "customer_lastname": "Moss"},
        timeout=5,
    ).raise_for_status()
    env.subscriber("gia@example.com", 1)

    sync(env)

    fields = contact_of(env, "gia@example.com")["fields"]
    assert (fields["1"], fields["2"]) == ("Gia", "Moss")


def test_a_registered_subscriber_in_a_subscribers_only_profile_has_the_customer_names(env):
    env.profile.settings = {**env.profile.settings, "export_types": "subscribers"}
    env.profile.save()
    customer = env.customer(email="ivy@example.com", firstname="Ivy", lastname="Kern")
    env.subscriber("ivy@example.com", 1, customer_id=customer["id"])

    sync(env)

    fields = contact_of(env, "ivy@example.com")["fields"]
    assert (fields["1"], fields["2"]) == ("Ivy", "Kern")
    # Names are sent once: a later change of the subscription never blanks them.
    env.patch_customer(customer["id"], firstname="")
    sync(env)
    assert contact_of(env, "ivy@example.com")["fields"]["1"] == "Ivy"


# -- 4. no two Emarsys contacts with one e-mail because of us ------------------------------------


def test_an_email_change_onto_another_contacts_address_is_flagged_not_sent(env):
    requests.post(
        f"{env.em}/_sim/contacts",
        json={"contacts": [{"3": "taken@example.com", "1": "Other"}]},
        timeout=5,
    ).raise_for_status()
    customer = env.customer(email="jo@example.com", firstname="Jo")
    sync(env)
    ours = contact_of(env, "jo@example.com")["id"]
    theirs = contact_of(env, "taken@example.com")["id"]

    env.patch_customer(customer["id"], email="taken@example.com")
    run = sync(env)

    assert run.status == RunStatus.FAILED
    entity = ContactEntity.objects.get(profile=env.profile)
    assert entity.status == SyncStatus.AMBIGUOUS
    assert ours in entity.message["text"]
    assert theirs in entity.message["text"]
    assert contact_of(env, "jo@example.com")["id"] == ours  # nothing was overwritten
    assert contact_of(env, "taken@example.com")["id"] == theirs


def test_the_dashboard_counts_the_flagged_email(env, admin_client):
    requests.post(
        f"{env.em}/_sim/contacts",
        json={"contacts": [{"3": "kit@example.com"}]},
        timeout=5,
    ).raise_for_status()
    customer = env.customer(email="kat@example.com", firstname="Kat")
    sync(env)
    env.patch_customer(customer["id"], email="kit@example.com")
    sync(env)
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "1 contact(s) match several remote" in page


# -- 5. the admin is honest for this type --------------------------------------------------------


def test_the_emarsys_profile_shows_the_schedules_that_run_and_no_preset(env, admin_client):
    page = admin_client.get(
        reverse("admin:profiles_profile_change", args=[env.profile.pk])
    ).content.decode()
    assert 'name="schedule_preset"' not in page
    assert 'name="api_behaviour"' not in page
    assert "Schedules that run" in page
    assert "Magento poll: every 5 minutes" in page
    assert "Opt-in back-sync and reconcile: daily at 02:00" in page
    listing = admin_client.get(reverse("admin:profiles_profile_changelist")).content.decode()
    assert "Magento poll every 5 minutes" in listing
    dumped = next(p for p in config_dump()["profiles"] if p["name"] == env.profile.name)
    assert "schedule" not in dumped
    assert "api_behaviour" not in dumped


def profile_config(env, **values):
    """A config file naming only the profile (its clients exist already)."""
    return {
        "profiles": [
            {
                "name": env.profile.name,
                "type": env.profile.type,
                "source": env.magento.name,
                "client": env.emarsys.name,
                "export_types": "both",
                **values,
            }
        ]
    }


def test_load_config_refuses_a_schedule_for_an_emarsys_profile(env):
    with pytest.raises(ConfigError, match="has no effect"):
        config_load(profile_config(env, schedule="*/15 * * * *"))


@pytest.mark.parametrize("retry", [False, True])
def test_automatic_retry_on_failure_is_honoured(env, retry):
    env.customer(email="lu@example.com", firstname="Lu")
    env.profile.enable_retry_on_failure = retry
    env.profile.save()
    env.faults(error_rate=1.0)
    sync(env)
    env.faults(error_rate=0)
    entity = ContactEntity.objects.get(profile=env.profile)
    if retry:
        assert entity.queue_status == QueueStatus.RETRY
        assert "failsafe queue" in entity.message["text"]
    else:
        assert entity.queue_status == QueueStatus.FAILED
        assert "automatic retry is disabled" in entity.message["text"]


def test_a_custom_field_type_is_kept_as_the_emarsys_type_it_means(env, admin_client):
    mapping = [{"magento": "taxvat", "emarsys": {"name": "VAT", "type": "text"}}]
    config_load(profile_config(env, field_mapping=mapping))
    env.profile.refresh_from_db()
    assert env.profile.settings["field_mapping"][0]["emarsys"]["type"] == "longtext"
    url = reverse("admin:profiles_profile_change", args=[env.profile.pk])
    form = admin_client.get(url).context["adminform"].form
    assert form.mapping.forms[0].initial["new_type"] == "longtext"


# -- 6. mapping changes re-evaluate existing contacts ---------------------------------------------


def test_a_new_mapping_row_reaches_every_existing_contact_and_only_that_field(env):
    for n in range(7):
        env.customer(email=f"m{n}@example.com", firstname=f"M{n}", taxvat=f"DE{n:09d}")
    assert sync(env).created == 7

    env.profile.settings = {
        **env.profile.settings,
        "field_mapping": [
            *env.profile.settings.get("field_mapping", []),
            {"magento": "taxvat", "emarsys": {"name": "VAT number", "type": "shorttext"}},
        ],
    }
    env.profile.save()
    run = sync(env)

    assert (run.updated, run.failed) == (7, 0), run.summary
    vat = env.field_id("VAT number")
    for entity in ContactEntity.objects.filter(profile=env.profile):
        assert set(last_sent(entity)) == {"id", vat}
    assert {c["fields"][vat] for c in env.contacts()} == {f"DE{n:09d}" for n in range(7)}
    assert sync(env).updated == 0  # and then nothing more


def test_the_admin_says_how_many_contacts_a_mapping_change_touches_before_saving(env, admin_client):
    for n in range(3):
        env.customer(email=f"n{n}@example.com", firstname=f"N{n}")
    sync(env)
    url = reverse("admin:profiles_profile_change", args=[env.profile.pk])
    form = admin_client.get(url).context["adminform"].form
    data = {name: form.initial.get(name, field.initial) for name, field in form.fields.items()}
    data = {k: v for k, v in data.items() if v is not None and k != "status"}
    data.update(
        {
            "name": env.profile.name,
            "type": env.profile.type,
            "source_client": env.magento.pk,
            "client": env.emarsys.pk,
            "status": "on",
            "process_batch_size": "1000",
            "retry_max_attempts": "3",
            "enable_retry_on_failure": "on",
            "optin_1": "1",
            "optin_2": "",
            "optin_3": "2",
            "optin_4": "",
            "mapping-TOTAL_FORMS": "1",
            "mapping-INITIAL_FORMS": "1",
            "mapping-MIN_NUM_FORMS": "0",
            "mapping-MAX_NUM_FORMS": "1000",
            "mapping-0-magento": "firstname",
            "mapping-0-emarsys": "1",
            "mapping-0-extra": "{}",
        }
    )
    first = admin_client.post(url, data)
    assert first.status_code == 200
    assert "re-evaluates 3 existing contact(s)" in first.content.decode()
    env.profile.refresh_from_db()
    assert len(config.effective(env.profile.settings)["field_mapping"]) > 1  # not saved yet
    token = first.context["adminform"].form.data["reevaluate_token"]
    second = admin_client.post(url, {**data, "reevaluate_token": token})
    assert second.status_code == 302, second.context["adminform"].form.errors
    env.profile.refresh_from_db()
    assert env.profile.settings["field_mapping"] == [{"magento": "firstname", "emarsys": 1}]


# -- 7. the back-sync never skips a change ---------------------------------------------------------


def test_the_back_sync_keeps_its_window_for_a_contact_being_exported(env):
    customer = env.customer(email="ned@example.com", firstname="Ned")
    row = env.subscriber("ned@example.com", 1, customer_id=customer["id"])
    sync(env)
    two_days_ago = time.time() - 2 * 86400
    opt_in_emarsys(env, "ned@example.com", 2, at=two_days_ago)
    entity = ContactEntity.objects.get(profile=env.profile)
    ContactEntity.objects.filter(pk=entity.pk).update(queue_status=QueueStatus.PROCESSING)
    from datetime import timedelta

    from django.utils import timezone

    since = timezone.now() - timedelta(days=3)
    first = emarsys_optin_sync(profile=env.profile, since=since, sleep=lambda s: None)
    assert first.deferred == 1
    assert first.run.status == RunStatus.PARTIAL
    assert magento_status(env, row["subscriber_id"]) == 1
    env.profile.refresh_from_db()
    assert env.profile.state[CURSOR_STATE] == since.isoformat()  # not past the change

    ContactEntity.objects.filter(pk=entity.pk).update(queue_status=QueueStatus.COMPLETE)
    second = emarsys_optin_sync(profile=env.profile, sleep=lambda s: None)
    assert second.applied == 1, second.lines
    assert magento_status(env, row["subscriber_id"]) == 3
