"""Health: is the database answering, is the broker reachable, is beat dispatching.

``/healthz`` (no login; it names no host, URL or secret) answers 200 when the database and
the broker both answer, else 503 with which one did not. The compose healthchecks call it
for web, ``celery inspect ping`` for a worker, and ``manage.py healthcheck beat`` for beat.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone

# The beat entry that runs every minute; beat records when it last sent it.
BEAT_PROBE_TASK = "pipeline-reclaim-stale-claims"
BEAT_LATE = timedelta(minutes=10)  # django-celery-beat writes last_run_at every few minutes


def database_problem() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver's error: the answer is "not healthy"
        return f"database unavailable ({type(exc).__name__})"
    return ""


def broker_problem(timeout: int = 3) -> str:
    url = str(settings.CELERY_BROKER_URL)
    if url.startswith("filesystem://"):  # the embedded default: a folder this process writes
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in")
        try:
            if folder:
                Path(str(folder)).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return f"broker folder not writable ({type(exc).__name__})"
        return ""
    from syncapp.celery import app

    try:
        with app.connection_for_write(url) as conn:
            conn.ensure_connection(max_retries=1, timeout=timeout)
    except Exception as exc:  # kombu raises the transport's own errors
        return f"broker unavailable ({type(exc).__name__})"
    return ""


def beat_problem() -> str:
    from django.db import DatabaseError
    from django_celery_beat.models import PeriodicTask

    try:
        task = PeriodicTask.objects.filter(name=BEAT_PROBE_TASK).first()
    except DatabaseError as exc:
        return f"beat's schedule not readable ({type(exc).__name__}; migrated?)"
    if task is None or task.last_run_at is None:
        return "beat has not dispatched its minute task yet"
    late = timezone.now() - task.last_run_at
    if late > BEAT_LATE:
        return f"beat last dispatched {int(late.total_seconds() // 60)} minute(s) ago"
    return ""


def healthz(request: HttpRequest) -> JsonResponse:
    problems = {"database": database_problem(), "broker": broker_problem()}
    body = {name: problem or "ok" for name, problem in problems.items()}
    return JsonResponse(body, status=503 if any(problems.values()) else 200)


class HealthzMiddleware:
    """Answers ``/healthz`` before anything else looks at the request: the container's own
    probe (``127.0.0.1``) is not in ``ALLOWED_HOSTS`` and must not be sent to https."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/healthz":
            return healthz(request)
        return self.get_response(request)
