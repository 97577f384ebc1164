"""Shared fixtures for the Emarsys connector tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from connectors.emarsys import EmarsysClient, OAuth2ClientCredentials, WsseAuth
from connectors.simulators.emarsys.app import EmarsysSimulator, create_app
from connectors.simulators.kit import RunningServer, serve

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded" / "emarsys"
BASE = "https://api.emarsys.test/api/v2"


def load(name: str) -> Any:
    """A recording from tests/fixtures/recorded/emarsys."""
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


@pytest.fixture
def client() -> EmarsysClient:
    """A WSSE client against a fake host (for `responses` tests)."""
    return EmarsysClient(BASE, auth=WsseAuth("acct001", "not-a-real-secret"))


@pytest.fixture
def sim() -> Iterator[tuple[EmarsysSimulator, RunningServer]]:
    """The simulator served on loopback with a fast clock for rate-limit windows."""
    app = create_app(time_scale=0.01)
    with serve(app) as server:
        yield app, server


@pytest.fixture
def sim_client(
    sim: tuple[EmarsysSimulator, RunningServer],
) -> Callable[..., EmarsysClient]:
    """Factory: an EmarsysClient talking to the simulator (OAuth by default)."""
    app, server = sim

    def make(scheme: str = "oauth2", **kwargs: Any) -> EmarsysClient:
        creds = app.credentials(server.url)
        if scheme == "wsse":
            auth: Any = WsseAuth(creds["wsse_username"], creds["wsse_secret"])
        else:
            auth = OAuth2ClientCredentials(
                creds["client_id"], creds["client_secret"], token_url=creds["token_url"]
            )
        return EmarsysClient(creds["base_url"], auth=auth, **kwargs)

    return make


def sim_post(server: RunningServer, path: str, body: Any) -> Any:
    """POST to a /_sim/ helper and return the decoded answer."""
    response = requests.post(f"{server.url}{path}", json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def sim_contacts(server: RunningServer) -> list[dict[str, Any]]:
    """All contacts the simulator holds, with their field values."""
    return requests.get(f"{server.url}/_sim/contacts", timeout=10).json()
