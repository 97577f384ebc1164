"""Small things a merchant meets: the favicon, read-only mirror lists."""

from __future__ import annotations

import pytest
from django.urls import reverse

from contacts.models import Customer
from profiles.models import Client

pytestmark = pytest.mark.django_db


def test_favicon_is_served_not_a_404(admin_client):
    answer = admin_client.get("/favicon.ico")
    assert answer.status_code == 302
    icon = admin_client.get(answer["Location"])
    assert icon.status_code == 200
    assert "svg" in icon["Content-Type"]
    page = admin_client.get(reverse("admin:index"))
    assert b'rel="icon"' in page.content


@pytest.mark.parametrize("model", ["customer", "subscriber", "guestbuyer"])
def test_mirror_lists_offer_no_delete_selected(admin_client, model):
    page = admin_client.get(reverse(f"admin:contacts_{model}_changelist"))
    assert page.status_code == 200
    assert b"delete_selected" not in page.content


def test_deleting_a_store_still_removes_its_mirror(admin_client):
    store = Client.objects.create(name="Old store", type="magento", base_url="http://127.0.0.1:9/")
    Customer.objects.create(store=store, magento_id=1, email="a@example.com", raw={})
    url = reverse("admin:profiles_client_delete", args=[store.pk])
    confirm = admin_client.get(url)
    assert confirm.status_code == 200
    assert b"permission to delete" not in confirm.content
    done = admin_client.post(url, {"post": "yes"})
    assert done.status_code == 302
    assert not Customer.objects.filter(store_id=store.pk).exists()


@pytest.mark.parametrize("value", ["0", "-5"])
def test_batch_size_below_one_has_one_message(value):
    from profiles.forms.profiles import profile_form_class

    form = profile_form_class("freeagent_contact_export")(data={"process_batch_size": value})
    form.is_valid()
    assert form.errors["process_batch_size"] == ["Ensure this value is greater than or equal to 1."]


@pytest.mark.parametrize(
    ("client_type", "fields", "field", "needle"),
    [
        (
            "magento",
            {"base_url": "https://shop.example.com", "store_code": "bad code!"},
            "store_code",
            "letters, digits and _",
        ),
        (
            "magento",
            {"base_url": "ftp://shop.example.com", "store_code": "default"},
            "base_url",
            "http(s) address",
        ),
        (
            "freeagent",
            {"environment": "custom", "base_url": "https://api.freeagent.com/v1"},
            "base_url",
            "ends in /v2",
        ),
        ("emarsys", {"base_url": "https://api.emarsys.net/"}, "base_url", "ends in /api/v2"),
    ],
)
def test_client_addresses_that_would_fail_later_are_refused(client_type, fields, field, needle):
    from profiles.forms.clients import CLIENT_FORMS
    from profiles.services.config import ConfigError, config_load

    form = CLIENT_FORMS[client_type](data={"name": "x", "type": client_type, **fields})
    assert not form.is_valid()
    assert any(needle in e for e in form.errors[field])
    with pytest.raises(ConfigError) as caught:
        config_load({"clients": [{"name": "x", "type": client_type, **fields, "auth": {}}]})
    assert any(f"clients[0].{field}: " in e and needle in e for e in caught.value.errors)


def test_a_bad_url_is_one_error_not_three_retype_secrets(admin_client):
    from profiles.forms.clients import CLIENT_FORMS

    store = Client.objects.create(
        name="Shop",
        type="magento",
        base_url="https://shop.example.com",
        credentials={"consumer_secret": "s", "access_token_secret": "t"},
    )
    form = CLIENT_FORMS["magento"](
        instance=store, data={"name": "Shop", "type": "magento", "base_url": "not a url"}
    )
    assert not form.is_valid()
    assert "base_url" in form.errors
    said = [e for errors in form.errors.values() for e in errors]
    assert not any("Re-enter the secret" in e for e in said), said


def test_the_emarsys_page_shows_its_webhook_url_and_whether_a_secret_is_set(
    admin_client, planted_clients, settings
):
    from profiles.models import Profile

    settings.PUBLIC_BASE_URL = "https://sync.example.com"
    profile = Profile.objects.create(
        name="Newsletter",
        type="emarsys_contact_sync",
        source_client=planted_clients["magento"],
        client=planted_clients["emarsys"],
        settings={"sync_mode": "realtime_failsafe"},
    )
    url = reverse("admin:profiles_profile_change", args=[profile.pk])
    page = admin_client.get(url).content.decode()
    assert f"https://sync.example.com/hooks/emarsys/{profile.pk}/" in page
    assert 'id="webhook-copy"' in page
    assert 'id="webhook-secret">not set' in page
    assert "every notification from Magento is refused (403)" in page
    profile.settings = {**profile.settings, "webhook_secret": "a-long-enough-secret-1"}
    profile.save()
    page = admin_client.get(url).content.decode()
    assert 'id="webhook-secret">set' in page
    assert "refused (403)" not in page
    assert "a-long-enough-secret-1" not in page
    fa = Profile.objects.create(
        name="Books",
        type="freeagent_contact_export",
        source_client=planted_clients["magento"],
        client=planted_clients["freeagent"],
    )
    fa_page = admin_client.get(reverse("admin:profiles_profile_change", args=[fa.pk]))
    assert b"webhook-panel" not in fa_page.content
    assert b"Export guest checkout contacts" in fa_page.content  # FreeAgent's own setting
    assert b"Export guest checkout contacts" not in admin_client.get(url).content


def test_the_freeagent_profile_offers_the_collected_sales_tax_options(
    admin_client, planted_clients
):
    from profiles.models import Profile

    books = planted_clients["freeagent"]
    fa = Profile.objects.create(
        name="Books",
        type="freeagent_contact_export",
        source_client=planted_clients["magento"],
        client=books,
    )
    url = reverse("admin:profiles_profile_change", args=[fa.pk])
    page = admin_client.get(url).content.decode()
    assert "Collect configuration data on the FreeAgent client" in page
    books.configuration_data = {"contact_options": {"charge_sales_tax": ["Auto", "Never"]}}
    books.save()
    page = admin_client.get(url).content.decode()
    assert '<option value="Never">Never</option>' in page
    assert "Collect configuration data on the FreeAgent client" not in page


def test_forget_this_person_from_the_explain_page(admin_client, planted_clients, client):
    from contacts.models import ContactEntity, ErasureAudit
    from profiles.models import Profile
    from tests.ui.conftest import staff_user

    profile = Profile.objects.create(
        name="Books",
        type="freeagent_contact_export",
        source_client=planted_clients["magento"],
        client=planted_clients["freeagent"],
    )
    entity = ContactEntity.objects.create(
        profile=profile, person_key="customer:5", email="gone.girl@example.com",
        email_key="gone.girl@example.com",
    )  # fmt: skip
    Customer.objects.create(
        store=planted_clients["magento"], magento_id=5, email="gone.girl@example.com",
        email_normalized="gone.girl@example.com", firstname="Gone", raw={},
    )  # fmt: skip
    page = admin_client.get(reverse("admin:contacts_contactentity_change", args=[entity.pk]))
    assert b'id="explain-forget"' in page.content
    url = reverse("admin:contacts_contactentity_forget", args=[entity.pk])
    viewer = staff_user(
        "viewer-only", "contacts.view_contactentity", "contacts.change_contactentity"
    )
    client.force_login(viewer)
    assert client.post(url).status_code == 403  # erasure needs delete rights
    done = admin_client.post(url, follow=True)
    assert done.redirect_chain[-1][0].endswith(reverse("admin:contacts_contactentity_changelist"))
    assert "The person is forgotten" in done.content.decode()
    assert not ContactEntity.objects.filter(pk=entity.pk).exists()
    assert not Customer.objects.filter(email_normalized="gone.girl@example.com").exists()
    assert ErasureAudit.objects.get().actor == "admin:admin"
