"""For the recorded requests the simulator answers the same shape (keys, types, status)."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.emarsys.auth import utc_timestamp, wsse_header
from connectors.simulators.emarsys.data import SYSTEM_FIELDS

from .conftest import load, sim_post


def assert_same_shape(recorded: Any, actual: Any, where: str = "body") -> None:
    """Every recorded key exists in ``actual`` with the same JSON type, recursively."""
    assert type(actual) is type(recorded), (
        f"{where}: {type(actual).__name__} != {type(recorded).__name__}"
    )
    if isinstance(recorded, dict):
        for key, value in recorded.items():
            assert key in actual, f"{where}: missing {key!r} in {actual!r}"
            assert_same_shape(value, actual[key], f"{where}.{key}")
    elif isinstance(recorded, list) and recorded and actual:
        assert_same_shape(recorded[0], actual[0], f"{where}[0]")


class Api:
    """Raw WSSE-signed calls to the simulator (no client logic in between)."""

    def __init__(self, app, server) -> None:
        self.server = server
        self.creds = app.credentials(server.url)
        self.nonce = 0

    def call(self, method: str, path: str, body: Any = None) -> requests.Response:
        self.nonce += 1
        header = wsse_header(
            self.creds["wsse_username"],
            self.creds["wsse_secret"],
            nonce=f"{self.nonce:032x}",
            created=utc_timestamp(),
        )
        url = self.server.url + path
        return requests.request(method, url, json=body, headers={"X-WSSE": header}, timeout=10)

    def seed(self, *contacts: dict[str, str]) -> None:
        sim_post(self.server, "/_sim/contacts", {"contacts": list(contacts)})


@pytest.fixture
def api(sim) -> Api:
    return Api(*sim)


def check(api: Api, name: str, *, status: int = 200, variant: dict | None = None) -> Any:
    rec = load(name)
    request, expected = rec["request"], (variant or rec["response"])["body"]
    body = (variant or {}).get("request_body", request["body"])
    answer = api.call(request["method"], request["path"], body)
    assert answer.status_code == (variant or {}).get("status", status), answer.text
    assert_same_shape(expected, answer.json())
    return answer.json()


def test_system_fields_match_the_recording() -> None:
    recorded = [(r["id"], r["name"], r["type"], r["read_only"]) for r in load("system_fields.json")]
    assert list(SYSTEM_FIELDS) == recorded


def test_field_list_and_choices(api) -> None:
    data = check(api, "field_list.json")["data"]
    assert len(data) == 49
    assert all(isinstance(f["id"], str) for f in data)
    assert {c["choice"] for c in check(api, "field_choices.json")["data"]} >= {"Male", "Female"}


def test_field_create_and_duplicate_name(api) -> None:
    rec = load("field_create.json")
    assert isinstance(check(api, "field_create.json")["data"]["id"], int)
    check(api, "field_create.json", variant=rec["response_variants"][0])


def test_single_create_and_update(api) -> None:
    check(api, "contact_create.json")
    api.seed({"3": "mary@example.com"})
    check(api, "contact_update_single.json")


def test_batch_create_ids_are_ints_with_2009_errors(api) -> None:
    api.seed({"3": "james.rhodes@example.com"}, {"3": "pepper.potts@example.com"})
    data = check(api, "contact_create_multiple.json")["data"]
    assert all(isinstance(i, int) for i in data["ids"])
    assert len(data["ids"]) == 2
    assert set(data["errors"]) == {"james.rhodes@example.com", "pepper.potts@example.com"}


def test_batch_update_ids_are_strings_with_2008_errors(api) -> None:
    api.seed({"3": "ian.boothby@example.com"}, {"3": "pepper.potts@example.com"})
    data = check(api, "contact_update_multiple.json")["data"]
    assert set(data["errors"]) == {"erik.selvig@example.com", "james.rhodes@example.com"}


def test_getdata_result_and_errors(api) -> None:
    api.seed(
        {"1": "Ironman", "3": "tony.stark@example.com"},
        {"1": "Hulk", "3": "bruce.banner@example.com"},
    )
    data = check(api, "contact_getdata.json")["data"]
    assert data["errors"] == []
    assert set(data["result"][0]) == {"1", "3", "id", "uid"}
    rec = load("contact_getdata_errors.json")
    missing = {
        "keyId": "3",
        "keyValues": ["ironman@example.com", "hulk@example.com"],
        "fields": [1],
    }
    answer = api.call("POST", rec["request"]["path"], missing).json()
    assert answer == rec["response"]["body"]  # identical, including the absent "result"


def test_checkids(api) -> None:
    api.seed({"3": "obadiah.stane@example.com"}, {"3": "jinsen@example.com"})
    data = check(api, "contact_checkids.json")["data"]
    assert set(data["ids"]) == {"obadiah.stane@example.com", "jinsen@example.com"}


def test_fetch_internal_id_delete_and_query(api) -> None:
    api.seed({"3": "email@example.com"}, {"1": "storm"})
    check(api, "contact_fetch_internal_id.json")
    check(api, "contact_delete.json")
    api.seed({"1": "FirstNameHere", "3": "loki@example.com"})
    rec = load("contact_query.json")
    answer = api.call("GET", "/api/v2/contact/query/?return=3&1=FirstNameHere").json()
    assert_same_shape(rec["response"]["body"], answer)
    error = api.call("GET", "/api/v2/contact/query/?1=FirstNameHere")
    assert error.status_code == 400
    assert error.json() == rec["response_variants"][0]["body"]


def test_contact_lists(api) -> None:
    api.seed({"3": "thor@example.com"}, {"3": "odin@example.com"})
    created = check(api, "contactlist_create.json")["data"]
    assert set(created["errors"]) == {"loki@example.com"}
    rec = load("contactlist_add.json")
    path = rec["request"]["path"].replace("<list_id>", str(created["id"]))
    answer = api.call("POST", path, rec["request"]["body"]).json()
    assert_same_shape(rec["response"]["body"], answer)
    everyone = api.call(
        "POST", "/api/v2/contactlist", {"name": "all", "external_ids": ["thor@example.com"]}
    )
    assert everyone.json()["data"]["errors"] == []


def test_auth_failure_and_rate_limit_shapes(sim, api) -> None:
    _app, server = sim
    denied = requests.get(server.url + "/api/v2/field", timeout=5)
    assert denied.status_code == 401
    assert denied.json() == {"replyCode": 1, "replyText": "Credentials are invalid", "data": ""}
    sim_post(server, "/_sim/faults", {"burst_429": 1})
    limited = api.call("GET", "/api/v2/field")
    assert limited.status_code == 429
    assert limited.json()["replyCode"] == 7003
    assert {"X-RateLimit-Limit", "X-RateLimit-Reset"} <= set(limited.headers)
