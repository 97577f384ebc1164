"""Contact Sync project package: settings, Celery app, URLs, WSGI. No business logic."""

from .celery import app as celery_app

__all__ = ["celery_app"]
