"""The simulator's JSON against the OpenAPI definitions and the recordings' shapes."""

from __future__ import annotations

from typing import Any

import requests

from connectors.magento.client import MagentoClient
from connectors.magento.criteria import SearchCriteria
from connectors.simulators.kit import RunningServer
from connectors.simulators.magento.app import MagentoSimulator
from connectors.simulators.magento.seed import generate
from tests.connectors.magento.recordings import load_recording
from tests.connectors.magento.swagger import validate


def _types(value: dict[str, Any]) -> dict[str, str]:
    return {k: type(v).__name__ for k, v in value.items()}


def test_validator_accepts_the_recordings_and_catches_drift() -> None:
    customer = load_recording("customer_example.json")["response"]["body"]
    search = load_recording("customer_search_example.json")["response"]["body"]
    order = load_recording("order_example.json")["response"]["body"]
    errors = load_recording("error_examples.json")
    assert validate(customer, "customer-data-customer-interface") == []
    assert validate(search, "customer-data-customer-search-results-interface") == []
    assert validate(order, "sales-data-order-interface") == []
    assert validate(errors[1]["response"]["body"], "error-response") == []
    drifted = dict(customer, id="2", default_billing=2, surprise=True)
    problems = validate(drifted, "customer-data-customer-interface")
    assert len(problems) == 3
    assert validate({"firstname": "x"}, "customer-data-customer-interface") != []


def test_simulator_customers_and_orders_validate(client: MagentoClient) -> None:
    result = client.search_customers(SearchCriteria(page_size=300, current_page=1))
    assert result["total_count"] == len(result["items"]) > 40
    assert validate(result, "customer-data-customer-search-results-interface") == []
    orders = client.search_orders(SearchCriteria(page_size=300, current_page=1))
    assert orders["items"]
    assert validate(orders, "sales-data-order-search-result-interface") == []


def test_generated_store_validates_at_scale() -> None:
    data = generate(300, seed=7)
    for customer in data.customers:
        assert validate(customer, "customer-data-customer-interface") == [], customer["id"]
    for order in data.orders:
        assert validate(order, "sales-data-order-interface") == [], order["entity_id"]


def test_configuration_routes_validate(client: MagentoClient) -> None:
    config = client.collect_configuration()
    checks = {
        "websites": "store-data-website-interface",
        "store_groups": "store-data-group-interface",
        "store_views": "store-data-store-interface",
        "store_configs": "store-data-store-config-interface",
        "customer_groups": "customer-data-group-interface",
        "customer_attributes": "customer-data-attribute-metadata-interface",
        "countries": "directory-data-country-information-interface",
    }
    for key, definition in checks.items():
        assert config[key], key
        assert (
            validate(
                config[key], {"type": "array", "items": {"$ref": f"#/definitions/{definition}"}}
            )
            == []
        )
    assert {c["locale"] for c in config["store_configs"]} >= {"en_GB", "de_DE", "fr_FR"}


def test_customer_shape_matches_the_recording(client: MagentoClient, sim: MagentoSimulator) -> None:
    recorded = load_recording("customer_example.json")["response"]["body"]
    customer = client.get_customer(next(c["id"] for c in sim.customers.values() if c["addresses"]))
    shared = set(recorded) & set(customer)
    assert {"id", "email", "addresses", "default_billing", "extension_attributes"} <= shared
    assert {k: v for k, v in _types(customer).items() if k in shared} == {
        k: v for k, v in _types(recorded).items() if k in shared
    }
    # Key order follows the interface, as Magento's serializer does.
    order = [k for k in recorded if k in customer]
    assert [k for k in customer if k in recorded] == order
    address = customer["addresses"][0]
    rec_address = recorded["addresses"][0]
    assert {k: v for k, v in _types(address).items() if k in rec_address} == {
        k: v for k, v in _types(rec_address).items() if k in address
    }


def test_optional_nulls_are_omitted(sim: MagentoSimulator, client: MagentoClient) -> None:
    result = client.search_customers(SearchCriteria(page_size=300, current_page=1))

    def nulls(value: Any, path: str = "") -> list[str]:
        if isinstance(value, dict):
            return [p for k, v in value.items() for p in nulls(v, f"{path}.{k}")]
        if isinstance(value, list):
            return [p for i, v in enumerate(value) for p in nulls(v, f"{path}[{i}]")]
        return [path] if value is None else []

    found = {p.split(".")[-1] for item in result["items"] for p in nulls(item)}
    assert found <= {"region_code", "region"}  # only the required-typed region getters
    non_default = [a for i in result["items"] for a in i["addresses"] if "default_billing" not in a]
    assert non_default, "seed has non-default addresses"
    assert all("default_billing" not in a for a in non_default)


def test_search_echo_and_error_shape(server: RunningServer, client: MagentoClient) -> None:
    recorded = load_recording("customer_search_example.json")["response"]["body"]
    result = client.get(
        "customers/search",
        [
            ("searchCriteria[filter_groups][0][filters][0][field]", "firstname"),
            ("searchCriteria[filter_groups][0][filters][0][value]", "%a%"),
            ("searchCriteria[filter_groups][0][filters][0][condition_type]", "like"),
        ],
    )
    assert set(result) == set(recorded)
    assert result["search_criteria"] == {
        "filter_groups": [
            {"filters": [{"field": "firstname", "value": "%a%", "condition_type": "like"}]}
        ]
    }
    unknown = requests.get(f"{server.url}/rest/V1/nothing/here", timeout=5)
    assert unknown.status_code == 404
    assert unknown.json() == {"message": "Request does not match any route."}
    assert validate(unknown.json(), "error-response") == []
