"""N workers holding an expired token → exactly one refresh (real processes, real HTTP)."""

from __future__ import annotations

import json
import multiprocessing
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from connectors.freeagent.auth import TokenState
from connectors.simulators.freeagent.app import FreeAgentSimulator

from ._race_worker import worker

CTX = multiprocessing.get_context("spawn")
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
WORKERS = 3


def race(
    sim: FreeAgentSimulator,
    creds: dict[str, str],
    tmp_path: Path,
    *,
    redis_url: str | None,
    locally_expired: bool,
) -> tuple[list[dict[str, Any]], TokenState]:
    store = tmp_path / f"token-{uuid.uuid4().hex}.json"
    # Either the workers' clocks say the token is expired (proactive refresh) or it looks
    # fresh but the server has revoked it (refresh on 401).
    expires_at = 0.0 if locally_expired else float(creds["expires_at"])
    store.write_text(
        json.dumps(TokenState(creds["access_token"], creds["refresh_token"], expires_at).as_dict())
    )
    sim.expire_tokens()
    barrier, results = CTX.Barrier(WORKERS), CTX.Queue()
    procs = [
        CTX.Process(
            target=worker, args=(creds, str(store), str(tmp_path), redis_url, barrier, results)
        )
        for _ in range(WORKERS)
    ]
    for proc in procs:
        proc.start()
    outcomes = [results.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(30)
    return outcomes, TokenState.from_dict(json.loads(store.read_text()))


def assert_one_refresh(
    sim: FreeAgentSimulator,
    creds: dict[str, str],
    outcomes: list[dict[str, Any]],
    final: TokenState,
) -> None:
    assert [o.get("error") for o in outcomes] == [None] * WORKERS
    assert sim.state()["refresh_count"] == 1
    assert sum(o["refreshed"] for o in outcomes) == 1
    assert final.access_token != creds["access_token"]
    assert final.refresh_token != creds["refresh_token"]
    for outcome in outcomes:
        assert outcome["held"] == creds["access_token"]
        assert outcome["access_token"] == final.access_token
        assert outcome["company_id"] == 10001


def test_expired_token_refreshed_once_with_file_lock(
    sim: FreeAgentSimulator, creds: dict[str, str], tmp_path: Path
) -> None:
    outcomes, final = race(sim, creds, tmp_path, redis_url=None, locally_expired=True)
    assert_one_refresh(sim, creds, outcomes, final)


def test_revoked_token_refreshed_once_on_401_with_file_lock(
    sim: FreeAgentSimulator, creds: dict[str, str], tmp_path: Path
) -> None:
    outcomes, final = race(sim, creds, tmp_path, redis_url=None, locally_expired=False)
    assert_one_refresh(sim, creds, outcomes, final)
    unauthorised = [r for r in sim.request_log if r["status"] == 401]
    assert len(unauthorised) == WORKERS  # each worker met the 401, only one refreshed


@pytest.mark.redis
def test_expired_token_refreshed_once_with_redis_lock(
    sim: FreeAgentSimulator, creds: dict[str, str], tmp_path: Path
) -> None:
    outcomes, final = race(sim, creds, tmp_path, redis_url=REDIS_URL, locally_expired=True)
    assert_one_refresh(sim, creds, outcomes, final)
