"""Shared fixtures: the Magento recordings and a seeded simulator served over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connectors.magento.client import MagentoClient
from connectors.simulators.kit import RunningServer, serve
from connectors.simulators.magento.app import MagentoSimulator, create_app


@pytest.fixture
def sim() -> MagentoSimulator:
    return create_app(seed_customers=40, time_scale=0.01)


@pytest.fixture
def server(sim: MagentoSimulator) -> Iterator[RunningServer]:
    with serve(sim) as running:
        yield running


@pytest.fixture
def creds(sim: MagentoSimulator, server: RunningServer) -> dict[str, str]:
    return sim.credentials(server.url)


@pytest.fixture
def client(creds: dict[str, str]) -> MagentoClient:
    return MagentoClient.from_credentials(creds, timeout=(2.0, 10.0))
