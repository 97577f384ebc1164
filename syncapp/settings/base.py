"""Settings shared by every environment, read from the process environment.

Every variable is listed with a comment in ``.env.example``. With nothing set the app runs on
its embedded default: SQLite under ``var/``, Celery on a filesystem broker under ``var/``.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from syncapp.settings import envvars as env

BASE_DIR = Path(__file__).resolve().parents[2]
env_file = BASE_DIR / ".env"
if env_file.exists():
    environ.Env.read_env(str(env_file))  # what the process environment sets wins
# Absolute whatever the working directory: a relative one is taken from the project.
VAR_DIR = BASE_DIR / env.text("CONTACT_SYNC_VAR_DIR", str(BASE_DIR / "var"))

DEBUG = env.flag("DJANGO_DEBUG", False)

SECRET_KEY = env.text("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY is not set. Set it (see .env.example), or set DJANGO_DEBUG=1 "
            "for a local development default."
        )
    SECRET_KEY = "dev-only-insecure-secret-key-do-not-use-in-production"
elif SECRET_KEY.startswith("change-me") and not DEBUG:
    raise ImproperlyConfigured(
        "DJANGO_SECRET_KEY is still the placeholder of .env.example. Generate one: "
        "python -c 'import secrets; print(secrets.token_urlsafe(50))'"
    )

ALLOWED_HOSTS = env.items("ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.items("CSRF_TRUSTED_ORIGINS")
# The public address of this app (e.g. https://sync.example.com): OAuth redirect URIs are
# built from it, so they match what is registered whatever proxy is in front. Required in
# production: without it "Connect to FreeAgent" would send people to a host guessed from
# the request (the proxy's, an internal name).
PUBLIC_BASE_URL = env.text("PUBLIC_BASE_URL").rstrip("/")
# /metrics (Prometheus): a scraper sends "Authorization: Bearer $METRICS_TOKEN", or scrapes
# from an address of METRICS_ALLOW (addresses or networks, comma-separated).
METRICS_TOKEN = env.text("METRICS_TOKEN")
# Alerts go out by e-mail through Django's mail settings (and a profile's webhook).
EMAIL_BACKEND = env.text(
    "EMAIL_BACKEND",
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend",
)
EMAIL_HOST = env.text("EMAIL_HOST", "localhost")
EMAIL_PORT = env.integer("EMAIL_PORT", 25)
EMAIL_HOST_USER = env.text("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env.text("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env.flag("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env.text("DEFAULT_FROM_EMAIL", "contact-sync@localhost")
METRICS_ALLOW = env.text("METRICS_ALLOW", "127.0.0.1,::1")
if not PUBLIC_BASE_URL and not DEBUG:
    raise ImproperlyConfigured(
        "PUBLIC_BASE_URL is not set. Set it to the address people open the app at "
        "(e.g. https://sync.example.com); OAuth redirect URIs are built from it."
    )
if PUBLIC_BASE_URL and not PUBLIC_BASE_URL.startswith(("http://", "https://")):
    raise ImproperlyConfigured(f"PUBLIC_BASE_URL={PUBLIC_BASE_URL!r} must start with https://.")

# --- HTTPS (behind a TLS-terminating proxy set DJANGO_BEHIND_TLS_PROXY=1) -------------------
if env.flag("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.flag("DJANGO_SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = env.flag("DJANGO_SECURE_COOKIES", not DEBUG and SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.integer("DJANGO_SECURE_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = env.flag("DJANGO_SECURE_HSTS_PRELOAD", False)
# Joining the browsers' preload list is the merchant's decision, not a missing setting.
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_celery_beat",
    "profiles",
    "contacts",
]

MIDDLEWARE = [
    "syncapp.health.HealthzMiddleware",  # the probe: no host check, no https redirect
    "profiles.metrics.MetricsMiddleware",  # the scrape: the same, but token or allow-list
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "syncapp.urls"
WSGI_APPLICATION = "syncapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.database("DATABASE_URL", f"sqlite:///{VAR_DIR / 'contactsync.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + a busy timeout let the web process and the worker share the file.
    DATABASES["default"].setdefault("OPTIONS", {})
    DATABASES["default"]["OPTIONS"].update(
        {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;", "transaction_mode": "IMMEDIATE"}
    )
DATABASES["default"]["CONN_MAX_AGE"] = env.integer("DATABASE_CONN_MAX_AGE", 0)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.text("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (demo, tests) serve straight from the apps' static folders.
WHITENOISE_USE_FINDERS = True

# --- Field encryption (client credentials and tokens) ---------------------------------------
FIELD_ENCRYPTION_KEY = env.text("FIELD_ENCRYPTION_KEY")
if not FIELD_ENCRYPTION_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set. Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`."
        )
    # Development only: derived from the (development) secret key, so it is stable.
    FIELD_ENCRYPTION_KEY = base64.urlsafe_b64encode(
        hashlib.sha256(f"field-encryption:{SECRET_KEY}".encode()).digest()
    ).decode()

# --- Cache (webhook replay protection; shared by every process) -----------------------------
REDIS_URL = env.text("REDIS_URL")
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
        if REDIS_URL
        else {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    )
}

# --- Celery ----------------------------------------------------------------------------------
CELERY_BROKER_URL = env.broker_url("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
BROKER_DIR = VAR_DIR / "broker"
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(BROKER_DIR / "queue"),
        "data_folder_out": str(BROKER_DIR / "queue"),
        "processed_folder": str(BROKER_DIR / "processed"),
        "control_folder": str(BROKER_DIR / "control"),
        "store_processed": False,
    }
else:
    # Keep retry countdowns well under the visibility timeout, or Redis redelivers them.
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_ALWAYS_EAGER = env.flag("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_DEFAULT_QUEUE = env.text("CELERY_TASK_DEFAULT_QUEUE", "contactsync")

# --- Pipeline --------------------------------------------------------------------------------
# Claims older than this are taken to belong to a dead worker and are handed out again.
PIPELINE_STALE_CLAIM_SECONDS = env.integer("PIPELINE_STALE_CLAIM_SECONDS", 900)
# Finished runs, their log lines and delivery attempts older than this are deleted daily.
HISTORY_RETENTION_DAYS = env.integer("HISTORY_RETENTION_DAYS", 30)
# Extra modules that register profile types (the test suite adds its own).
PROFILE_TYPE_MODULES = env.items("PROFILE_TYPE_MODULES")
# Task soft/hard time limits (seconds).
CELERY_TASK_SOFT_TIME_LIMIT = env.integer("CELERY_TASK_SOFT_TIME_LIMIT", 540)
CELERY_TASK_TIME_LIMIT = env.integer("CELERY_TASK_TIME_LIMIT", 600)

# --- Logging ---------------------------------------------------------------------------------
LOG_DIR = BASE_DIR / env.text("LOG_DIR", str(VAR_DIR / "log"))
LOG_LEVEL = env.text("LOG_LEVEL", "INFO").upper()


def _file_handler(relative: str) -> dict[str, object]:
    return {
        "class": "syncapp.logging.LazyRotatingFileHandler",
        "filename": str(LOG_DIR / relative),
        "maxBytes": 10 * 1024 * 1024,
        "backupCount": 5,
        "formatter": "line",
    }


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "line": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "line"},
        "freeagent_contact": _file_handler("freeagent/contact.log"),
        "emarsys_contact": _file_handler("emarsys/contact.log"),
        "app": _file_handler("contactsync.log"),
    },
    "root": {"handlers": ["console", "app"], "level": LOG_LEVEL},
    "loggers": {
        "contactsync.freeagent_contact_export": {
            "handlers": ["freeagent_contact"],
            "level": LOG_LEVEL,
        },
        "contactsync.emarsys_contact_sync": {"handlers": ["emarsys_contact"], "level": LOG_LEVEL},
        "django": {"level": "INFO"},
        "urllib3": {"level": "WARNING"},
    },
}
