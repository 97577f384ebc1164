"""Test settings: base settings with safe defaults for the test run."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_DEBUG", "1")
os.environ.setdefault("CONTACT_SYNC_VAR_DIR", os.path.join(os.getcwd(), "var", "test"))

from .base import *  # noqa: F403
from .base import LOGGING, STATIC_ROOT, env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = env.flag("CELERY_TASK_ALWAYS_EAGER", True)
CELERY_TASK_EAGER_PROPAGATES = True
LOGGING["root"] = {"handlers": ["console"], "level": "WARNING"}
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # WhiteNoise warns about a missing one
# Per process and cleared for every test (tests/conftest.py): no state between tests.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The test-only profile type that proves the pipeline framework.
PROFILE_TYPE_MODULES = [*env.items("PROFILE_TYPE_MODULES"), "tests.pipeline_types"]
