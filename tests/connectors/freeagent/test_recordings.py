"""The client parses every real FreeAgent recording (replayed with ``responses``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.freeagent.client import CATEGORY_GROUPS, FreeAgentClient, contact_id

from .conftest import RECORDED, load_recording

SANDBOX = "https://api.sandbox.freeagent.com/v2"
PRODUCTION = "https://api.freeagent.com/v2"
TOKEN = "test-access-token"
BEARER = matchers.header_matcher({"Authorization": f"Bearer {TOKEN}"})


def replay(
    interaction: dict[str, Any], match: list[Any] | None = None, uri: str | None = None
) -> None:
    """Register one recorded interaction with ``responses``."""
    request, response = interaction["request"], interaction["response"]
    headers = {k: v for k, v in response["headers"].items() if k != "content-type"}
    body = response["body"]
    responses.add(
        request["method"],
        uri or request["uri"],
        body=json.dumps(body) if body != "" else b"",
        status=response["status"],
        headers=headers,
        content_type=response["headers"].get("content-type", "application/json"),
        match=[BEARER, *(match or [])],
    )


def client(base: str = SANDBOX) -> FreeAgentClient:
    return FreeAgentClient(base, access_token=TOKEN)


@responses.activate
def check_contacts_list() -> None:
    rec = load_recording("contacts_list.json")
    replay(rec, [matchers.query_param_matcher({"per_page": "100"})], uri=f"{SANDBOX}/contacts")
    pages = list(client().iter_contact_pages())
    assert len(pages) == 1  # Link: "" means there is no next page
    assert pages[0].total_count == 2
    assert pages[0].next_url is None
    contacts = pages[0].contacts
    assert contacts == rec["response"]["body"]["contacts"]
    assert [contact_id(c["url"]) for c in contacts] == [209309, 209308]
    assert "organisation_name" not in contacts[1]  # omitted, never null


@responses.activate
def check_contacts_retrieve() -> None:
    rec = load_recording("contacts_retrieve.json")
    replay(rec)
    contact = client().get_contact("https://api.sandbox.freeagent.com/v2/contacts/209309")
    assert contact == rec["response"]["body"]["contact"]
    assert contact["account_balance"] == "50.0"
    assert rec["prior_interactions"][0]["response"]["headers"]["link"] == ""


@responses.activate
def check_contacts_create() -> None:
    rec = load_recording("contacts_create.json")
    sent = rec["request"]["body"]
    # We send the documented envelope; the recording shows the bare form also works.
    replay(rec, [matchers.json_params_matcher({"contact": sent})])
    contact = client().create_contact(sent)
    assert contact == rec["response"]["body"]["contact"]
    assert contact["url"] == rec["response"]["headers"]["location"]
    assert contact_id(contact["url"]) == 209310


@responses.activate
def check_contacts_update() -> None:
    rec = load_recording("contacts_update.json")
    sent = rec["request"]["body"]
    replay(rec, [matchers.json_params_matcher({"contact": sent})])
    contact = client().update_contact(209311, sent)
    assert contact["first_name"] == "Dwight Kurt"
    assert contact == rec["response"]["body"]["contact"]
    created = rec["prior_interactions"][0]["response"]
    assert created["status"] == 201
    assert created["headers"]["etag"] != rec["response"]["headers"]["etag"]


@responses.activate
def check_contacts_delete() -> None:
    rec = load_recording("contacts_delete.json")
    replay(rec)
    client().delete_contact("https://api.sandbox.freeagent.com/v2/contacts/209312")
    assert len(responses.calls) == 1
    assert responses.calls[0].request.method == "DELETE"
    assert str(responses.calls[0].request.url).endswith("/v2/contacts/209312")


@responses.activate
def check_company_retrieve() -> None:
    rec = load_recording("company_retrieve.json")
    replay(rec)
    company = client().get_company()
    assert company["id"] == 27719
    assert company["sales_tax_rates"] == ["20.0", "5.0", "0.0"]


@responses.activate
def check_users_me() -> None:
    rec = load_recording("users_me.json")
    replay(rec)
    user = client().get_current_user()
    assert user["permission_level"] == 8
    assert user["role"] == "Owner"
    assert "id" not in user


def _replay_body(path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
    responses.get(f"{PRODUCTION}/{path}", json=body, headers=headers or {}, match=[BEARER])


@responses.activate
def check_alekc_contacts() -> None:
    body = load_recording("alekc_testdata/contacts.json")
    _replay_body("contacts", body)  # no Link header at all: also the last page
    contacts = list(client(PRODUCTION).list_contacts())
    assert len(contacts) == 1
    assert contacts[0]["organisation_name"] == "Example Organisation Ltd"
    assert "first_name" not in contacts[0]
    assert contacts[0]["account_balance"] == "-60.0"
    assert contact_id(contacts[0]["url"]) == 225200


@responses.activate
def check_alekc_company() -> None:
    body = load_recording("alekc_testdata/company.json")
    _replay_body("company", body)
    company = client(PRODUCTION).get_company()
    assert company["type"] == "UkLimitedCompany"
    assert company["id"] == 33870


@responses.activate
def check_alekc_users() -> None:
    body = load_recording("alekc_testdata/users.json")
    _replay_body("users", body)
    _, decoded = client(PRODUCTION)._call("GET", "users")
    assert decoded["users"][0]["role"] == "Director"
    assert decoded["users"][0]["hidden"] is False


@responses.activate
def check_alekc_categories() -> None:
    body = load_recording("alekc_testdata/categories.json")
    _replay_body("categories", body)
    groups = client(PRODUCTION).get_categories()
    assert set(groups) == set(CATEGORY_GROUPS)
    assert {g: len(v) for g, v in groups.items()} == {
        "admin_expenses_categories": 41,
        "cost_of_sales_categories": 5,
        "income_categories": 1,
        "general_categories": 67,
    }
    assert groups["income_categories"][0]["nominal_code"] == "001"


CHECKS: dict[str, Callable[[], None]] = {
    "contacts_list.json": check_contacts_list,
    "contacts_retrieve.json": check_contacts_retrieve,
    "contacts_create.json": check_contacts_create,
    "contacts_update.json": check_contacts_update,
    "contacts_delete.json": check_contacts_delete,
    "company_retrieve.json": check_company_retrieve,
    "users_me.json": check_users_me,
    "alekc_testdata/contacts.json": check_alekc_contacts,
    "alekc_testdata/company.json": check_alekc_company,
    "alekc_testdata/users.json": check_alekc_users,
    "alekc_testdata/categories.json": check_alekc_categories,
}


def test_every_recording_is_checked() -> None:
    files = {str(p.relative_to(RECORDED)) for p in RECORDED.rglob("*.json")}
    assert files == set(CHECKS)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_client_parses_recording(name: str) -> None:
    CHECKS[name]()
