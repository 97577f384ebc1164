"""Schema calls (fields, field creation, choices) are retried like contact writes: one
transient error never defers a batch."""

from __future__ import annotations

import pytest

from connectors.emarsys.client import EmarsysClient
from connectors.errors import TransientError
from profiles.services import runs

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("call", ["list_fields", "create_field"])
def test_one_503_on_a_schema_call_does_not_defer_the_batch(env, monkeypatch, call):
    env.customer(email="s@example.com", firstname="S", lastname="C")
    original = getattr(EmarsysClient, call)
    failed: list[str] = []

    def flaky(self, *args, **kwargs):
        if not failed:
            failed.append(call)
            raise TransientError("emarsys: Service Unavailable", status=503)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EmarsysClient, call, flaky)
    env.tick()
    run = runs.run_start(profile=env.profile, foreground=True)

    assert failed == [call]
    assert (run.created, run.retried, run.failed) == (1, 0, 0), run.summary
