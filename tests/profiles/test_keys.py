"""Encryption keys rotate, and a key that cannot decrypt never takes the admin down."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from profiles.fields import PREFIX, decrypt, undecryptable
from profiles.models import Client, ClientType, Profile

pytestmark = pytest.mark.django_db

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()


def raw(model, pk, column):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {model._meta.db_table} WHERE id = %s", [pk])
        return cursor.fetchone()[0]


@pytest.fixture
def stored(settings):
    settings.FIELD_ENCRYPTION_KEY = OLD
    client = Client.objects.create(
        name="Shop",
        type=ClientType.MAGENTO,
        base_url="http://127.0.0.1:9/",
        credentials={"consumer_key": "ck", "consumer_secret": "cs-secret-value"},
    )
    profile = Profile.objects.create(
        name="P", type="emarsys_contact_sync", settings={"webhook_secret": "w" * 20}
    )
    return client, profile


def rotate_keys():
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("rotate_keys", stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_rotate_keys_re_encrypts_every_secret_with_the_new_key(settings, stored):
    client, profile = stored
    settings.FIELD_ENCRYPTION_KEY = f"{NEW},{OLD}"

    code, out, _ = rotate_keys()

    assert code == 0
    assert "3 value(s) re-encrypted" in out  # credentials, token_state, settings
    settings.FIELD_ENCRYPTION_KEY = NEW  # the old key is gone now
    client.refresh_from_db()
    profile.refresh_from_db()
    assert client.credentials["consumer_secret"] == "cs-secret-value"
    assert profile.settings["webhook_secret"] == "w" * 20
    settings.FIELD_ENCRYPTION_KEY = f"{NEW},{OLD}"
    assert "0 value(s) re-encrypted" in rotate_keys()[1]  # resumable: nothing left to do


def test_a_key_that_cannot_decrypt_leaves_pages_working_and_names_the_client(
    settings, stored, admin_client
):
    client, _ = stored
    before = raw(Client, client.pk, "credentials")
    settings.FIELD_ENCRYPTION_KEY = NEW  # the old key was lost

    client = Client.objects.get(pk=client.pk)
    assert undecryptable(client.credentials)
    for url in (
        reverse("admin:index"),
        reverse("admin:profiles_client_changelist"),
        reverse("admin:profiles_client_change", args=[client.pk]),
        reverse("admin:profiles_profile_changelist"),
    ):
        page = admin_client.get(url)
        assert page.status_code == 200, url
    home = admin_client.get(reverse("admin:index")).content.decode()
    assert "The stored secrets of &#x27;Shop&#x27; cannot be decrypted" in home
    client.name = "Shop (renamed)"
    client.save()  # a save never destroys what the old key could still open
    assert raw(Client, client.pk, "credentials") == before
    code, _, err = rotate_keys()
    assert code == 1
    assert "client 'Shop (renamed)'.credentials" in err


def test_a_database_dump_and_the_keys_restore_every_secret(settings, stored):
    """What a dump (pg_dump, the SQLite file) carries of a secret is its ciphertext: with
    the keys it is the secret again; without them, nothing (dumpdata writes ``***``)."""
    client, _ = stored
    dumped = raw(Client, client.pk, "credentials")
    assert dumped.startswith(PREFIX)
    assert "cs-secret-value" not in dumped
    settings.FIELD_ENCRYPTION_KEY = f"{NEW},{OLD}"  # restored next to the keys
    assert "cs-secret-value" in decrypt(dumped)
    settings.FIELD_ENCRYPTION_KEY = NEW  # restored without the key it was written with
    with pytest.raises(Exception, match="cannot be decrypted"):
        decrypt(dumped)
