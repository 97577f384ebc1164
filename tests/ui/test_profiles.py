"""Profile pages: the seed's sections with errors beside their fields, dropdowns from the
collected configuration data, Export now with its run page and progress endpoint, dry run
with a field-level diff and warnings, schedule toggle and retry failed."""

from __future__ import annotations

import pytest
import requests
from django.urls import reverse

from contacts.models import ContactEntity
from profiles.models import Profile, QueueStatus, Run, RunStatus
from profiles.services.clients import client_configuration_collect
from tests.ui.conftest import magento_customer_patch

pytestmark = pytest.mark.django_db(transaction=True)


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def _fa_profile_data(clients, **overrides):
    data = {
        "name": "FA contacts",
        "type": "freeagent_contact_export",
        "source_client": clients["magento"].pk,
        "client": clients["freeagent"].pk,
        "status": "on",
        "schedule_preset": "every_15",
        "schedule_cron": "",
        "process_batch_size": "100",
        "retry_max_attempts": "3",
        "api_behaviour": "create_and_update",
    }
    data.update(overrides)
    return data


@pytest.fixture
def fa_profile(live_clients):
    return Profile.objects.create(
        name="FA contacts",
        type="freeagent_contact_export",
        source_client=live_clients["magento"],
        client=live_clients["freeagent"],
        status=False,
    )


def test_add_profile_asks_for_the_type_then_shows_the_seed_sections(admin_client, live_clients):
    chooser = admin_client.get(reverse("admin:profiles_profile_add")).content.decode()
    assert "?type=freeagent_contact_export" in chooser
    page = admin_client.get(
        reverse("admin:profiles_profile_add") + "?type=freeagent_contact_export"
    ).content.decode()
    for heading in (
        "1. Client configuration",
        "2. Schedule configuration",
        "3. HTTP API configuration",
    ):
        assert heading in page
    assert "Near real-time" in page or "near real-time" in page
    assert "Collect Configuration Data" in page


def test_errors_appear_beside_their_field(admin_client, live_clients):
    url = reverse("admin:profiles_profile_add") + "?type=freeagent_contact_export"
    response = admin_client.post(
        url,
        _fa_profile_data(live_clients, schedule_preset="custom", client=live_clients["emarsys"].pk),
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "schedule_cron" in errors
    assert "client" in errors  # an Emarsys client is not a FreeAgent client
    page = response.content.decode()
    assert 'class="form-row errors field-schedule_cron"' in page


def test_create_profile_and_see_it_on_the_dashboard(admin_client, live_clients):
    url = reverse("admin:profiles_profile_add") + "?type=freeagent_contact_export"
    assert admin_client.post(url, _fa_profile_data(live_clients)).status_code == 302
    profile = Profile.objects.get(name="FA contacts")
    assert profile.schedule is not None
    assert profile.schedule.enabled
    dashboard = admin_client.get(reverse("admin:index")).content.decode()
    assert "FA contacts" in dashboard
    assert "Runs over time" in dashboard


def test_export_now_runs_and_the_run_page_and_progress_show_it(admin_client, fa_profile):
    response = admin_client.post(reverse("admin:profiles_profile_export_now", args=[fa_profile.pk]))
    run = Run.objects.get(profile=fa_profile)
    assert response["Location"] == reverse("admin:profiles_run_change", args=[run.pk])
    # Eager Celery in tests: the run is finished. One customer has an invalid e-mail.
    assert run.status == RunStatus.PARTIAL, run.summary
    assert run.created == 6
    assert run.failed == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert f"{run.created}</b><span>created" in page
    progress = admin_client.get(reverse("admin:profiles_run_progress", args=[run.pk])).json()
    assert progress["status"] == "partial"
    assert progress["created"] == run.created
    assert progress["active"] is False
    assert progress["percent"] == 100
    assert progress["log"][-1]["message"].startswith("Run finished: Partial")
    assert any(line["level"] == "error" for line in progress["log"])
    table = admin_client.get(
        reverse("admin:contacts_contactentity_changelist"),
        {"profile__id__exact": fa_profile.pk, "status__exact": "created"},
    )
    assert table.context["cl"].result_count == run.created
    failed = admin_client.get(
        reverse("admin:contacts_contactentity_changelist"),
        {"profile__id__exact": fa_profile.pk, "queue_status__exact": "failed"},
    )
    assert failed.context["cl"].result_count == run.failed
    dashboard = admin_client.get(reverse("admin:index")).content.decode()
    assert f"{run.failed} contact(s) permanently failed" in dashboard


def test_a_second_export_while_one_is_active_goes_to_the_active_run(admin_client, fa_profile):
    active = Run.objects.create(profile=fa_profile, trigger="button", status=RunStatus.RUNNING)
    response = admin_client.post(
        reverse("admin:profiles_profile_export_now", args=[fa_profile.pk]), follow=True
    )
    assert "already running" in _messages(response)
    assert response.redirect_chain[0][0] == reverse("admin:profiles_run_change", args=[active.pk])
    progress = admin_client.get(reverse("admin:profiles_run_progress", args=[active.pk])).json()
    assert progress["active"] is True


def test_dry_run_lists_the_changed_customer_with_its_field_diff(admin_client, fa_profile, sims):
    admin_client.post(reverse("admin:profiles_profile_export_now", args=[fa_profile.pk]))
    requests.post(f"{sims.magento.url}/_sim/clock", json={"advance": 5}, timeout=10)
    target = (
        ContactEntity.objects.filter(profile=fa_profile, status="created")
        .exclude(customer_id=None)
        .first()
    )
    magento_customer_patch(sims, target.customer_id, lastname="Changedname")
    # A new customer whose e-mail matches a hidden FreeAgent contact: a possible duplicate.
    requests.post(
        f"{sims.freeagent.url}/_sim/contacts",
        json=[
            {
                "first_name": "Old",
                "last_name": "Entry",
                "email": "twin@example.com",
                "status": "Hidden",
            }
        ],
        timeout=10,
    ).raise_for_status()
    requests.post(
        f"{sims.magento.url}/_sim/customers",
        json={"email": "twin@example.com", "firstname": "Tw", "lastname": "In"},
        timeout=10,
    ).raise_for_status()
    response = admin_client.post(
        reverse("admin:profiles_profile_dry_run", args=[fa_profile.pk]), follow=True
    )
    run = Run.objects.filter(profile=fa_profile, dry_run=True).get()
    assert run.status == RunStatus.SUCCESS, run.summary
    page = response.content.decode()
    assert run.updated == 1
    assert run.created == 1
    assert "What would be sent (2 contacts)" in page
    assert "Changedname" in page
    assert "last_name" in page
    assert "possible duplicate of hidden contact" in page
    # Nothing was sent, and the queue is as the dry run found it: the real export
    # collects the two changes itself and counts them.
    changed = ContactEntity.objects.get(pk=target.pk)
    assert changed.queue_status == QueueStatus.COMPLETE
    assert not ContactEntity.objects.filter(profile=fa_profile, email="twin@example.com")
    assert "(new: in the queue once a real run collects it)" in page
    admin_client.post(reverse("admin:profiles_profile_export_now", args=[fa_profile.pk]))
    real = Run.objects.filter(profile=fa_profile, dry_run=False).order_by("-pk").first()
    assert (real.collected, real.updated, real.created) == (2, 1, 1), real.summary


def test_schedule_toggle_and_retry_failed(admin_client, fa_profile):
    url = reverse("admin:profiles_profile_schedule", args=[fa_profile.pk])
    admin_client.post(url, {"enabled": "1"})
    fa_profile.refresh_from_db()
    assert fa_profile.status is True
    assert fa_profile.schedule.enabled
    admin_client.post(url, {"enabled": "0"})
    fa_profile.refresh_from_db()
    assert fa_profile.status is False
    assert not fa_profile.schedule.enabled
    ContactEntity.objects.create(
        profile=fa_profile, person_key="customer:99", queue_status=QueueStatus.FAILED, attempts=3
    )
    page = admin_client.get(reverse("admin:profiles_profile_change", args=[fa_profile.pk]))
    assert "Retry failed (1)" in page.content.decode()
    response = admin_client.post(
        reverse("admin:contacts_contactentity_retry_failed", args=[fa_profile.pk]), follow=True
    )
    assert "1 failed contact(s)" in _messages(response)
    entity = ContactEntity.objects.get(profile=fa_profile, person_key="customer:99")
    # Retried at once, by a run of just the contacts it queued (here it fails again: the
    # customer is not in the mirror — with a fresh attempt count, so one attempt used).
    run = fa_profile.runs.get()
    assert run.scope["entity_ids"] == [entity.pk]
    assert run.kind_label == "Export of 1 contact"
    assert response.redirect_chain[-1][0].endswith(
        reverse("admin:profiles_run_change", args=[run.pk])
    )
    assert entity.attempts == 1
    run.refresh_from_db()
    assert (run.status, run.failed) == ("failed", 1)


def test_collect_from_the_profile_form_keeps_an_unsaved_selection(admin_client, live_clients):
    url = reverse("admin:profiles_profile_add") + "?type=freeagent_contact_export"
    data = _fa_profile_data(live_clients, next=url)
    response = admin_client.post(reverse("admin:profiles_client_selected") + "?which=client", data)
    assert response.status_code == 302
    assert f"client={live_clients['freeagent'].pk}" in response["Location"]
    live_clients["freeagent"].refresh_from_db()
    assert live_clients["freeagent"].collected_at is not None
    page = admin_client.get(response["Location"]).content.decode()
    assert f'<option value="{live_clients["freeagent"].pk}" selected>' in page


@pytest.fixture
def emarsys_profile(live_clients):
    client_configuration_collect(client=live_clients["emarsys"])
    client_configuration_collect(client=live_clients["magento"])
    return Profile.objects.create(
        name="Emarsys contacts",
        type="emarsys_contact_sync",
        source_client=live_clients["magento"],
        client=live_clients["emarsys"],
        status=False,
        settings={"field_mapping": [{"magento": "firstname", "emarsys": 1}]},
    )


def _emarsys_data(profile, **overrides):
    data = {
        "name": profile.name,
        "type": "emarsys_contact_sync",
        "source_client": profile.source_client_id,
        "client": profile.client_id,
        "schedule_preset": "every_15",
        "process_batch_size": "100",
        "retry_max_attempts": "3",
        "api_behaviour": "create_and_update",
        "sync_mode": "background_only",
        "background_runtime": "03:30",
        "poll_interval_minutes": "5",
        "export_types": "both",
        "customers_list": "Magento customers",
        "subscribers_list": "Newsletter",
        "optin_1": "1",
        "optin_2": "",
        "optin_3": "2",
        "optin_4": "",
        "webhook_secret": "",
        "mapping-TOTAL_FORMS": "3",
        "mapping-INITIAL_FORMS": "1",
        "mapping-MIN_NUM_FORMS": "0",
        "mapping-MAX_NUM_FORMS": "1000",
        "mapping-0-magento": "firstname",
        "mapping-0-emarsys": "1",
        "mapping-0-extra": "{}",
        "mapping-1-magento": "loyalty_tier",
        "mapping-1-emarsys": "new",
        "mapping-1-new_name": "Loyalty tier",
        "mapping-1-new_type": "shorttext",
        "mapping-1-clear_when_empty": "on",
        "mapping-2-magento": "",
        "mapping-2-emarsys": "",
    }
    data.update(overrides)
    return data


def test_emarsys_profile_edits_mapping_lists_and_mode(admin_client, emarsys_profile):
    url = reverse("admin:profiles_profile_change", args=[emarsys_profile.pk])
    page = admin_client.get(url).content.decode()
    for text in (
        "4. Field mapping",
        "Synchronization mode",
        "Background runtime",
        "Export customers",
        "Export subscribers",
        "Export both",
        "Create custom field",
    ):
        assert text in page, text
    assert (
        "First Name (shorttext, #1)" in page
    )  # Emarsys fields from the collected configuration data
    assert '<datalist id="magento-attributes">' in page
    response = admin_client.post(url, _emarsys_data(emarsys_profile))
    assert response.status_code == 302, response.context["adminform"].form.errors
    emarsys_profile.refresh_from_db()
    settings = emarsys_profile.settings
    assert settings["sync_mode"] == "background_only"
    assert settings["background_runtime"] == "03:30"
    assert settings["subscribers_list"] == "Newsletter"
    assert settings["optin_map"] == {"1": 1, "2": "", "3": 2, "4": ""}
    assert settings["field_mapping"] == [
        {"magento": "firstname", "emarsys": 1},
        {
            "magento": "loyalty_tier",
            "emarsys": {"name": "Loyalty tier", "type": "shorttext"},
            "clear_when_empty": True,
        },
    ]


def test_emarsys_mapping_row_errors_are_shown_in_the_table(admin_client, emarsys_profile):
    url = reverse("admin:profiles_profile_change", args=[emarsys_profile.pk])
    data = _emarsys_data(
        emarsys_profile, **{"mapping-1-new_name": "", "background_runtime": "25:99"}
    )
    response = admin_client.post(url, data)
    assert response.status_code == 200
    page = response.content.decode()
    assert "Name the new Emarsys field." in page
    form = response.context["adminform"].form
    assert "background_runtime" in form.errors


def test_initial_export_buttons_start_a_run(admin_client, emarsys_profile):
    response = admin_client.post(
        reverse("admin:contacts_contactentity_initial_export", args=[emarsys_profile.pk]),
        {"types": "customers"},
    )
    run = Run.objects.get(profile=emarsys_profile)
    assert response["Location"] == reverse("admin:profiles_run_change", args=[run.pk])
    bad = admin_client.post(
        reverse("admin:contacts_contactentity_initial_export", args=[emarsys_profile.pk]),
        {"types": "everything"},
        follow=True,
    )
    assert "Choose customers, subscribers or both" in _messages(bad)


def test_the_contacts_to_export_settings_are_saved_from_the_form(admin_client, fa_profile):
    books = fa_profile.client
    books.configuration_data = {"contact_options": {"charge_sales_tax": ["Auto", "Never"]}}
    books.save()
    url = reverse("admin:profiles_profile_change", args=[fa_profile.pk])
    data = _fa_profile_data(
        {"magento": fa_profile.source_client, "freeagent": books},
        name=fa_profile.name,
        new_charge_sales_tax="Never",
    )
    response = admin_client.post(url, data)  # the guest checkbox left unticked
    assert response.status_code == 302, response.content.decode()[:2000]
    fa_profile.refresh_from_db()
    assert fa_profile.settings["guest_buyers"] is False
    assert fa_profile.settings["new_contacts"] == {"charge_sales_tax": "Never"}
    data.update(guest_buyers="on", new_charge_sales_tax="")
    assert admin_client.post(url, data).status_code == 302
    fa_profile.refresh_from_db()
    assert fa_profile.settings["guest_buyers"] is True
    assert fa_profile.settings["new_contacts"] == {}
    data["new_charge_sales_tax"] = "Sometimes"  # not offered: refused by the choice field
    page = admin_client.post(url, data)
    assert page.status_code == 200
    assert "Select a valid choice" in page.content.decode()


def test_a_rejected_save_leaves_the_actions_box_showing_what_is_live(admin_client, fa_profile):
    url = reverse("admin:profiles_profile_change", args=[fa_profile.pk])
    clients = {"magento": fa_profile.source_client, "freeagent": fa_profile.client}
    data = _fa_profile_data(clients, name=fa_profile.name, guest_buyers="on")
    assert admin_client.post(url, data).status_code == 302  # live: every 15 minutes
    live = admin_client.get(url).content.decode()
    chip = live.split("Schedule: ", 1)[1].split("</span>", 1)[0]
    assert "enabled" in chip
    rejected = admin_client.post(
        url, {**data, "schedule_preset": "custom", "schedule_cron": "*/61 * * *", "status": ""}
    )
    page = rejected.content.decode()
    assert rejected.status_code == 200
    assert "errornote" in page
    assert page.split("Schedule: ", 1)[1].split("</span>", 1)[0] == chip  # as saved
    fa_profile.refresh_from_db()
    assert fa_profile.status is True
    assert fa_profile.schedule_preset == "every_15"


def test_alerts_are_set_in_the_profile_form_with_the_config_files_words(admin_client, fa_profile):
    url = reverse("admin:profiles_profile_change", args=[fa_profile.pk])
    clients = {"magento": fa_profile.source_client, "freeagent": fa_profile.client}
    data = _fa_profile_data(
        clients,
        name=fa_profile.name,
        guest_buyers="on",
        alert_recipients="ops@example.com, lead@example.com",
        alert_no_success_hours="6",
        alert_failed_above="10",
        alert_credentials_refused="on",
        alert_approval_waiting="on",
    )
    assert admin_client.post(url, data).status_code == 302
    fa_profile.refresh_from_db()
    assert fa_profile.settings["alerts"] == {
        "recipients": ["ops@example.com", "lead@example.com"],
        "webhook_url": "",
        "no_success_hours": 6,
        "failed_above": 10,
        "credentials_refused": True,
        "approval_waiting": True,
    }
    page = admin_client.get(url).content.decode()
    assert 'value="ops@example.com, lead@example.com"' in page
    bad = admin_client.post(url, {**data, "alert_recipients": "ops@example.com, nope"})
    assert bad.status_code == 200
    assert "recipients: &#x27;nope&#x27; is not an e-mail address" in bad.content.decode()
    data.update(alert_recipients="", alert_webhook_url="")  # no one to tell: alerts off
    assert admin_client.post(url, data).status_code == 302
    fa_profile.refresh_from_db()
    assert "alerts" not in fa_profile.settings


def test_the_deletion_policy_is_set_in_the_profile_form(admin_client, fa_profile):
    url = reverse("admin:profiles_profile_change", args=[fa_profile.pk])
    clients = {"magento": fa_profile.source_client, "freeagent": fa_profile.client}
    page = admin_client.get(url).content.decode()
    assert "Customers deleted in Magento" in page
    assert 'value="hide"' in page
    assert 'value="unsubscribe"' not in page
    data = _fa_profile_data(
        clients,
        name=fa_profile.name,
        guest_buyers="on",
        deletion_policy="delete",
        deletion_brake_percent="2.5",
        deletion_brake_max="20",
    )
    assert admin_client.post(url, data).status_code == 302
    fa_profile.refresh_from_db()
    assert fa_profile.settings["deletions"] == {
        "policy": "delete",
        "brake_percent": 2.5,
        "brake_max": 20,
    }
    refused = admin_client.post(url, {**data, "deletion_policy": "unsubscribe"})
    assert refused.status_code == 200
    assert "Select a valid choice" in refused.content.decode()
    fa_profile.refresh_from_db()
    assert fa_profile.settings["deletions"]["policy"] == "delete"
