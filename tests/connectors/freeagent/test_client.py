"""FreeAgentClient unit tests with ``responses``: pagination edges, error shapes, auth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import responses
from responses import matchers

from connectors.errors import (
    AuthError,
    ConfigurationError,
    NotFound,
    RateLimited,
    TransientError,
    ValidationError,
)
from connectors.freeagent.auth import FreeAgentOAuth, TokenManager, TokenState
from connectors.freeagent.client import (
    FreeAgentClient,
    contact_id,
    format_timestamp,
    parse_errors,
    parse_link_header,
)

BASE = "https://api.sandbox.freeagent.com/v2"
CONTACTS = f"{BASE}/contacts"


def contact(n: int) -> dict[str, object]:
    return {"url": f"{CONTACTS}/{n}", "organisation_name": f"Org {n}"}


def make_client(**kw: object) -> FreeAgentClient:
    return FreeAgentClient(BASE, access_token="tok", **kw)


# -- pagination -------------------------------------------------------------------------------


def test_parse_link_header_both_quote_styles_and_empty() -> None:
    double = f'<{CONTACTS}?page=2>; rel="next", <{CONTACTS}?page=5>; rel="last"'
    single = f"<{CONTACTS}?page=2>; rel='next', <{CONTACTS}?page=1>; rel='first'"
    assert parse_link_header(double) == {"next": f"{CONTACTS}?page=2", "last": f"{CONTACTS}?page=5"}
    assert parse_link_header(single)["next"] == f"{CONTACTS}?page=2"
    assert parse_link_header(f"<{CONTACTS}?page=3>; rel=next")["next"] == f"{CONTACTS}?page=3"
    assert parse_link_header("") == {}
    assert parse_link_header(None) == {}


@responses.activate
def test_list_follows_single_quoted_next_links_until_last_page() -> None:
    responses.get(
        CONTACTS,
        json={"contacts": [contact(1), contact(2)]},
        headers={
            "Link": f"<{CONTACTS}?page=2&per_page=2&view=all>; rel='next', "
            f"<{CONTACTS}?page=2&per_page=2&view=all>; rel='last'",
            "X-Total-Count": "3",
        },
        match=[matchers.query_param_matcher({"per_page": "2", "view": "all"})],
    )
    responses.get(
        CONTACTS,
        json={"contacts": [contact(3)]},
        # The last page still links prev/first/last, but has no next.
        headers={
            "Link": f"<{CONTACTS}?page=1&per_page=2&view=all>; rel='prev', "
            f"<{CONTACTS}?page=1&per_page=2&view=all>; rel='first'",
            "X-Total-Count": "3",
        },
        match=[matchers.query_param_matcher({"page": "2", "per_page": "2", "view": "all"})],
    )
    pages = list(make_client().iter_contact_pages(view="all", per_page=2))
    assert [len(p.contacts) for p in pages] == [2, 1]
    assert [p.total_count for p in pages] == [3, 3]
    assert len(responses.calls) == 2


@responses.activate
def test_list_walks_many_pages_with_double_quoted_links() -> None:
    total_pages = 12
    for page in range(1, total_pages + 1):
        link = f'<{CONTACTS}?page={page + 1}&per_page=1>; rel="next"' if page < total_pages else ""
        responses.get(
            CONTACTS,
            json={"contacts": [contact(page)]},
            headers={"Link": link, "X-Total-Count": str(total_pages)},
            match=[
                matchers.query_param_matcher(
                    {"per_page": "1"} if page == 1 else {"page": str(page), "per_page": "1"}
                )
            ],
        )
    ids = [contact_id(c["url"]) for c in make_client().list_contacts(per_page=1)]
    assert ids == list(range(1, total_pages + 1))


@responses.activate
def test_list_empty_link_means_last_page() -> None:
    responses.get(CONTACTS, json={"contacts": [contact(1)]}, headers={"Link": ""})
    assert len(list(make_client().list_contacts())) == 1
    assert len(responses.calls) == 1


@responses.activate
def test_list_stops_on_an_empty_page_even_with_a_next_link() -> None:
    responses.get(
        CONTACTS, json={"contacts": []}, headers={"Link": f'<{CONTACTS}?page=2>; rel="next"'}
    )
    assert list(make_client().list_contacts()) == []
    assert len(responses.calls) == 1


@responses.activate
def test_list_stops_when_next_link_repeats() -> None:
    loop = f'<{CONTACTS}?page=2&per_page=100>; rel="next"'
    responses.get(CONTACTS, json={"contacts": [contact(1)]}, headers={"Link": loop})
    # Page 1, then page 2 — which points at itself again: stop instead of looping forever.
    assert len(list(make_client().list_contacts())) == 2
    assert len(responses.calls) == 2


@responses.activate
def test_list_sends_filters_and_clamps_per_page() -> None:
    since = datetime(2025, 3, 15, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    responses.get(
        CONTACTS,
        json={"contacts": []},
        headers={"Link": ""},
        match=[
            matchers.query_param_matcher(
                {
                    "view": "hidden",
                    "sort": "-updated_at",
                    "updated_since": "2025-03-15T09:00:00.000Z",
                    "per_page": "100",
                }
            )
        ],
    )
    list(
        make_client().list_contacts(
            view="hidden", sort="-updated_at", updated_since=since, per_page=500
        )
    )
    assert len(responses.calls) == 1


def test_format_timestamp_and_contact_id() -> None:
    assert format_timestamp(datetime(2025, 10, 3, 21, 36, 19, 999)) == "2025-10-03T21:36:19.000Z"
    assert format_timestamp(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00.000Z"
    assert contact_id("https://api.freeagent.com/v2/contacts/209310") == 209310
    assert contact_id("https://api.freeagent.com/v2/contacts/209310/") == 209310
    assert contact_id(42) == 42
    assert contact_id("42") == 42
    with pytest.raises(ValueError, match="not a FreeAgent contact"):
        contact_id("https://api.freeagent.com/v2/contacts/")


# -- writes -----------------------------------------------------------------------------------


@responses.activate
def test_create_falls_back_to_location_when_body_has_no_url() -> None:
    responses.post(
        CONTACTS,
        json={"contact": {"first_name": "A", "last_name": "B"}},
        status=201,
        headers={"Location": f"{CONTACTS}/77"},
        match=[matchers.json_params_matcher({"contact": {"first_name": "A", "last_name": "B"}})],
    )
    created = make_client().create_contact({"first_name": "A", "last_name": "B"})
    assert created["url"] == f"{CONTACTS}/77"


@responses.activate
def test_update_without_body_reads_the_contact_back() -> None:
    # The docs show PUT answering with no body; the live API sends one. Handle both.
    responses.put(f"{CONTACTS}/5", body=b"", status=200, content_type="application/json")
    responses.get(f"{CONTACTS}/5", json={"contact": {**contact(5), "status": "Hidden"}})
    updated = make_client().hide_contact(f"{CONTACTS}/5")
    assert updated["status"] == "Hidden"
    assert responses.calls[0].request.body == b'{"contact": {"status": "Hidden"}}'


# -- errors ------------------------------------------------------------------------------------


def test_parse_errors_all_documented_shapes() -> None:
    assert parse_errors({"errors": {"error": {"message": "Resource not found"}}}) == (
        ["Resource not found"],
        {},
    )
    messages, fields = parse_errors(
        {"errors": [{"message": "Country Narnia is not a valid country"}, {"message": "Oops"}]}
    )
    assert messages == ["Country Narnia is not a valid country", "Oops"]
    assert fields == {"country": ["Country Narnia is not a valid country"]}
    assert parse_errors({"errors": [{"field": "email", "message": "is invalid"}]})[1] == {
        "email": ["is invalid"]
    }
    assert parse_errors({"error": "invalid_grant", "error_description": "expired"}) == (
        ["expired"],
        {},
    )
    assert parse_errors("You must not exceed 120 requests per 60 seconds")[0] == [
        "You must not exceed 120 requests per 60 seconds"
    ]
    assert parse_errors(None) == ([], {})


@responses.activate
def test_422_list_shape_becomes_validation_error_with_field_errors() -> None:
    responses.post(
        CONTACTS,
        status=422,
        json={
            "errors": [{"message": "First name can't be blank"}, {"message": "Email is invalid"}]
        },
    )
    with pytest.raises(ValidationError) as info:
        make_client().create_contact({"last_name": "X"})
    assert info.value.field_errors == {
        "first_name": ["First name can't be blank"],
        "email": ["Email is invalid"],
    }
    assert "First name can't be blank; Email is invalid" in info.value.message


@responses.activate
def test_422_dict_shape() -> None:
    responses.post(CONTACTS, status=422, json={"errors": {"error": {"message": "Invalid data"}}})
    with pytest.raises(ValidationError, match="Invalid data"):
        make_client().create_contact({"organisation_name": "X"})


@responses.activate
def test_404_403_429_and_5xx() -> None:
    client = make_client()
    responses.get(
        f"{CONTACTS}/1", status=404, json={"errors": {"error": {"message": "Resource not found"}}}
    )
    responses.delete(
        f"{CONTACTS}/2",
        status=403,
        json={"errors": {"error": {"message": "You are not allowed to access this action."}}},
    )
    responses.get(
        f"{BASE}/company",
        status=429,
        body="You must not exceed 120 requests per 60 seconds",
        headers={"Retry-After": "60"},
        content_type="text/plain",
    )
    responses.get(
        f"{BASE}/users/me", status=502, body="<html>Bad gateway</html>", content_type="text/html"
    )
    with pytest.raises(NotFound, match="Resource not found"):
        client.get_contact(1)
    with pytest.raises(AuthError, match="not allowed"):
        client.delete_contact(2)
    with pytest.raises(RateLimited) as limited:
        client.get_company()
    assert limited.value.retry_after == 60.0
    assert "120 requests per 60 seconds" in limited.value.message
    with pytest.raises(TransientError) as bad_gateway:
        client.get_current_user()
    assert bad_gateway.value.body == "<html>Bad gateway</html>"


@responses.activate
def test_max_attempts_retries_429_and_5xx() -> None:
    responses.get(f"{BASE}/company", status=429, body="slow", headers={"Retry-After": "3"})
    responses.get(f"{BASE}/company", status=503, body="down")
    responses.get(f"{BASE}/company", json={"company": {"id": 1}})
    sleeps: list[float] = []
    assert make_client(max_attempts=2, sleep=sleeps.append).get_company() == {"id": 1}
    assert sleeps[0] == 3.0
    assert len(sleeps) == 2


def test_client_needs_credentials() -> None:
    with pytest.raises(ConfigurationError):
        FreeAgentClient(BASE)


# -- auth -------------------------------------------------------------------------------------


def token_body(access: str, refresh: str) -> dict[str, object]:
    return {
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 3600,
        "refresh_token": refresh,
        "refresh_token_expires_in": 631151957,
    }


def manager(tmp_path: Path, token: TokenState, saved: list[TokenState]) -> TokenManager:
    oauth = FreeAgentOAuth("cid", "secret", base_url=BASE)
    return TokenManager(oauth, token=token, save=saved.append, lock_name="t", lock_dir=tmp_path)


@responses.activate
def test_expired_token_is_refreshed_before_the_call(tmp_path: Path) -> None:
    saved: list[TokenState] = []
    old = TokenState("old-at", "old-rt", expires_at=0)
    responses.post(
        f"{BASE}/token_endpoint",
        json=token_body("new-at", "new-rt"),
        match=[
            matchers.urlencoded_params_matcher(
                {"grant_type": "refresh_token", "refresh_token": "old-rt"}
            ),
            matchers.header_matcher({"Authorization": "Basic Y2lkOnNlY3JldA=="}),
        ],
    )
    responses.get(
        f"{BASE}/company",
        json={"company": {"id": 1}},
        match=[matchers.header_matcher({"Authorization": "Bearer new-at"})],
    )
    client = FreeAgentClient(BASE, tokens=manager(tmp_path, old, saved))
    assert client.get_company() == {"id": 1}
    assert [t.refresh_token for t in saved] == ["new-rt"]


@responses.activate
def test_401_refreshes_once_and_retries_once(tmp_path: Path) -> None:
    saved: list[TokenState] = []
    fresh_looking = TokenState("revoked-at", "rt-1", expires_at=9e9)
    unauthorised = {"errors": {"error": {"message": "Access token is invalid or has expired"}}}
    responses.get(
        f"{BASE}/users/me",
        status=401,
        json=unauthorised,
        match=[matchers.header_matcher({"Authorization": "Bearer revoked-at"})],
    )
    responses.post(f"{BASE}/token_endpoint", json=token_body("at-2", "rt-2"))
    responses.get(
        f"{BASE}/users/me",
        json={"user": {"role": "Owner"}},
        match=[matchers.header_matcher({"Authorization": "Bearer at-2"})],
    )
    tokens = manager(tmp_path, fresh_looking, saved)
    assert FreeAgentClient(BASE, tokens=tokens).get_current_user() == {"role": "Owner"}
    assert tokens.refresh_count == 1
    assert saved[0].access_token == "at-2"


@responses.activate
def test_second_401_after_refresh_raises(tmp_path: Path) -> None:
    unauthorised = {"errors": {"error": {"message": "Access token is invalid or has expired"}}}
    responses.get(f"{BASE}/users/me", status=401, json=unauthorised)
    responses.post(f"{BASE}/token_endpoint", json=token_body("at-2", "rt-2"))
    tokens = manager(tmp_path, TokenState("a", "r", expires_at=9e9), [])
    with pytest.raises(AuthError):
        FreeAgentClient(BASE, tokens=tokens).get_current_user()
    assert tokens.refresh_count == 1  # no refresh storm
    assert len(responses.calls) == 3
