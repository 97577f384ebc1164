"""load_config / dump_config: idempotent, all-or-nothing, no secrets written."""

from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from profiles.models import Client, Profile, SchedulePreset
from profiles.services.config import ConfigError, config_dump, config_load

pytestmark = pytest.mark.django_db

CONFIG = """
clients:
  - {name: store, type: magento, base_url: "http://127.0.0.1:8801", store_code: default,
     auth: {method: oauth1, consumer_key: ck, consumer_secret: "${STORE_SECRET}",
            access_token: at, access_token_secret: ats}}
  - {name: books, type: freeagent, base_url: "http://127.0.0.1:8802/v2",
     auth: {client_id: cid, client_secret: csecret, access_token: tok, refresh_token: ref}}
profiles:
  - {name: fa-contacts, type: freeagent_contact_export, source: store, client: books,
     status: true, schedule: "*/15 * * * *", process_batch_size: 100,
     enable_retry_on_failure: true, retry_max_attempts: 3, api_behaviour: create_and_update}
"""


@pytest.fixture
def config_file(tmp_path, monkeypatch):
    monkeypatch.setenv("STORE_SECRET", "s3cret-from-env")
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    return path


def test_load_creates_everything_then_is_idempotent(config_file):
    out = io.StringIO()
    call_command("load_config", str(config_file), stdout=out)
    assert "2 created" not in out.getvalue()
    assert "3 created, 0 updated" in out.getvalue()
    store = Client.objects.get(name="store")
    assert store.credentials["consumer_secret"] == "s3cret-from-env"
    books = Client.objects.get(name="books")
    assert books.environment == "custom"
    assert books.token_state == {"access_token": "tok", "refresh_token": "ref"}
    assert books.credentials == {"client_id": "cid", "client_secret": "csecret"}
    profile = Profile.objects.get(name="fa-contacts")
    assert profile.source_client == store
    assert profile.client == books
    assert profile.schedule_preset == SchedulePreset.EVERY_15
    assert profile.enable_retry_on_failure is True
    assert profile.schedule is not None

    out = io.StringIO()
    call_command("load_config", str(config_file), stdout=out)
    assert "0 created, 0 updated, 3 unchanged" in out.getvalue()


def test_custom_cron_and_update(config_file):
    call_command("load_config", str(config_file), stdout=io.StringIO())
    data = yaml.safe_load(CONFIG)
    data["profiles"][0]["schedule"] = "5 */2 * * *"
    data["profiles"][0]["process_batch_size"] = 50
    result = config_load(data)
    assert result.updated == ["profile fa-contacts"]
    profile = Profile.objects.get(name="fa-contacts")
    assert (profile.schedule_preset, profile.schedule_cron) == ("custom", "5 */2 * * *")
    assert profile.process_batch_size == 50


def test_every_error_is_reported_with_its_path_and_nothing_is_written(monkeypatch):
    monkeypatch.delenv("STORE_SECRET", raising=False)
    data = yaml.safe_load(CONFIG)
    data["profiles"][0]["process_batch_size"] = 5000
    data["profiles"][0]["client"] = "nope"
    data["profiles"][0]["colour"] = "blue"
    with pytest.raises(ConfigError) as exc:
        config_load(data)
    errors = "\n".join(exc.value.errors)
    assert "clients[0].auth.consumer_secret: environment variable STORE_SECRET is not set" in errors
    assert "profiles[0].client: no client named 'nope'" in errors
    assert "profiles[0]: unknown key(s) colour" in errors
    assert "profiles[0].process_batch_size" in errors
    assert Client.objects.count() == 0
    assert Profile.objects.count() == 0


def test_bad_cron_names_the_field():
    data = yaml.safe_load(CONFIG.replace("${STORE_SECRET}", "x"))
    data["profiles"][0]["schedule"] = "every tuesday"
    with pytest.raises(ConfigError, match=r"profiles\[0\]\.schedule:"):
        config_load(data)


def test_command_exits_2_on_an_invalid_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("clients: [ {name: x, type: nothing} ]")
    with pytest.raises(CommandError, match=r"clients\[0\]\.type") as exc:
        call_command("load_config", str(path))
    assert exc.value.returncode == 2
    with pytest.raises(CommandError, match="Cannot read") as exc:
        call_command("load_config", str(tmp_path / "missing.yaml"))
    assert exc.value.returncode == 2


def test_dump_writes_no_secret_and_round_trips(config_file, monkeypatch):
    call_command("load_config", str(config_file), stdout=io.StringIO())
    out = io.StringIO()
    call_command("dump_config", stdout=out)
    text = out.getvalue()
    for secret in ("s3cret-from-env", "csecret", "tok", "ats"):
        assert f": {secret}" not in text
        assert f"'{secret}'" not in text
    dumped = yaml.safe_load(text)
    auth = {c["name"]: c for c in dumped["clients"]}["books"]["auth"]
    assert auth["client_secret"] == "${BOOKS_CLIENT_SECRET}"
    assert auth["client_id"] == "cid"
    for name in (
        "STORE_CONSUMER_SECRET",
        "STORE_ACCESS_TOKEN",
        "STORE_ACCESS_TOKEN_SECRET",
        "BOOKS_CLIENT_SECRET",
        "BOOKS_ACCESS_TOKEN",
        "BOOKS_REFRESH_TOKEN",
    ):
        monkeypatch.setenv(name, "filled")
    result = config_load(dumped)
    assert result.created == []
    assert dumped["profiles"][0]["schedule"] == "*/15 * * * *"
    assert config_dump()["profiles"] == dumped["profiles"]


def test_demo_config_points_at_the_simulators_and_loads(monkeypatch):
    from connectors.simulators.serve import start_simulators
    from profiles.services.demo import demo_config_load

    sims = start_simulators(magento_port=0, freeagent_port=0, emarsys_port=0)
    try:
        result = demo_config_load(simulators=sims.describe(), start_runs=False)
    finally:
        sims.stop()
    assert "profile FreeAgent contacts" in result.created
    store = Client.objects.get(name="Demo store")
    assert store.base_url == sims.describe()["magento"]["base_url"]
    assert store.settings["subscribers"] == {"source": "rest"}


def test_profile_secrets_are_never_dumped(monkeypatch):
    monkeypatch.setenv("STORE_SECRET", "x")
    data = yaml.safe_load(CONFIG)
    data["clients"].append(
        {
            "name": "crm",
            "type": "emarsys",
            "base_url": "http://127.0.0.1:8803/api/v2",
            "auth": {"method": "wsse", "username": "u", "secret": "wsse-secret-value"},
        }
    )
    data["profiles"].append(
        {
            "name": "em",
            "type": "emarsys_contact_sync",
            "source": "store",
            "client": "crm",
            "webhook_secret": "hook-secret-value",
        }
    )
    config_load(data)
    text = yaml.safe_dump(config_dump())
    assert "hook-secret-value" not in text
    assert "wsse-secret-value" not in text
    assert "${EM_WEBHOOK_SECRET}" in text


def test_the_subscriber_dsn_is_a_secret(monkeypatch):
    monkeypatch.setenv("STORE_SECRET", "x")
    data = yaml.safe_load(CONFIG)
    data["clients"][0]["subscribers"] = {"source": "sql", "dsn": "mysql://u:pw-123@db/magento"}
    config_load(data)
    store = Client.objects.get(name="store")
    assert store.settings["subscribers"] == {"source": "sql"}
    assert store.credentials["subscribers_dsn"] == "mysql://u:pw-123@db/magento"
    text = yaml.safe_dump(config_dump())
    assert "pw-123" not in text
    assert "${STORE_DSN}" in text


def test_reloading_config_keeps_a_connected_or_rotated_token(config_file):
    call_command("load_config", str(config_file), stdout=io.StringIO())
    books = Client.objects.get(name="books")
    rotated = {"access_token": "new-at", "refresh_token": "new-rt", "expires_at": 2_000_000_000}
    books.token_state = rotated
    books.save()
    # The same file (older token, no expiry) again: the rotated token stays.
    call_command("load_config", str(config_file), stdout=io.StringIO())
    assert Client.objects.get(name="books").token_state == rotated
    # A file without tokens at all (connected through the admin) keeps it too.
    data = yaml.safe_load(config_file.read_text().replace("${STORE_SECRET}", "s3cret-from-env"))
    del data["clients"][1]["auth"]["access_token"]
    del data["clients"][1]["auth"]["refresh_token"]
    config_load(data)
    assert Client.objects.get(name="books").token_state == rotated
    # A genuinely newer token in the file is applied.
    data["clients"][1]["auth"].update(
        access_token="newer", refresh_token="newer-rt", expires_at=2_100_000_000
    )
    config_load(data)
    assert Client.objects.get(name="books").token_state["access_token"] == "newer"


def test_reloading_keeps_what_the_file_does_not_mention(monkeypatch):
    monkeypatch.setenv("STORE_SECRET", "x")
    data = yaml.safe_load(CONFIG)
    data["clients"].append(
        {
            "name": "crm",
            "type": "emarsys",
            "base_url": "http://127.0.0.1:8803/api/v2",
            "auth": {"method": "wsse", "username": "u", "secret": "s"},
        }
    )
    data["profiles"].append(
        {
            "name": "em",
            "type": "emarsys_contact_sync",
            "source": "store",
            "client": "crm",
            "webhook_secret": "hook-secret-value-123",
            "field_mapping": [{"magento": "dob", "emarsys": 4}],
        }
    )
    data["clients"][0]["subscribers"] = {"source": "sql", "dsn": "mysql://u:pw@db/m"}
    config_load(data)
    books = Client.objects.get(name="books")
    books.settings = {**books.settings, "connected_company": "Acme Ltd"}
    books.save()
    em = Profile.objects.get(name="em")
    em.settings = {**em.settings, "cached_field_ids": {"customer": "101"}}
    em.save()

    # The same file without the secret, the mapping and the subscriber DSN.
    del data["profiles"][1]["webhook_secret"]
    del data["profiles"][1]["field_mapping"]
    data["clients"][0]["subscribers"] = {"source": "sql"}
    data["profiles"][1]["export_types"] = "customers"
    config_load(data)

    em = Profile.objects.get(name="em")
    assert em.settings["webhook_secret"] == "hook-secret-value-123"
    assert em.settings["field_mapping"] == [{"magento": "dob", "emarsys": 4}]
    assert em.settings["cached_field_ids"] == {"customer": "101"}
    assert em.settings["export_types"] == "customers"
    assert Client.objects.get(name="books").settings["connected_company"] == "Acme Ltd"
    store = Client.objects.get(name="store")
    assert store.credentials["subscribers_dsn"] == "mysql://u:pw@db/m"


def test_a_profile_without_its_clients_is_refused_naming_the_keys():
    data = yaml.safe_load(CONFIG.replace("${STORE_SECRET}", "x"))
    del data["profiles"][0]["client"]
    del data["profiles"][0]["source"]
    with pytest.raises(ConfigError) as exc:
        config_load(data)
    assert exc.value.errors == [
        "profiles[0].source: Required: the Magento 2 client this profile reads from.",
        "profiles[0].client: Required: the FreeAgent client this profile writes to.",
    ]
    assert Profile.objects.count() == 0


def test_each_problem_is_reported_once_in_one_path_style():
    data = yaml.safe_load(CONFIG.replace("${STORE_SECRET}", "x"))
    data["clients"][0]["base_url"] = "ftp://shop.example.com"
    data["profiles"][0]["schedule"] = "*/61 * * *"
    with pytest.raises(ConfigError) as exc:
        config_load(data)
    errors = exc.value.errors
    assert len(errors) == len(set(errors))
    assert all(e.startswith(("clients[0].", "profiles[0].")) for e in errors), errors
    assert any(e.startswith("clients[0].base_url: ") for e in errors)
    assert any(e.startswith("profiles[0].schedule: ") for e in errors)


def test_guest_buyers_round_trips_and_must_be_true_or_false():
    data = yaml.safe_load(CONFIG.replace("${STORE_SECRET}", "x"))
    config_load(data)
    profile = Profile.objects.get(name="fa-contacts")
    assert profile.settings["guest_buyers"] is True  # the default
    assert config_dump()["profiles"][0]["guest_buyers"] is True
    data["profiles"][0]["guest_buyers"] = False
    config_load(data)
    profile.refresh_from_db()
    assert profile.settings["guest_buyers"] is False
    assert config_dump()["profiles"][0]["guest_buyers"] is False
    data["profiles"][0]["guest_buyers"] = "sometimes"
    with pytest.raises(ConfigError) as exc:
        config_load(data)
    assert exc.value.errors == ["profiles[0].guest_buyers: true or false; got 'sometimes'."]


def test_a_mapping_to_an_emarsys_field_the_collected_list_lacks_is_refused():
    data = yaml.safe_load(CONFIG.replace("${STORE_SECRET}", "x"))
    data["clients"].append(
        {
            "name": "crm",
            "type": "emarsys",
            "base_url": "http://127.0.0.1:8803/api/v2",
            "auth": {"method": "wsse", "username": "u", "secret": "s"},
        }
    )
    config_load(data)
    crm = Client.objects.get(name="crm")
    crm.configuration_data = {
        "fields": [{"id": 1, "name": "First Name"}, {"id": 4, "name": "Birth date"}]
    }
    crm.save()
    entry = {
        "name": "em",
        "type": "emarsys_contact_sync",
        "source": "store",
        "client": "crm",
        "field_mapping": [{"magento": "dob", "emarsys": 4}, {"magento": "taxvat", "emarsys": 999}],
    }
    data["profiles"].append(entry)
    with pytest.raises(ConfigError) as exc:
        config_load(data)
    assert exc.value.errors == [
        "profiles[1].field_mapping: Row 2: Emarsys has no field #999 (not among the 2 fields "
        "collected from client 'crm'; collect its configuration data again if the field is new)."
    ]
    entry["field_mapping"] = [{"magento": "dob", "emarsys": 4}]
    config_load(data)  # a known field: loaded
    assert Profile.objects.get(name="em").settings["field_mapping"][0]["emarsys"] in (4, "4")
