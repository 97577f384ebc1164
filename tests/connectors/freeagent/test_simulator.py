"""The client against the simulator over real HTTP: OAuth, CRUD, lists, errors, limits."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from connectors.errors import AuthError, NotFound, RateLimited, ValidationError
from connectors.freeagent.auth import FreeAgentOAuth, TokenManager, TokenState
from connectors.freeagent.client import FreeAgentClient, contact_id
from connectors.freeagent.countries import country_kept, country_name
from connectors.simulators.freeagent.app import FreeAgentSimulator, create_app
from connectors.simulators.kit import RunningServer, serve
from tests.connectors.windows import wait_for_fresh_window


def client_for(creds: dict[str, str], **kw: object) -> FreeAgentClient:
    return FreeAgentClient(creds["base_url"], access_token=creds["access_token"], **kw)


def test_oauth_code_flow(sim: FreeAgentSimulator, creds: dict[str, str], tmp_path: Path) -> None:
    oauth = FreeAgentOAuth(creds["client_id"], creds["client_secret"], base_url=creds["base_url"])
    redirect_uri = "http://127.0.0.1:9/oauth/callback"
    approve = requests.get(
        oauth.authorize_url(redirect_uri, "state-xyz"), allow_redirects=False, timeout=5
    )
    assert approve.status_code == 302
    location = urlsplit(approve.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["state-xyz"]

    token = oauth.exchange_code(query["code"][0], redirect_uri)
    assert token.expires_at > time.time() + 3000
    assert sim.state()["code_exchanges"] == 1
    me = FreeAgentClient(creds["base_url"], access_token=token.access_token).get_current_user()
    assert me["permission_level"] == 8

    with pytest.raises(AuthError, match="Access denied"):  # codes are single use
        oauth.exchange_code(query["code"][0], redirect_uri)

    rotated = oauth.refresh(token.refresh_token)
    assert rotated.refresh_token != token.refresh_token
    assert sim.state()["refresh_count"] == 1
    with pytest.raises(AuthError):  # the old refresh token died with the rotation
        oauth.refresh(token.refresh_token)


def test_token_endpoint_rejects_wrong_client_secret(creds: dict[str, str]) -> None:
    oauth = FreeAgentOAuth(creds["client_id"], "wrong", base_url=creds["base_url"])
    with pytest.raises(AuthError, match="HTTP Basic: Access denied") as info:
        oauth.refresh(creds["refresh_token"])
    assert info.value.status == 401


def test_crud_round_trip(
    sim: FreeAgentSimulator, creds: dict[str, str], server: RunningServer
) -> None:
    api = client_for(creds)
    created = api.create_contact(
        {
            "first_name": "Jana",
            "last_name": "Nováková",
            "email": "jana@example.com",
            "country": country_name("CZ"),
        }
    )
    assert created["url"].startswith(f"{server.url}/v2/contacts/")
    assert country_kept("Czech Republic", created["country"])
    assert created["status"] == "Active"

    fetched = api.get_contact(created["url"])
    assert fetched == created

    updated = api.update_contact(contact_id(created["url"]), {"town": "Brno", "email": ""})
    assert updated["town"] == "Brno"
    assert "email" not in updated  # cleared → omitted, never null

    hidden = api.hide_contact(created["url"])
    assert hidden["status"] == "Hidden"
    assert [c["url"] for c in api.list_contacts()] == []
    assert [c["url"] for c in api.list_contacts(view="hidden")] == [created["url"]]

    api.delete_contact(created["url"])
    with pytest.raises(NotFound):
        api.get_contact(created["url"])
    assert sim.state()["contacts"] == 0
    writes = [r for r in sim.request_log if r["method"] in ("POST", "PUT", "DELETE")]
    assert [r["status"] for r in writes] == [201, 200, 200, 200]


def test_validation_errors(creds: dict[str, str]) -> None:
    api = client_for(creds)
    with pytest.raises(ValidationError) as info:
        api.create_contact({"first_name": "Only"})
    assert "organisation name or a first and last name" in info.value.message
    with pytest.raises(ValidationError) as info:
        api.create_contact({"organisation_name": "Acme", "country": "Czechia"})
    assert info.value.field_errors == {"country": ["Country Czechia is not a valid country"]}
    assert info.value.body == {"errors": [{"message": "Country Czechia is not a valid country"}]}


def test_list_filters_sort_and_pagination(sim: FreeAgentSimulator, creds: dict[str, str]) -> None:
    seeded = requests.post(
        creds["base_url"].replace("/v2", "/_sim/contacts"),
        json=[
            {
                "organisation_name": f"Org {i:03d}",
                "updated_at": f"2025-01-{i % 28 + 1:02d}T10:00:00Z",
            }
            for i in range(230)
        ]
        + [{"first_name": "Zed", "last_name": "Hidden", "status": "Hidden"}],
        timeout=10,
    )
    assert seeded.status_code == 201
    api = client_for(creds)

    pages = list(api.iter_contact_pages(per_page=100))
    assert [len(p.contacts) for p in pages] == [100, 100, 30]
    assert {p.total_count for p in pages} == {230}
    names = [c["organisation_name"] for p in pages for c in p.contacts]
    assert names == sorted(names)

    desc = next(api.iter_contact_pages(sort="-name", per_page=3)).contacts
    assert [c["organisation_name"] for c in desc] == ["Org 229", "Org 228", "Org 227"]

    assert len(list(api.list_contacts(view="all"))) == 231
    recent = list(api.list_contacts(updated_since="2025-01-28T00:00:00.000Z"))
    assert recent
    assert all(c["updated_at"] >= "2025-01-28" for c in recent)

    raw = requests.get(
        f"{creds['base_url']}/contacts",
        params={"per_page": 1000, "page": 3},
        headers={"Authorization": f"Bearer {creds['access_token']}"},
        timeout=5,
    )
    assert len(raw.json()["contacts"]) == 30  # per_page is capped at 100
    assert 'rel="next"' not in raw.headers["Link"]
    assert 'rel="prev"' in raw.headers["Link"]


def test_configuration_data(creds: dict[str, str]) -> None:
    data = client_for(creds).collect_configuration()
    assert data["company"]["currency"] == "GBP"
    assert data["user"]["permission_level"] >= 3
    assert all(data["categories"][g] for g in data["categories"])
    assert "Hidden" in data["contact_options"]["status"]


def test_missing_and_expired_tokens_get_401(sim: FreeAgentSimulator, creds: dict[str, str]) -> None:
    response = requests.get(f"{creds['base_url']}/company", timeout=5)
    assert response.status_code == 401
    assert response.json() == {
        "errors": {"error": {"message": "Access token is invalid or has expired"}}
    }
    requests.post(
        creds["base_url"].replace("/v2", "/_sim/expire_token"),
        json={"access_token": creds["access_token"]},
        timeout=5,
    )
    with pytest.raises(AuthError) as info:
        client_for(creds).get_company()
    assert info.value.status == 401


def test_manager_recovers_from_an_expired_token(
    sim: FreeAgentSimulator, creds: dict[str, str], tmp_path: Path
) -> None:
    saved: list[TokenState] = []
    tokens = TokenManager(
        FreeAgentOAuth(creds["client_id"], creds["client_secret"], base_url=creds["base_url"]),
        token=TokenState(creds["access_token"], creds["refresh_token"], float(creds["expires_at"])),
        save=saved.append,
        lock_name="sim-expired",
        lock_dir=tmp_path,
    )
    sim.expire_tokens()
    company = FreeAgentClient(creds["base_url"], tokens=tokens).get_company()
    assert company["type"] == "UkLimitedCompany"
    assert sim.state()["refresh_count"] == 1
    assert len(saved) == 1


def test_rate_limit_429_with_retry_after() -> None:
    limited = create_app(time_scale=0.02)  # a 1.2 s "minute"
    with serve(limited) as running:
        creds = limited.credentials(running.url)
        session = requests.Session()
        session.headers["X-RateLimit-Test"] = "true"  # the sandbox's 5-per-minute switch
        api = client_for(creds, session=session)
        wait_for_fresh_window(1.2)
        for _ in range(5):
            api.get_company()
        with pytest.raises(RateLimited) as info:
            api.get_company()
        assert info.value.message.endswith("You must not exceed 5 requests per 60 seconds")
        assert 0 < info.value.retry_after <= 1.2
        # With retries enabled the client waits Retry-After and gets through.
        patient = client_for(creds, session=session, max_attempts=2)
        assert patient.get_company()["currency"] == "GBP"
        statuses = [r["status"] for r in limited.request_log]
    assert statuses[:6] == [200] * 5 + [429]
    assert statuses[-1] == 200


def test_per_minute_limit_is_120() -> None:
    slow = create_app(time_scale=1.0)
    with serve(slow) as running:
        local = slow.credentials(running.url)
        api = client_for(local)
        for _ in range(120):
            api.get_current_user()
        with pytest.raises(RateLimited) as info:
            api.get_current_user()
        statuses = [r["status"] for r in slow.request_log]
    assert 1 <= info.value.retry_after <= 60
    assert "120 requests per 60 seconds" in info.value.message
    assert statuses.count(200) == 120
    assert statuses[-1] == 429
