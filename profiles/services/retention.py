"""History retention: runs, their log lines and delivery attempts don't grow without bound."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.apps import apps
from django.conf import settings
from django.utils import timezone

from profiles.models import ACTIVE_RUN_STATUSES, Run


@dataclass
class Purged:
    runs: int = 0
    attempts: int = 0


def history_purge(*, older_than_days: int | None = None) -> Purged:
    """Delete finished runs (with their events) and delivery attempts older than the
    retention period (``HISTORY_RETENTION_DAYS``). Active runs are never touched, and
    nothing about a contact's current state is lost: it lives on the contact entity."""
    days = settings.HISTORY_RETENTION_DAYS if older_than_days is None else older_than_days
    cutoff = timezone.now() - timedelta(days=days)
    result = Purged()
    old_runs = Run.objects.filter(created_at__lt=cutoff).exclude(status__in=ACTIVE_RUN_STATUSES)
    result.runs = old_runs.count()
    old_runs.delete()
    if apps.is_installed("contacts"):
        attempt = apps.get_model("contacts", "DeliveryAttempt")
        result.attempts, _ = attempt.objects.filter(created_at__lt=cutoff).delete()
    return result
