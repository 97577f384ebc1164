"""Staff only; every action checks its model permission; CSRF on every POST; no page ever
shows a stored secret."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client as HttpClient
from django.urls import reverse

from contacts.models import ContactEntity
from profiles.charts import runs_chart
from profiles.models import Profile, Run, RunEvent
from tests.factories import ContactEntityFactory
from tests.ui.conftest import SECRETS

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(planted_clients):
    profile = Profile.objects.create(
        name="FA",
        type="freeagent_contact_export",
        source_client=planted_clients["magento"],
        client=planted_clients["freeagent"],
        status=False,
    )
    emarsys = Profile.objects.create(
        name="EM",
        type="emarsys_contact_sync",
        source_client=planted_clients["magento"],
        client=planted_clients["emarsys"],
        status=False,
        settings={"webhook_secret": SECRETS["webhook"]},
    )
    entity = ContactEntityFactory(profile=profile, queue_status="failed")
    run = Run.objects.create(profile=profile, trigger="button", dry_run=True, status="success")
    RunEvent.objects.create(
        run=run,
        entity_id=entity.pk,
        message="would be updated",
        data={"outcome": "updated", "changes": [["phone_number", "0123", ""]], "warnings": []},
    )
    return {
        "profile": profile,
        "em_profile": emarsys,
        "entity": entity,
        "run": run,
        **planted_clients,
    }


def post_urls(w):
    c, p, e = w["freeagent"], w["profile"], w["entity"]
    return [
        reverse("admin:profiles_client_test", args=[c.pk]),
        reverse("admin:profiles_client_collect", args=[c.pk]),
        reverse("admin:profiles_client_config_delete", args=[c.pk]),
        reverse("admin:profiles_client_connect", args=[c.pk]),
        reverse("admin:profiles_client_selected") + "?which=client",
        reverse("admin:profiles_profile_export_now", args=[p.pk]),
        reverse("admin:profiles_profile_dry_run", args=[p.pk]),
        reverse("admin:profiles_profile_schedule", args=[p.pk]),
        reverse("admin:contacts_contactentity_dry_run", args=[e.pk]),
        reverse("admin:contacts_contactentity_export_now", args=[e.pk]),
        reverse("admin:contacts_contactentity_retry", args=[e.pk]),
        reverse("admin:contacts_contactentity_reset", args=[e.pk]),
        reverse("admin:contacts_contactentity_retry_failed", args=[p.pk]),
        reverse("admin:contacts_contactentity_initial_export", args=[w["em_profile"].pk]),
    ]


def get_urls(w):
    return [
        reverse("admin:index"),
        reverse("admin:profiles_client_changelist"),
        reverse("admin:profiles_profile_changelist"),
        reverse("admin:profiles_run_changelist"),
        reverse("admin:contacts_contactentity_changelist"),
        *(
            reverse("admin:profiles_client_change", args=[w[k].pk])
            for k in ("magento", "freeagent", "emarsys")
        ),
        reverse("admin:profiles_profile_change", args=[w["profile"].pk]),
        reverse("admin:profiles_profile_change", args=[w["em_profile"].pk]),
        reverse("admin:profiles_run_change", args=[w["run"].pk]),
        reverse("admin:profiles_run_progress", args=[w["run"].pk]),
        reverse("admin:contacts_contactentity_change", args=[w["entity"].pk]),
    ]


def test_non_staff_are_sent_to_the_login_page(client, world):
    user = User.objects.create_user("shopper", password="pw-12345678")
    client.force_login(user)
    for url in post_urls(world):
        response = client.post(url, {"types": "both"})
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"], url
    for url in [*get_urls(world), reverse("admin:profiles_client_oauth_callback")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert "/admin/login/" in response["Location"], url


def test_staff_without_change_permission_get_403_on_every_action(viewer, world):
    for url in post_urls(world):
        assert (
            viewer.post(url, {"types": "both", "client": world["freeagent"].pk}).status_code == 403
        ), url
    assert not Run.objects.filter(dry_run=False).exists()
    assert ContactEntity.objects.get(pk=world["entity"].pk).queue_status == "failed"


def test_staff_with_view_permission_can_read_every_page(viewer, world):
    for url in get_urls(world):
        assert viewer.get(url).status_code == 200, url


def test_actions_are_post_only(admin_client, world):
    for url in post_urls(world):
        assert admin_client.get(url).status_code == 405, url


def test_every_post_needs_the_csrf_token(world):
    browser = HttpClient(enforce_csrf_checks=True)
    browser.force_login(User.objects.create_superuser("boss", password="pw-12345678"))
    for url in post_urls(world):
        assert browser.post(url, {"types": "both"}).status_code == 403, url


def test_no_page_renders_a_stored_secret(admin_client, world):
    pages = []
    for url in get_urls(world):
        response = admin_client.get(url)
        assert response.status_code == 200, url
        pages.append(response.content.decode())
    for kind in ("magento", "freeagent", "emarsys"):
        pages.append(
            admin_client.get(
                reverse("admin:profiles_client_add") + f"?type={kind}"
            ).content.decode()
        )
    # A failed save re-renders the form: the typed secret must not come back either.
    response = admin_client.post(
        reverse("admin:profiles_client_change", args=[world["magento"].pk]),
        {
            "name": "",
            "type": "magento",
            "cred_consumer_secret": "typed-secret-0009",
            "subscribers_source": "sql",
        },
    )
    assert response.status_code == 200
    pages.append(response.content.decode())
    everything = "\n".join(pages)
    for secret in [*SECRETS.values(), "typed-secret-0009", "planted-at-9999"]:
        assert secret not in everything, secret
    assert "ck-visible" in everything  # identifiers that are not secret are shown
    assert "A value is stored; leave empty to keep it." in everything


def test_dry_run_page_flags_a_blanked_field(admin_client, world):
    page = admin_client.get(
        reverse("admin:profiles_run_change", args=[world["run"].pk])
    ).content.decode()
    assert "would blank a field: phone_number" in page
    assert "would blank</strong>" in page


def test_dashboard_banner_lists_what_needs_attention(admin_client, world):
    from profiles.models import Client

    Client.objects.filter(pk=world["freeagent"].pk).update(token_state={})
    ContactEntity.objects.filter(pk=world["entity"].pk).update(
        message={
            "outcome": "retry",
            "text": "FreeAgent refused the credentials (401); reconnect the client.",
        },
        queue_status="retry",
        processed_at=world["run"].created_at,
    )
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert "Client Planted books: Not connected." in page
    assert "refused the credentials" in page
    assert 'role="alert"' in page


def test_runs_chart_escapes_names_and_draws_one_bar_group_per_run(world):
    run = world["run"]
    run.profile.name = "<script>x</script>"
    run.created, run.failed = 3, 1
    svg = str(runs_chart([run]))
    assert svg.startswith("<svg")
    assert "<script>" not in svg
    assert "Created: 3" in svg
    assert "Failed: 1" in svg
    assert "No finished runs yet." in str(runs_chart([]))
