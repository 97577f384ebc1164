"""/healthz: 200 when the database and the broker answer, 503 naming the one that does not."""

from __future__ import annotations

import os

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


@override_settings(ALLOWED_HOSTS=["sync.example.com"], SECURE_SSL_REDIRECT=True)
def test_healthy_without_host_check_or_https_redirect() -> None:
    # The container's probe asks for 127.0.0.1 over plain http.
    answer = Client().get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert answer.status_code == 200
    assert answer.json() == {"database": "ok", "broker": "ok"}


@pytest.mark.redis
def test_a_real_redis_broker_is_reached() -> None:
    with override_settings(CELERY_BROKER_URL=os.environ["REDIS_URL"]):
        answer = Client().get("/healthz")
    assert answer.status_code == 200
    assert answer.json()["broker"] == "ok"


def test_a_broker_that_does_not_answer_is_503() -> None:
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        answer = Client().get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("broker unavailable")
    assert "127.0.0.1" not in str(body)  # names no host


def test_beat_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import timedelta

    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from syncapp import health

    assert "not dispatched" in health.beat_problem()
    every = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(
        name=health.BEAT_PROBE_TASK, task="profiles.reclaim_stale_claims", interval=every
    )
    task.last_run_at = timezone.now() - timedelta(minutes=30)
    task.save()
    assert "30 minute(s) ago" in health.beat_problem()
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now())
    assert health.beat_problem() == ""
