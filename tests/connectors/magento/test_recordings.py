"""The client against every Magento recording, replayed with ``responses``.

Each test asserts the exact query string we send (raw, as it goes on the wire) and what
the client makes of the recorded answer.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import responses

from connectors.errors import RateLimited, ValidationError
from connectors.magento.auth import BearerAuth, encode_query
from connectors.magento.client import MagentoClient
from connectors.magento.criteria import Filter, SearchCriteria
from connectors.magento.normalise import guest_from_order
from tests.connectors.magento.recordings import load_recording

BASE = "https://shop.example.com"


def raw_query_is(expected: str) -> Any:
    """A ``responses`` matcher on the raw query string, byte for byte."""

    def match(request: Any) -> tuple[bool, str]:
        query = urlsplit(request.url).query
        return query == expected, f"query {query!r} != {expected!r}"

    return match


def make_client(store_code: str = "default") -> MagentoClient:
    return MagentoClient(BASE, auth=BearerAuth("t" * 32), store_code=store_code)


@responses.activate
def test_customer_get_recording() -> None:
    rec = load_recording("customer_example.json")
    body = rec["response"]["body"]
    responses.get(f"{BASE}/rest/default/V1/customers/2", json=body, match=[raw_query_is("")])
    customer = make_client().get_customer(2)
    assert customer["email"] == "jdoe@example.com"
    assert customer["default_billing"] == "2"  # an address id, as a string
    assert customer["extension_attributes"]["is_subscribed"] is False
    assert customer["addresses"][0]["default_billing"] is True


@responses.activate
def test_customer_search_recording_query_and_parse() -> None:
    rec = load_recording("customer_search_example.json")
    recorded_query = rec["request"]["query"]
    criteria = SearchCriteria(page_size=10, current_page=1).where(
        Filter("firstname", "%ver%", "like"), Filter("lastname", "%Costello%", "like")
    )
    params = criteria.to_params()
    # Same filters as the recording (the recording spells some keys snake_case).
    spelled = {
        k.replace("conditionType", "condition_type")
        .replace("pageSize", "page_size")
        .replace("currentPage", "current_page"): v
        for k, v in params
    }
    assert spelled == recorded_query
    responses.get(
        f"{BASE}/rest/V1/customers/search",
        json=rec["response"]["body"],
        match=[raw_query_is(encode_query(params))],
    )
    result = make_client(store_code="").search_customers(criteria)
    assert result["total_count"] == 1
    item = result["items"][0]
    assert item["lastname"] == "Costello"
    non_default = item["addresses"][1]
    assert "default_billing" not in non_default
    assert non_default["region"]["region_id"] == 0


@responses.activate
def test_order_get_recording_and_guest_normalisation() -> None:
    order = load_recording("order_example.json")["response"]["body"]
    responses.get(f"{BASE}/rest/default/V1/orders/3", json=order, match=[raw_query_is("")])
    fetched = make_client().get("orders/3")
    assert fetched["increment_id"] == "000000003"
    assert fetched["grand_total"] == 165
    guest = guest_from_order(fetched)
    assert guest["email_key"] == "jdoe@example.com"
    assert guest["shipping_address"]["street"] == ["123 Oak Ave"]
    assert guest["billing_address"]["region_code"] == "NY"


@responses.activate
def test_order_search_fields_recording() -> None:
    rec = load_recording("order_search_fields_example.json")
    criteria = SearchCriteria().where(Filter("status", "pending")).order_by("increment_id")
    expected = encode_query([*criteria.to_params(), ("fields", "items[increment_id,entity_id]")])
    responses.get(
        f"{BASE}/rest/V1/orders", json=rec["response"]["body"], match=[raw_query_is(expected)]
    )
    result = make_client(store_code="").search_orders(
        criteria, fields="items[increment_id,entity_id]"
    )
    assert [i["entity_id"] for i in result["items"]] == [3003, 3140, 9435]
    assert "total_count" not in result


@responses.activate
def test_guest_orders_keyset_query_is_exact() -> None:
    order = dict(load_recording("order_example.json")["response"]["body"])
    order.update({"customer_is_guest": 1, "customer_id": None})
    expected = (
        "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=customer_is_guest&"
        "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=1&"
        "searchCriteria%5BfilterGroups%5D%5B0%5D%5Bfilters%5D%5B0%5D%5BconditionType%5D=eq&"
        "searchCriteria%5BfilterGroups%5D%5B1%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at&"
        "searchCriteria%5BfilterGroups%5D%5B1%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2017-08-21%2022%3A22%3A18&"
        "searchCriteria%5BfilterGroups%5D%5B1%5D%5Bfilters%5D%5B0%5D%5BconditionType%5D=gteq&"
        "searchCriteria%5BfilterGroups%5D%5B2%5D%5Bfilters%5D%5B0%5D%5Bfield%5D=updated_at&"
        "searchCriteria%5BfilterGroups%5D%5B2%5D%5Bfilters%5D%5B0%5D%5Bvalue%5D=2017-08-21%2022%3A22%3A18&"
        "searchCriteria%5BfilterGroups%5D%5B2%5D%5Bfilters%5D%5B0%5D%5BconditionType%5D=gt&"
        "searchCriteria%5BfilterGroups%5D%5B2%5D%5Bfilters%5D%5B1%5D%5Bfield%5D=entity_id&"
        "searchCriteria%5BfilterGroups%5D%5B2%5D%5Bfilters%5D%5B1%5D%5Bvalue%5D=0&"
        "searchCriteria%5BfilterGroups%5D%5B2%5D%5Bfilters%5D%5B1%5D%5BconditionType%5D=gt&"
        "searchCriteria%5BsortOrders%5D%5B0%5D%5Bfield%5D=updated_at&"
        "searchCriteria%5BsortOrders%5D%5B0%5D%5Bdirection%5D=ASC&"
        "searchCriteria%5BsortOrders%5D%5B1%5D%5Bfield%5D=entity_id&"
        "searchCriteria%5BsortOrders%5D%5B1%5D%5Bdirection%5D=ASC&"
        "searchCriteria%5BpageSize%5D=50&searchCriteria%5BcurrentPage%5D=1"
    )
    body = {"items": [order], "search_criteria": {"filter_groups": []}, "total_count": 1}
    responses.get(f"{BASE}/rest/default/V1/orders", json=body, match=[raw_query_is(expected)])
    pager = make_client().iter_guest_orders_changed(("2017-08-21 22:22:20", 3), page_size=50)
    guests = list(MagentoClient.guest_buyers(pager))
    assert [g["order_id"] for g in guests] == [3]
    assert pager.cursor == ("2017-08-21 22:22:20", 3)  # the re-read row did not move it back


@responses.activate
def test_error_recordings_render_placeholders_and_rate_limit() -> None:
    bad, too_many = load_recording("error_examples.json")
    responses.put(f"{BASE}/rest/default/V1/customers/5", status=400, json=bad["response"]["body"])
    responses.get(
        f"{BASE}/rest/default/V1/customers/5", status=429, json=too_many["response"]["body"]
    )
    client = make_client()
    with pytest.raises(ValidationError) as invalid:
        client.update_customer(5, {"email": "x@example.com"})
    assert (
        invalid.value.message == "magento: Invalid product data: Invalid attribute set entity type"
    )
    with pytest.raises(RateLimited) as limited:
        client.get_customer(5)
    assert limited.value.message == "magento: Too Many Requests"
    assert limited.value.retry_after == 1.0
