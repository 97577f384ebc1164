"""The Celery application: JSON only, explicit task names, beat on the database scheduler."""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery, signals

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
        "alerts-evaluate": {
            "task": "profiles.alerts_evaluate",
            "schedule": 300.0,
        },
        "magento-deletions": {
            "task": "contacts.magento_deletions",
            "schedule": 24 * 3600.0,
        },
        "history-purge": {
            "task": "profiles.purge_history",
            "schedule": 24 * 3600.0,
        },
    },
)
app.autodiscover_tasks()


_folders_made = False


@signals.celeryd_init.connect
@signals.beat_init.connect
@signals.before_task_publish.connect
def _ensure_broker_folders(**kwargs: object) -> None:
    """The filesystem broker (embedded default) needs its folders to exist — in workers,
    in beat and in any process that queues a task (the CLI, ``simulate --demo-config``)."""
    global _folders_made
    if _folders_made:
        return
    from django.conf import settings

    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
        if folder:
            Path(str(folder)).mkdir(parents=True, exist_ok=True)
    _folders_made = True


@signals.task_postrun.connect
def _fresh_connections_after_failure(state: str | None = None, **kwargs: object) -> None:
    """A task that did not succeed (a soft time limit mid-query, any exception) may have
    left its database connection half-way: the next task must not inherit it."""
    if state not in (None, "SUCCESS"):
        from profiles.services.database import connections_reset

        connections_reset()
