"""Regression tests of the second admin review: secrets follow their destination, profile-wide
actions need the profile's permission, a tampered mapping row is a form error, the OAuth
redirect URI honours PUBLIC_BASE_URL and client banners need ``view_client``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse

from contacts.models import ContactEntity
from profiles.forms.clients import RETYPE_SECRET
from profiles.models import Client, Profile, Run
from tests.factories import ContactEntityFactory
from tests.ui.conftest import SECRETS, staff_user

pytestmark = pytest.mark.django_db

CALLBACK = "/admin/profiles/client/oauth/freeagent/callback/"


def _errors(response) -> dict:
    return response.context["adminform"].form.errors


# -- 1. a stored secret is not sent to a new destination ----------------------------------


def _emarsys_oauth() -> Client:
    return Client.objects.create(
        name="EM",
        type="emarsys",
        base_url="https://api.emarsys.net/api/v2",
        credentials={"method": "oauth2", "client_id": "cid", "client_secret": SECRETS["em_secret"]},
    )


def _emarsys_data(**overrides):
    data = {
        "name": "EM",
        "type": "emarsys",
        "base_url": "https://api.emarsys.net/api/v2",
        "cred_method": "oauth2",
        "cred_client_id": "cid",
        "cred_client_secret": "",
        "cred_token_url": "",
        "cred_username": "",
        "cred_secret": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    "change",
    [{"cred_token_url": "https://evil.example/token"}, {"base_url": "https://evil.example/api/v2"}],
)
def test_emarsys_destination_change_needs_the_secret_again(client, change):
    em = _emarsys_oauth()
    client.force_login(staff_user("editor", "profiles.view_client", "profiles.change_client"))
    url = reverse("admin:profiles_client_change", args=[em.pk])
    response = client.post(url, _emarsys_data(**change))
    assert response.status_code == 200
    assert _errors(response)["cred_client_secret"] == [RETYPE_SECRET]
    em.refresh_from_db()
    assert em.base_url == "https://api.emarsys.net/api/v2"
    assert "token_url" not in em.credentials
    # Typed again in the same save: accepted, with the new secret only.
    response = client.post(url, _emarsys_data(**change, cred_client_secret="fresh"))
    assert response.status_code == 302
    em.refresh_from_db()
    assert em.credentials["client_secret"] == "fresh"


def test_emarsys_unchanged_destination_keeps_the_secret(admin_client):
    em = _emarsys_oauth()
    url = reverse("admin:profiles_client_change", args=[em.pk])
    # Same URL typed without the scheme: not a change.
    response = admin_client.post(url, _emarsys_data(base_url="api.emarsys.net/api/v2"))
    assert response.status_code == 302
    em.refresh_from_db()
    assert em.credentials["client_secret"] == SECRETS["em_secret"]


def test_emarsys_wsse_base_url_change_needs_the_api_secret(admin_client, planted_clients):
    em = planted_clients["emarsys"]
    url = reverse("admin:profiles_client_change", args=[em.pk])
    data = _emarsys_data(
        name=em.name, base_url="https://evil.example/api/v2", cred_method="wsse", cred_username="u"
    )
    response = admin_client.post(url, data)
    assert _errors(response)["cred_secret"] == [RETYPE_SECRET]
    assert RETYPE_SECRET in response.content.decode()


def test_magento_base_url_change_drops_oauth_and_bearer_secrets(admin_client, planted_clients):
    store = planted_clients["magento"]
    url = reverse("admin:profiles_client_change", args=[store.pk])
    data = {
        "name": store.name,
        "type": "magento",
        "base_url": "https://evil.example",
        "store_code": "",
        "cred_method": "oauth1",
        "cred_consumer_key": "ck-visible",
        "subscribers_source": "sql",
    }
    errors = _errors(admin_client.post(url, data))
    for key in ("consumer_secret", "access_token", "access_token_secret"):
        assert errors["cred_" + key] == [RETYPE_SECRET]
    errors = _errors(admin_client.post(url, {**data, "cred_method": "token"}))
    assert errors["cred_token"] == ["Required."]  # none was stored
    response = admin_client.post(url, {**data, "cred_method": "token", "cred_token": "bearer"})
    assert response.status_code == 302
    store.refresh_from_db()
    assert store.base_url == "https://evil.example"
    assert store.credentials["token"] == "bearer"
    for key in ("consumer_secret", "access_token", "access_token_secret"):
        assert key not in store.credentials  # never sent to the new store
    assert store.credentials["subscribers_dsn"] == SECRETS["dsn"]  # names its own host


def test_freeagent_environment_change_needs_the_client_secret(admin_client, planted_clients):
    books = planted_clients["freeagent"]
    url = reverse("admin:profiles_client_change", args=[books.pk])
    data = {
        "name": books.name,
        "type": "freeagent",
        "environment": "custom",
        "base_url": "https://evil.example/v2",
        "cred_client_id": "fa-id-visible",
        "cred_client_secret": "",
    }
    assert _errors(admin_client.post(url, data))["cred_client_secret"] == [RETYPE_SECRET]
    books.refresh_from_db()
    assert books.token_state["access_token"] == SECRETS["fa_access_token"]
    response = admin_client.post(url, {**data, "cred_client_secret": "typed"})
    assert response.status_code == 302
    books.refresh_from_db()
    assert books.credentials == {"client_id": "fa-id-visible", "client_secret": "typed"}
    assert books.token_state == {}  # the token clearing stays


# -- 2. profile-wide actions need the profile's change permission --------------------------


@pytest.fixture
def profiles(planted_clients):
    fa = Profile.objects.create(
        name="FA",
        type="freeagent_contact_export",
        source_client=planted_clients["magento"],
        client=planted_clients["freeagent"],
        status=False,
    )
    em = Profile.objects.create(
        name="EM",
        type="emarsys_contact_sync",
        source_client=planted_clients["magento"],
        client=planted_clients["emarsys"],
        status=False,
    )
    entity = ContactEntityFactory(profile=fa, queue_status="failed")
    return {"fa": fa, "em": em, "entity": entity}


def _started(monkeypatch, profile):
    started: list[dict] = []

    def fake(**kwargs):
        started.append(kwargs)
        return Run.objects.create(profile=profile, trigger="button")

    monkeypatch.setattr("contacts.emarsys.services.emarsys_initial_export", fake)
    return started


def test_entity_change_alone_cannot_start_profile_wide_actions(client, profiles, monkeypatch):
    started = _started(monkeypatch, profiles["em"])
    client.force_login(staff_user("ops", "profiles.view_profile", "contacts.change_contactentity"))
    export = reverse("admin:contacts_contactentity_initial_export", args=[profiles["em"].pk])
    retry = reverse("admin:contacts_contactentity_retry_failed", args=[profiles["fa"].pk])
    assert client.post(export, {"types": "both"}).status_code == 403
    assert client.post(retry).status_code == 403
    assert not started
    assert ContactEntity.objects.get(pk=profiles["entity"].pk).queue_status == "failed"
    page = client.get(reverse("admin:profiles_profile_change", args=[profiles["em"].pk]))
    html = page.content.decode()
    for marker in ('id="initial-export-both"', 'id="retry-failed"', 'id="collect-target"'):
        assert marker not in html, marker


def test_profile_change_starts_the_export_but_retry_needs_entity_change(
    client, profiles, monkeypatch
):
    started = _started(monkeypatch, profiles["em"])
    client.force_login(staff_user("editor", "profiles.view_profile", "profiles.change_profile"))
    export = reverse("admin:contacts_contactentity_initial_export", args=[profiles["em"].pk])
    assert client.post(export, {"types": "customers"}).status_code == 302
    assert started
    assert started[0]["types"] == "customers"
    retry = reverse("admin:contacts_contactentity_retry_failed", args=[profiles["fa"].pk])
    assert client.post(retry).status_code == 403
    html = client.get(
        reverse("admin:profiles_profile_change", args=[profiles["em"].pk])
    ).content.decode()
    assert 'id="export-now"' in html
    assert 'id="initial-export-both"' in html
    assert 'id="retry-failed"' not in html
    assert 'id="collect-target"' not in html  # may not change clients
    assert "Planted marketing" in html  # the configuration summary is still shown


def test_all_buttons_for_who_may_use_them(client, profiles):
    client.force_login(
        staff_user(
            "boss",
            "profiles.view_profile",
            "profiles.change_profile",
            "profiles.change_client",
            "contacts.change_contactentity",
        )
    )
    html = client.get(
        reverse("admin:profiles_profile_change", args=[profiles["em"].pk])
    ).content.decode()
    for marker in ('id="initial-export-both"', 'id="retry-failed"', 'id="collect-target"'):
        assert marker in html, marker
    response = client.post(
        reverse("admin:contacts_contactentity_retry_failed", args=[profiles["fa"].pk])
    )
    assert response.status_code == 302
    assert ContactEntity.objects.get(pk=profiles["entity"].pk).queue_status != "failed"


def test_view_only_profile_page_has_no_buttons(viewer, profiles):
    html = viewer.get(
        reverse("admin:profiles_profile_change", args=[profiles["em"].pk])
    ).content.decode()
    for marker in ('id="collect-target"', 'id="collect-source"', "op=delete", "initial-export"):
        assert marker not in html, marker
    assert "Planted marketing" in html


# -- 3. a tampered mapping row ---------------------------------------------------------------


@pytest.mark.parametrize("extra", ["not json", "[1, 2]", '"text"', "null"])
def test_tampered_mapping_extra_is_a_field_error(admin_client, profiles, extra):
    p = profiles["em"]
    data = {
        "name": p.name,
        "type": "emarsys_contact_sync",
        "source_client": p.source_client_id,
        "client": p.client_id,
        "schedule_preset": "every_15",
        "process_batch_size": "100",
        "retry_max_attempts": "3",
        "api_behaviour": "create_and_update",
        "sync_mode": "background_only",
        "background_runtime": "02:00",
        "poll_interval_minutes": "5",
        "export_types": "customers",
        "customers_list": "L",
        "subscribers_list": "S",
        "optin_1": "1",
        "optin_2": "",
        "optin_3": "2",
        "optin_4": "",
        "mapping-TOTAL_FORMS": "1",
        "mapping-INITIAL_FORMS": "0",
        "mapping-0-magento": "firstname",
        "mapping-0-emarsys": "1",
        "mapping-0-extra": extra,
    }
    url = reverse("admin:profiles_profile_change", args=[p.pk])
    response = admin_client.post(url, data)
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "extra" in form.mapping.forms[0].errors
    assert "stored options are damaged" in response.content.decode()
    response = admin_client.post(url, {**data, "mapping-0-extra": '{"note": "kept"}'})
    assert response.status_code == 302
    p.refresh_from_db()
    assert p.settings["field_mapping"] == [{"note": "kept", "magento": "firstname", "emarsys": 1}]


# -- 4. the OAuth redirect URI behind a proxy ------------------------------------------------


def test_redirect_uri_comes_from_the_request_without_public_base_url(
    admin_client, planted_clients, settings
):
    settings.PUBLIC_BASE_URL = ""
    books = planted_clients["freeagent"]
    page = admin_client.get(reverse("admin:profiles_client_change", args=[books.pk]))
    assert f"<code>http://testserver{CALLBACK}</code>" in page.content.decode()


def test_redirect_uri_uses_public_base_url(admin_client, planted_clients, settings):
    settings.PUBLIC_BASE_URL = "https://sync.example.com"
    books = planted_clients["freeagent"]
    expected = f"https://sync.example.com{CALLBACK}"
    page = admin_client.get(reverse("admin:profiles_client_change", args=[books.pk]))
    assert f"<code>{expected}</code>" in page.content.decode()
    add = admin_client.get(reverse("admin:profiles_client_add") + "?type=freeagent")
    assert f"<code>{expected}</code>" in add.content.decode()
    response = admin_client.post(
        reverse("admin:profiles_client_connect", args=[books.pk]), HTTP_HOST="testserver"
    )
    assert response.status_code == 302
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["redirect_uri"] == [expected]


# -- 5. client banners on the dashboard ------------------------------------------------------


@pytest.mark.parametrize("may_view_clients", [True, False])
def test_dashboard_client_banners_need_view_client(client, profiles, may_view_clients):
    Client.objects.filter(name="Planted books").update(token_state={})
    perms = ["profiles.view_profile", "profiles.view_run"]
    if may_view_clients:
        perms.append("profiles.view_client")
    client.force_login(staff_user("watcher", *perms))
    page = client.get(reverse("admin:index")).content.decode()
    assert ("Client Planted books: Not connected." in page) is may_view_clients
