"""The Celery application: JSON only, explicit task names, beat on the database scheduler."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncapp.settings.base")

app = Celery("contactsync")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    task_acks_late=False,  # opted into per task, only where the task is idempotent
    task_reject_on_worker_lost=False,
    beat_scheduler="django_celery_beat.schedulers:DatabaseScheduler",
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
    beat_schedule={
        "pipeline-reclaim-stale-claims": {
            "task": "profiles.reclaim_stale_claims",
            "schedule": 60.0,
        },
    },
)
app.autodiscover_tasks()
