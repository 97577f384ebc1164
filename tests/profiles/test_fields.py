"""Client credentials and tokens are encrypted at rest and never shown."""

from __future__ import annotations

import pytest
from django.db import connection

from profiles.models import Client, ClientType
from tests.factories import ClientFactory

pytestmark = pytest.mark.django_db


def test_credentials_are_stored_encrypted_and_read_back_as_a_dict():
    client = ClientFactory(
        type=ClientType.FREEAGENT,
        credentials={"client_id": "abc", "client_secret": "very-secret-value"},
        token_state={"access_token": "tok-123", "refresh_token": "ref-456"},
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT credentials, token_state FROM profiles_client WHERE id = %s", [client.pk]
        )
        raw_credentials, raw_tokens = cursor.fetchone()
    for raw, secret in ((raw_credentials, "very-secret-value"), (raw_tokens, "tok-123")):
        assert raw.startswith("fernet:")
        assert secret not in raw
    fresh = Client.objects.get(pk=client.pk)
    assert fresh.credentials == {"client_id": "abc", "client_secret": "very-secret-value"}
    assert fresh.token_state["refresh_token"] == "ref-456"


def test_masked_credentials_never_show_the_secret():
    client = ClientFactory(credentials={"client_secret": "very-secret-value", "empty": ""})
    masked = client.masked_credentials()
    assert "very-secret-value" not in str(masked)
    assert masked["client_secret"].endswith("ue")
    assert masked["empty"] == ""


def test_a_changed_key_gives_a_clear_error(settings):
    from cryptography.fernet import Fernet
    from django.core.exceptions import ImproperlyConfigured

    from profiles.fields import decrypt, undecryptable

    client = ClientFactory(credentials={"k": "v"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM profiles_client WHERE id = %s", [client.pk])
        (stored,) = cursor.fetchone()
    settings.FIELD_ENCRYPTION_KEY = Fernet.generate_key().decode()
    with pytest.raises(ImproperlyConfigured, match="cannot be decrypted"):
        decrypt(stored)
    # The client still loads (every page renders); its secrets read as unreadable, not as
    # someone else's, and the ciphertext is kept for a restored key (tests/profiles/test_keys).
    loaded = Client.objects.get(pk=client.pk)
    assert undecryptable(loaded.credentials)
    assert loaded.credentials.get("k") is None


def test_key_rotation_reads_old_values_with_the_new_key_first(settings):
    from cryptography.fernet import Fernet

    old = settings.FIELD_ENCRYPTION_KEY
    client = ClientFactory(credentials={"k": "v"})
    settings.FIELD_ENCRYPTION_KEY = f"{Fernet.generate_key().decode()},{old}"
    assert Client.objects.get(pk=client.pk).credentials == {"k": "v"}


def test_profile_settings_are_encrypted_at_rest_and_plain_legacy_rows_still_read():
    from profiles.models import Profile
    from tests.factories import ProfileFactory

    profile = ProfileFactory(settings={"webhook_secret": "hook-secret-value-123"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT settings FROM profiles_profile WHERE id = %s", [profile.pk])
        (raw,) = cursor.fetchone()
        assert raw.startswith("fernet:")
        assert "hook-secret-value-123" not in raw
        # A row written before encryption (plain JSON) is still read.
        cursor.execute(
            "UPDATE profiles_profile SET settings = %s WHERE id = %s",
            ['{"webhook_secret": "legacy"}', profile.pk],
        )
    assert Profile.objects.get(pk=profile.pk).settings == {"webhook_secret": "legacy"}


def test_dumpdata_keeps_settings_but_no_secret_and_loaddata_reads_it(tmp_path):
    import io
    import json

    from django.core.management import call_command

    from profiles.models import Profile
    from tests.factories import ProfileFactory

    profile = ProfileFactory(
        settings={"webhook_secret": "hook-secret-123", "field_mapping": [{"magento": "dob"}]}
    )
    out = io.StringIO()
    call_command("dumpdata", "profiles.profile", stdout=out)
    assert "hook-secret-123" not in out.getvalue()
    dumped = json.loads(out.getvalue())
    settings = json.loads(dumped[0]["fields"]["settings"])
    assert settings == {"webhook_secret": "***", "field_mapping": [{"magento": "dob"}]}
    path = tmp_path / "profiles.json"
    path.write_text(out.getvalue())
    call_command("loaddata", str(path), stdout=io.StringIO())
    assert Profile.objects.get(pk=profile.pk).settings["field_mapping"] == [{"magento": "dob"}]
