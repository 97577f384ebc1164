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
