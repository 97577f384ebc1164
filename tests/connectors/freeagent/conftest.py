"""Shared fixtures: the FreeAgent recordings and a simulator served over real HTTP."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from connectors.simulators.freeagent.app import FreeAgentSimulator, create_app
from connectors.simulators.kit import Faults, RunningServer, serve

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded" / "freeagent"


def load_recording(name: str) -> dict[str, Any]:
    """One recording from ``tests/fixtures/recorded/freeagent`` (path relative to it)."""
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def _shared() -> Iterator[tuple[FreeAgentSimulator, RunningServer]]:
    # One server for the session: stopping a simulator server takes ~0.5 s (its poll interval).
    # A 100x faster clock keeps the 60 s windows of the rate limiter test-sized.
    app = create_app(time_scale=0.01)
    with serve(app) as running:
        yield app, running


@pytest.fixture
def sim(_shared: tuple[FreeAgentSimulator, RunningServer]) -> FreeAgentSimulator:
    """The shared simulator, reset (contacts, counters, faults) for this test."""
    app = _shared[0]
    app.reset()
    app.faults = Faults()
    return app


@pytest.fixture
def server(
    sim: FreeAgentSimulator, _shared: tuple[FreeAgentSimulator, RunningServer]
) -> RunningServer:
    return _shared[1]


@pytest.fixture
def creds(sim: FreeAgentSimulator, server: RunningServer) -> dict[str, str]:
    return sim.credentials(server.url)
