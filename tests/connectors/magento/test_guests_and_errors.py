"""Guest buyers from orders, and Magento error bodies turned into our errors."""

from __future__ import annotations

import pytest
import requests
import responses

from connectors.errors import TransientError, ValidationError
from connectors.magento.auth import BearerAuth
from connectors.magento.client import MagentoClient
from connectors.magento.normalise import error_text, guest_from_order, render_message
from connectors.simulators.kit import RunningServer
from connectors.simulators.magento.app import MagentoSimulator


def test_guest_buyers_from_the_simulator(client: MagentoClient, sim: MagentoSimulator) -> None:
    pager = client.iter_guest_orders_changed(None, page_size=7)
    guests = list(MagentoClient.guest_buyers(pager))
    expected = {o["entity_id"] for o in sim.orders.values() if o["customer_is_guest"] == 1}
    assert {g["order_id"] for g in guests} == expected  # the converted order is excluded
    assert all(g["email"] and g["firstname"] and g["lastname"] for g in guests)
    nameless = [
        o for o in sim.orders.values() if o["customer_is_guest"] and "customer_firstname" not in o
    ]
    assert nameless
    by_order = {g["order_id"]: g for g in guests}
    for order in nameless:  # names fall back to the billing address
        assert by_order[order["entity_id"]]["firstname"] == order["billing_address"]["firstname"]
    virtual = [g for g in guests if sim.orders[g["order_id"]]["is_virtual"]]
    assert virtual
    assert all(g["shipping_address"] is None for g in virtual)
    shipped = [g for g in guests if g["shipping_address"]]
    assert shipped
    assert all(g["shipping_address"]["country_id"] for g in shipped)
    registered = {c["email"].lower() for c in sim.customers.values()}
    assert any(g["email_key"] in registered and g["email"] != g["email_key"] for g in guests)
    keys = [g["email_key"] for g in guests]
    assert len(set(keys)) < len(keys)  # repeat guests


def test_new_guest_order_is_picked_up_incrementally(
    client: MagentoClient, server: RunningServer
) -> None:
    first = client.iter_guest_orders_changed(None, page_size=50)
    list(first)
    requests.post(f"{server.url}/_sim/clock", json={"advance": 5}, timeout=5)
    created = requests.post(
        f"{server.url}/_sim/orders",
        json={"email": " New.Guest@Example.COM ", "names": False},
        timeout=5,
    ).json()
    second = client.iter_guest_orders_changed(first.cursor, page_size=50)
    guests = list(MagentoClient.guest_buyers(second))
    assert [g["order_id"] for g in guests][-1] == created["entity_id"]
    assert guests[-1]["email_key"] == "new.guest@example.com"
    assert guests[-1]["firstname"] == created["billing_address"]["firstname"]


def test_guest_normalisation_trims_and_drops_empty_lines() -> None:
    order = {
        "entity_id": 9,
        "customer_email": "  A@B.example ",
        "customer_is_guest": 1,
        "billing_address": {
            "firstname": " Ann ",
            "lastname": "Lee",
            "street": ["", "1 Road ", ""],
            "city": "Cork",
            "country_id": "IE",
            "postcode": "T12 X285",
            "telephone": "",
            "company": "Acme Ltd",
            "vat_id": "IE1234567T",
        },
    }
    guest = guest_from_order(order)
    assert guest["email"] == "A@B.example"
    assert guest["email_key"] == "a@b.example"
    assert guest["firstname"] == "Ann"
    assert guest["billing_address"]["street"] == ["1 Road"]
    assert guest["telephone"] is None
    assert guest["vat_id"] == "IE1234567T"
    assert guest["shipping_address"] is None


def test_render_message_placeholders() -> None:
    assert render_message("Invalid product data: %1", ["x"]) == "Invalid product data: x"
    assert render_message("%1 and %10", [str(i) for i in range(1, 11)]) == "1 and 10"
    assert (
        render_message(
            "No such entity with %fieldName = %fieldValue",
            {"fieldName": "customerId", "fieldValue": 7},
        )
        == "No such entity with customerId = 7"
    )
    assert render_message("Keep %unknown", {"other": 1}) == "Keep %unknown"
    assert render_message("no params %1", None) == "no params %1"


def test_aggregate_errors_become_field_errors() -> None:
    body = {
        "message": "One or more input exceptions have occurred.",
        "errors": [
            {
                "message": '"%fieldName" is required. Enter and try again.',
                "parameters": {"fieldName": "email"},
            },
            {
                "message": 'Invalid value of "%value" provided for the %fieldName field.',
                "parameters": {"value": "x", "fieldName": "dob"},
            },
        ],
    }
    message, fields = error_text(body)
    assert message == "One or more input exceptions have occurred."
    assert fields == {
        "email": ['"email" is required. Enter and try again.'],
        "dob": ['Invalid value of "x" provided for the dob field.'],
    }


@responses.activate
def test_html_and_nonce_answers_are_transient() -> None:
    client = MagentoClient("https://shop.example.com", auth=BearerAuth("t"))
    responses.get(
        "https://shop.example.com/rest/default/V1/customers/1",
        status=200,
        body="<html>Attention Required! | Cloudflare</html>",
        content_type="text/html",
    )
    with pytest.raises(TransientError, match="non-JSON"):
        client.get_customer(1)
    responses.replace(
        responses.GET,
        "https://shop.example.com/rest/default/V1/customers/1",
        status=400,
        json={
            "message": '"%fieldName" is required. Enter and try again.',
            "parameters": {"fieldName": "customer"},
        },
    )
    with pytest.raises(ValidationError) as exc:
        client.get_customer(1)
    assert exc.value.field_errors == {"customer": ['"customer" is required. Enter and try again.']}
