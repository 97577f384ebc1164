"""Client pages: per-type forms with write-only credentials, test connection, collect and
delete configuration data, and the FreeAgent OAuth connect flow against the simulator."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.urls import reverse

from profiles.models import Client, ClientType

pytestmark = pytest.mark.django_db


def _messages(response) -> str:
    return " ".join(str(m) for m in response.context["messages"]) if response.context else ""


def test_add_client_asks_for_the_system_first(admin_client):
    page = admin_client.get(reverse("admin:profiles_client_add")).content.decode()
    for kind in ("magento", "freeagent", "emarsys"):
        assert f"?type={kind}" in page


def test_magento_form_has_the_four_oauth_values_and_stores_them(admin_client):
    url = reverse("admin:profiles_client_add") + "?type=magento"
    page = admin_client.get(url).content.decode()
    for name in ("cred_consumer_key", "cred_consumer_secret", "cred_access_token_secret"):
        assert f'name="{name}"' in page
    data = {
        "name": "Shop",
        "type": "magento",
        "base_url": "https://shop.example.com",
        "store_code": "default",
        "cred_method": "oauth1",
        "cred_consumer_key": "ck",
        "cred_consumer_secret": "cs",
        "cred_access_token": "at",
        "subscribers_source": "customers",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 200  # the fourth value is missing
    assert "Required." in response.content.decode()
    data["cred_access_token_secret"] = "ats"
    assert admin_client.post(url, data).status_code == 302
    shop = Client.objects.get(name="Shop")
    assert shop.type == ClientType.MAGENTO
    assert shop.credentials == {
        "method": "oauth1",
        "consumer_key": "ck",
        "consumer_secret": "cs",
        "access_token": "at",
        "access_token_secret": "ats",
    }


def test_empty_secret_keeps_the_stored_one_and_a_new_value_replaces_it(
    admin_client, planted_clients
):
    books = planted_clients["freeagent"]
    url = reverse("admin:profiles_client_change", args=[books.pk])
    data = {
        "name": books.name,
        "type": "freeagent",
        "environment": "sandbox",
        "base_url": "",
        "cred_client_id": "fa-id-visible",
        "cred_client_secret": "",
    }
    assert admin_client.post(url, data).status_code == 302
    books.refresh_from_db()
    assert books.credentials["client_secret"] == "planted-fa-secret-0003"
    assert books.token_state["access_token"]  # nothing that matters to tokens changed
    data["cred_client_secret"] = "new-secret"
    data["cred_client_id"] = "another-app"
    assert admin_client.post(url, data).status_code == 302
    books.refresh_from_db()
    assert books.credentials == {"client_id": "another-app", "client_secret": "new-secret"}
    assert books.token_state == {}  # another app: the old tokens are worthless


def test_freeagent_custom_environment_needs_a_base_url_beside_the_field(admin_client):
    url = reverse("admin:profiles_client_add") + "?type=freeagent"
    response = admin_client.post(
        url,
        {
            "name": "FA",
            "type": "freeagent",
            "environment": "custom",
            "base_url": "",
            "cred_client_id": "id",
            "cred_client_secret": "secret",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "base_url" in errors


def test_emarsys_form_requires_the_method_s_credentials(admin_client):
    url = reverse("admin:profiles_client_add") + "?type=emarsys"
    data = {
        "name": "EM",
        "type": "emarsys",
        "base_url": "https://api.emarsys.net/api/v2",
        "cred_method": "wsse",
        "cred_username": "user",
    }
    response = admin_client.post(url, data)
    assert "cred_secret" in response.context["adminform"].form.errors
    data["cred_secret"] = "s"
    assert admin_client.post(url, data).status_code == 302
    assert Client.objects.get(name="EM").credentials == {
        "method": "wsse",
        "username": "user",
        "secret": "s",
    }


@pytest.mark.parametrize("kind", ["magento", "freeagent", "emarsys"])
def test_test_connection_reports_what_it_found(admin_client, live_clients, kind):
    client = live_clients[kind]
    response = admin_client.post(
        reverse("admin:profiles_client_test", args=[client.pk]), follow=True
    )
    text = _messages(response)
    assert "Connected to" in text, text


def test_test_connection_reports_a_failure(admin_client, planted_clients):
    client = planted_clients["magento"]
    response = admin_client.post(
        reverse("admin:profiles_client_test", args=[client.pk]), follow=True
    )
    assert "Connection failed" in _messages(response)


@pytest.mark.parametrize(
    ("kind", "keys"),
    [
        ("magento", {"websites", "store_views", "customer_attributes"}),
        ("freeagent", {"company", "user", "contact_options"}),
        ("emarsys", {"fields", "choices", "contact_lists"}),
    ],
)
def test_collect_and_delete_configuration_data(admin_client, live_clients, kind, keys):
    client = live_clients[kind]
    response = admin_client.post(
        reverse("admin:profiles_client_collect", args=[client.pk]), follow=True
    )
    assert "collected" in _messages(response)
    client.refresh_from_db()
    assert keys <= set(client.configuration_data)
    assert client.collected_at is not None
    page = admin_client.get(reverse("admin:profiles_client_change", args=[client.pk]))
    assert "collected <strong>0" in page.content.decode() or "minute" in page.content.decode()
    if kind == "emarsys":
        assert client.configuration_data["choices"]  # single-choice fields' options
    admin_client.post(reverse("admin:profiles_client_config_delete", args=[client.pk]))
    client.refresh_from_db()
    assert client.configuration_data == {}
    assert client.collected_at is None


def test_freeagent_connect_round_trip_through_the_simulator(admin_client, live_clients):
    books = live_clients["freeagent"]
    Client.objects.filter(pk=books.pk).update(token_state={})
    response = admin_client.post(reverse("admin:profiles_client_connect", args=[books.pk]))
    assert response.status_code == 302
    approve = response["Location"]
    assert "/approve_app?" in approve
    state = parse_qs(urlsplit(approve).query)["state"][0]
    assert len(state) >= 32
    assert admin_client.session["freeagent_oauth"]["state"] == state
    # The merchant approves in FreeAgent; it redirects back with code and state.
    back = requests.get(approve, allow_redirects=False, timeout=10).headers["Location"]
    assert back.startswith("http://testserver/admin/profiles/client/oauth/freeagent/callback/")
    result = admin_client.get(back.removeprefix("http://testserver"), follow=True)
    assert "Connected to FreeAgent company" in _messages(result)
    books.refresh_from_db()
    assert books.token_state["access_token"].startswith("sim-at-")
    assert books.settings["connected_company"]
    # Stored encrypted: the raw column does not contain the token.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT token_state FROM profiles_client WHERE id = %s", [books.pk])
        raw = cursor.fetchone()[0]
    assert books.token_state["access_token"] not in str(raw)


def test_oauth_callback_refuses_a_wrong_state(admin_client, live_clients):
    books = live_clients["freeagent"]
    admin_client.post(reverse("admin:profiles_client_connect", args=[books.pk]))
    callback = reverse("admin:profiles_client_oauth_callback")
    response = admin_client.get(callback, {"code": "x", "state": "forged"}, follow=True)
    assert "could not be verified" in _messages(response)
    # The state is single-use: even the right one fails after a failed attempt.
    response = admin_client.get(callback, {"code": "x", "state": "forged"}, follow=True)
    assert "could not be verified" in _messages(response)


def test_oauth_callback_reports_a_denied_approval(admin_client, live_clients):
    books = live_clients["freeagent"]
    response = admin_client.post(reverse("admin:profiles_client_connect", args=[books.pk]))
    state = parse_qs(urlsplit(response["Location"]).query)["state"][0]
    result = admin_client.get(
        reverse("admin:profiles_client_oauth_callback"),
        {"error": "access_denied", "state": state},
        follow=True,
    )
    assert "did not authorise" in _messages(result)
