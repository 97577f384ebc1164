"""Settings from the environment: blank is unset, bad values are one clear line."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from syncapp.settings import envvars
from tests.deploy.envfile import example_env

REPO = Path(__file__).resolve().parents[2]


def test_blank_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("A_TEXT", "A_FLAG", "AN_INT", "SOME_ITEMS", "A_DB", "A_BROKER"):
        monkeypatch.setenv(name, "  ")
    assert envvars.text("A_TEXT", "default") == "default"
    assert envvars.flag("A_FLAG", True) is True
    assert envvars.integer("AN_INT", 7) == 7
    assert envvars.items("SOME_ITEMS", ["x"]) == ["x"]
    assert envvars.database("A_DB", "sqlite:////tmp/x.sqlite3")["NAME"] == "/tmp/x.sqlite3"
    assert envvars.broker_url("A_BROKER", "redis://cache:6379/0") == "redis://cache:6379/0"


def test_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_FLAG", "yes")
    monkeypatch.setenv("AN_INT", "12")
    monkeypatch.setenv("SOME_ITEMS", "a, b,,c ")
    assert envvars.flag("A_FLAG") is True
    assert envvars.integer("AN_INT", 0) == 12
    assert envvars.items("SOME_ITEMS") == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("name", "value", "reader", "needle"),
    [
        ("A_FLAG", "maybe", lambda: envvars.flag("A_FLAG"), "not a yes/no value"),
        ("AN_INT", "ten", lambda: envvars.integer("AN_INT", 0), "not a whole number"),
        ("A_BROKER", "amqp://", lambda: envvars.broker_url("A_BROKER", ""), "names no host"),
        ("A_BROKER", "localhost:6379", lambda: envvars.broker_url("A_BROKER", ""), "not a broker"),
    ],
)
def test_bad_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, reader, needle: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured) as caught:
        reader()
    assert name in str(caught.value)
    assert needle in str(caught.value)


def test_local_brokers_need_no_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("A_BROKER", "filesystem://")
    assert envvars.broker_url("A_BROKER", "") == "filesystem://"


def _example_env(**overrides: str) -> dict[str, str]:
    """The process environment a container gets from `cp .env.example .env`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    for k in ("DATABASE_URL", "REDIS_URL", "CONTACT_SYNC_VAR_DIR", "LOG_DIR"):
        env.pop(k, None)
    env.update(example_env())
    env.update(overrides)
    return env


def _settings(env: dict[str, str], *names: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='syncapp.settings.base';"
        "from django.conf import settings;" + "".join(f"print(repr(settings.{n}));" for n in names)
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True
    )


PRODUCTION = {
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # made for the run, never stored
    "FIELD_ENCRYPTION_KEY": Fernet.generate_key().decode(),
    "PUBLIC_BASE_URL": "https://sync.example.com",
    "ALLOWED_HOSTS": "sync.example.com",
    "DATABASE_URL": "postgres://contactsync:contactsync@postgres:5432/contactsync",
    "REDIS_URL": "redis://redis:6379/0",
}


def test_the_example_env_file_as_compose_passes_it() -> None:
    done = _settings(
        _example_env(**PRODUCTION), "CELERY_BROKER_URL", "VAR_DIR", "LOG_DIR", "STATIC_ROOT"
    )
    assert done.returncode == 0, done.stderr
    broker, var, log, static = done.stdout.splitlines()
    assert broker == "'redis://redis:6379/0'"  # the blank CELERY_BROKER_URL= is unset
    assert f"{REPO / 'var'}" in var  # not "."
    assert f"{REPO / 'var' / 'log'}" in log
    assert f"{REPO / 'var' / 'static'}" in static


@pytest.mark.parametrize(
    ("missing", "needle"),
    [
        ("DJANGO_SECRET_KEY", "DJANGO_SECRET_KEY is not set"),
        ("FIELD_ENCRYPTION_KEY", "FIELD_ENCRYPTION_KEY is not set"),
        ("PUBLIC_BASE_URL", "PUBLIC_BASE_URL is not set"),
    ],
)
def test_a_missing_required_setting_is_one_line(missing: str, needle: str) -> None:
    env = _example_env(**{**PRODUCTION, missing: ""})
    done = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("manage.py: configuration error: ")
    assert needle in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_check_deploy_is_clean_with_the_documented_production_settings() -> None:
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO,
        env=_example_env(**PRODUCTION),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout
