"""Runs in a child process for test_refresh_race (importable, so ``spawn`` can find it)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from connectors.freeagent.auth import FreeAgentOAuth, TokenManager, TokenState
from connectors.freeagent.client import FreeAgentClient


def file_store(path: Path) -> tuple[Any, Any]:
    """A token "database": a JSON file replaced atomically."""

    def load() -> TokenState:
        return TokenState.from_dict(json.loads(path.read_text()))

    def save(token: TokenState) -> None:
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(token.as_dict()))
        os.replace(tmp, path)

    return load, save


def worker(
    creds: dict[str, str],
    store: str,
    lock_dir: str,
    redis_url: str | None,
    barrier: Any,
    results: Any,
) -> None:
    """Hold the stored token, wait for the sibling, then make one API call."""
    try:
        load, save = file_store(Path(store))
        tokens = TokenManager(
            FreeAgentOAuth(creds["client_id"], creds["client_secret"], base_url=creds["base_url"]),
            load=load,
            save=save,
            lock_name=f"race-test:{store}",
            redis_url=redis_url,
            lock_dir=lock_dir,
        )
        held = tokens.current()
        barrier.wait(30)
        company = FreeAgentClient(creds["base_url"], tokens=tokens).get_company()
        results.put(
            {
                "held": held.access_token,
                "access_token": tokens.current().access_token,
                "refreshed": tokens.refresh_count,
                "company_id": company["id"],
            }
        )
    except Exception as exc:  # report to the parent instead of dying silently
        results.put({"error": repr(exc)})
