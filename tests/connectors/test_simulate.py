"""All three simulators served together; a client pointed at each can talk to it."""

from __future__ import annotations

import pytest
import requests

from connectors.emarsys.auth import OAuth2ClientCredentials, WsseAuth
from connectors.emarsys.client import EmarsysClient
from connectors.freeagent.client import FreeAgentClient
from connectors.magento.client import MagentoClient
from connectors.simulators.serve import start_simulators


@pytest.fixture(scope="module")
def sims():
    running = start_simulators(magento_port=0, freeagent_port=0, emarsys_port=0, seed_customers=20)
    yield running
    running.stop()


def test_describe_gives_base_urls_and_credentials(sims):
    info = sims.describe()
    assert info["magento"]["base_url"].startswith("http://127.0.0.1:")
    assert set(info["magento"]) >= {
        "store_code",
        "consumer_key",
        "consumer_secret",
        "access_token",
        "access_token_secret",
    }
    assert info["freeagent"]["base_url"].endswith("/v2")
    assert {"client_id", "client_secret", "access_token", "refresh_token"} <= set(info["freeagent"])
    assert info["emarsys"]["base_url"].endswith("/api/v2")
    assert {"wsse_username", "wsse_secret", "client_id", "client_secret", "token_url"} <= set(
        info["emarsys"]
    )


def test_clients_talk_to_each_simulator(sims):
    info = sims.describe()
    magento = MagentoClient.from_credentials(info["magento"])
    customers = list(magento.iter_customers_changed(None, page_size=7))
    ids = [c["id"] for c in customers]
    assert len(ids) >= 20  # the seed adds odd-data customers to the N asked for
    assert len(set(ids)) == len(ids)

    freeagent = FreeAgentClient(
        info["freeagent"]["base_url"], access_token=info["freeagent"]["access_token"]
    )
    created = freeagent.create_contact({"first_name": "Ada", "last_name": "Lovelace"})
    assert freeagent.get_contact(created["url"])["last_name"] == "Lovelace"

    em = info["emarsys"]
    for auth in (
        WsseAuth(em["wsse_username"], em["wsse_secret"]),
        OAuth2ClientCredentials(em["client_id"], em["client_secret"], token_url=em["token_url"]),
    ):
        fields = EmarsysClient(em["base_url"], auth=auth).list_fields()
        assert any(f.id == "3" for f in fields)


def test_simulate_refuses_a_non_loopback_host():
    from django.core.management import call_command
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="loopback only"):
        call_command("simulate", host="0.0.0.0")


@pytest.mark.parametrize("fault", ["reset_rate", "drop_rate"])
def test_a_kept_alive_connection_is_reset_not_left_hanging(sims, fault):
    """The simulators keep connections alive as the real APIs do; a reset or dropped
    answer ends that connection at once (the client sees it), and the next request on the
    same session is answered on a new one."""
    info = sims.describe()
    url = sims.freeagent.url
    headers = {"Authorization": f"Bearer {info['freeagent']['access_token']}"}
    with requests.Session() as session:
        first = session.get(f"{url}/v2/contacts", headers=headers, timeout=(2, 3))
        assert first.status_code == 200
        assert first.headers.get("Connection", "").lower() != "close"
        requests.post(f"{url}/_sim/faults", json={fault: 1.0}, timeout=5).raise_for_status()
        try:
            with pytest.raises(requests.ConnectionError):
                session.get(f"{url}/v2/contacts", headers=headers, timeout=(2, 3))
        finally:
            requests.post(f"{url}/_sim/faults", json={fault: 0.0}, timeout=5).raise_for_status()
        again = session.get(f"{url}/v2/contacts", headers=headers, timeout=(2, 3))
        assert again.status_code == 200
