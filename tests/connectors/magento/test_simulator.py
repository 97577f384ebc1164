"""Simulator behaviour over real HTTP: search semantics, writes, auth failures, limits."""

from __future__ import annotations

import time

import pytest
import requests

from connectors.errors import AuthError, NotFound, RateLimited, TransientError, ValidationError
from connectors.magento.auth import BearerAuth, OAuth1Signer
from connectors.magento.client import MagentoClient
from connectors.magento.criteria import Filter, SearchCriteria
from connectors.simulators.kit import Faults, RunningServer, serve
from connectors.simulators.magento.app import MagentoSimulator, create_app
from tests.connectors.windows import wait_for_fresh_window


def ids(result: dict) -> list[int]:
    return [i["id"] for i in result["items"]]


def test_filter_groups_and_or_and_conditions(client: MagentoClient, sim: MagentoSimulator) -> None:
    everyone = list(sim.customers.values())
    de_or_fr = SearchCriteria().where(Filter("store_id", "3"), Filter("store_id", "4"))
    result = client.search_customers(de_or_fr)
    assert set(ids(result)) == {c["id"] for c in everyone if c["store_id"] in (3, 4)}
    both = SearchCriteria().where(Filter("store_id", "3,4", "in")).where(Filter("group_id", "2"))
    assert set(ids(client.search_customers(both))) == {
        c["id"] for c in everyone if c["store_id"] in (3, 4) and c["group_id"] == 2
    }
    cases = {
        ("entity_id", "5", "lteq"): {c["id"] for c in everyone if c["id"] <= 5},
        ("entity_id", "5", "gt"): {c["id"] for c in everyone if c["id"] > 5},
        ("website_id", "1", "neq"): {c["id"] for c in everyone if c["website_id"] != 1},
        ("entity_id", "1,2,3", "nin"): {c["id"] for c in everyone if c["id"] > 3},
        ("taxvat", "", "notnull"): {c["id"] for c in everyone if "taxvat" in c},
        ("taxvat", "", "null"): {c["id"] for c in everyone if "taxvat" not in c},
        ("email", "%@EXAMPLE.ORG", "like"): {
            c["id"] for c in everyone if c["email"].lower().endswith("@example.org")
        },
    }
    for (field, value, condition), expected in cases.items():
        criteria = SearchCriteria().where(Filter(field, value, condition))
        assert set(ids(client.search_customers(criteria))) == expected, condition
    email = everyone[4]["email"]
    assert ids(client.search_customers(SearchCriteria().where(Filter("email", email.upper())))) == [
        5
    ]


def test_sort_orders_and_default_direction(client: MagentoClient, sim: MagentoSimulator) -> None:
    asc = client.search_customers(
        SearchCriteria().order_by("updated_at", "ASC").order_by("entity_id", "ASC")
    )
    keys = [(c["updated_at"], c["id"]) for c in asc["items"]]
    assert keys == sorted(keys)
    desc = client.get("customers/search", [("searchCriteria[sortOrders][0][field]", "entity_id")])
    assert ids(desc) == sorted(ids(desc), reverse=True)  # no direction = DESC


def test_paging_clamps_past_the_end_and_caps_page_size(
    client: MagentoClient, sim: MagentoSimulator
) -> None:
    total = len(sim.customers)
    last_page = -(-total // 10)

    def page(n):
        return client.search_customers(
            SearchCriteria(page_size=10, current_page=n).order_by("entity_id", "ASC")
        )

    assert page(last_page + 3)["items"] == page(last_page)["items"] != []
    assert page(last_page + 3)["total_count"] == total
    assert page(0)["items"] == page(1)["items"]
    sim.out_of_range = "empty"
    assert page(last_page + 1)["items"] == []
    with pytest.raises(ValidationError) as exc:
        client.search_customers(SearchCriteria(page_size=301))
    assert exc.value.message == "magento: Maximum SearchCriteria pageSize is 300"


def test_search_criteria_required_and_unknown_keys(client: MagentoClient) -> None:
    with pytest.raises(ValidationError) as missing:
        client.get("customers/search", [("fields", "total_count")])
    assert missing.value.message == 'magento: "searchCriteria" is required. Enter and try again.'
    assert missing.value.field_errors == {
        "searchCriteria": [missing.value.message[len("magento: ") :]]
    }
    with pytest.raises(ValidationError) as typo:
        client.get("customers/search", [("searchCriteria[pagesize]", "5")])
    assert "getPagesize" in typo.value.message
    everything = client.get("customers/search", [("searchCriteria", "")])
    assert everything["total_count"] == len(everything["items"])


def test_fields_trimming(client: MagentoClient) -> None:
    fields = "items[id,email,extension_attributes[is_subscribed]],total_count"
    result = client.search_customers(SearchCriteria(page_size=3, current_page=1), fields=fields)
    assert set(result) == {"items", "total_count"}
    assert all(set(i) == {"id", "email", "extension_attributes"} for i in result["items"])
    assert all(set(i["extension_attributes"]) == {"is_subscribed"} for i in result["items"])


def test_put_bumps_updated_at_and_writes_subscription(
    client: MagentoClient, sim: MagentoSimulator, server: RunningServer
) -> None:
    target = next(c for c in sim.customers.values() if not sim.is_subscribed(c))
    before = target["updated_at"]
    subscribers_before = len(sim.subscribers)
    saved = client.set_customer_subscription(target["id"], True)
    assert saved["extension_attributes"]["is_subscribed"] is True
    assert saved["updated_at"] > before
    assert client.get_customer(target["id"])["extension_attributes"]["is_subscribed"] is True
    assert len(sim.subscribers) >= subscribers_before
    # Subscription changes made elsewhere never touch the customer's updated_at.
    row = next(r for r in sim.subscribers.values() if r["customer_id"] == target["id"])
    requests.patch(
        f"{server.url}/_sim/subscribers/{row['subscriber_id']}",
        json={"subscriber_status": 3},
        timeout=5,
    )
    after = client.get_customer(target["id"])
    assert after["extension_attributes"]["is_subscribed"] is False
    assert after["updated_at"] == saved["updated_at"]
    with pytest.raises(NotFound) as gone:
        client.get_customer(987654)
    assert gone.value.message == "magento: No such entity with customerId = 987654"


def test_auth_failures(sim: MagentoSimulator, server: RunningServer, creds: dict[str, str]) -> None:
    anonymous = requests.get(f"{server.url}/rest/default/V1/customers/1", timeout=5)
    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "message": "The consumer isn't authorized to access %resources.",
        "parameters": {"resources": "Magento_Customer::customer"},
    }
    bearer = MagentoClient(server.url, auth=BearerAuth(creds["access_token"]))
    with pytest.raises(AuthError) as exc:
        bearer.get_customer(1)
    assert (
        exc.value.message
        == "magento: The consumer isn't authorized to access Magento_Customer::customer."
    )
    requests.post(f"{server.url}/_sim/config", json={"integration_as_bearer": True}, timeout=5)
    assert bearer.get_customer(1)["id"] == 1

    replay = OAuth1Signer(
        creds["consumer_key"],
        creds["consumer_secret"],
        creds["access_token"],
        creds["access_token_secret"],
        nonce_factory=lambda: "same-nonce",
    )
    nonce_client = MagentoClient(server.url, auth=replay)
    assert nonce_client.get_customer(1)["id"] == 1
    with pytest.raises(TransientError) as reused:  # a nonce clash is worth re-signing
        nonce_client.get_customer(1)
    assert (
        reused.value.message == "magento: The nonce is already being used by the consumer with ID 1"
    )

    future = OAuth1Signer(
        creds["consumer_key"],
        creds["consumer_secret"],
        creds["access_token"],
        creds["access_token_secret"],
        clock=lambda: time.time() + 3600,
    )
    with pytest.raises(ValidationError) as skew:
        MagentoClient(server.url, auth=future).get_customer(1)
    assert "oauth_timestamp" in skew.value.message


def test_admin_token_and_acl(
    server: RunningServer, sim: MagentoSimulator, client: MagentoClient
) -> None:
    token = requests.post(
        f"{server.url}/rest/V1/integration/admin/token",
        json={"username": "admin", "password": "admin123"},
        timeout=5,
    ).json()
    assert isinstance(token, str)
    assert MagentoClient(server.url, auth=BearerAuth(token)).get_customer(2)["id"] == 2
    sim.auth.denied_resources = {"Magento_Sales::actions_view"}
    with pytest.raises(AuthError) as denied:
        client.search_orders(SearchCriteria(page_size=1))
    assert denied.value.message.endswith("access Magento_Sales::actions_view.")


def test_rate_limit_answers_magentos_429() -> None:
    app = create_app(seed_customers=2, rate_limit=2, rate_window_s=1, time_scale=1.0)
    with serve(app) as running:
        client = MagentoClient.from_credentials(app.credentials(running.url))
        wait_for_fresh_window(1.0)
        client.get_customer(1)
        client.get_customer(1)
        with pytest.raises(RateLimited) as exc:
            client.get_customer(1)
        assert exc.value.body == {"message": "Too Many Requests", "trace": None}


def test_injected_5xx_is_transient() -> None:
    app = create_app(seed_customers=1, faults=Faults(error_rate=1.0))
    with serve(app) as running:
        client = MagentoClient.from_credentials(app.credentials(running.url))
        with pytest.raises(TransientError):
            client.get_customer(1)
