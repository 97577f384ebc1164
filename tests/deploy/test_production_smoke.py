"""The compose topology without Docker: web, worker and beat as docker-compose.yml runs
them (its commands and environment, read from the file so they cannot drift), with
DJANGO_DEBUG=0, the documented production settings, PostgreSQL and Redis.

Checked: /healthz, the admin login page and its CSS (WhiteNoise), *Export now* posted over
HTTP finishing through the worker against the simulators, beat firing a due schedule, and
SIGTERM leaving no process behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask
from prometheus_client.parser import text_string_to_metric_families

from connectors.simulators.serve import start_simulators
from profiles.models import Client, Profile, Run, RunStatus, RunTrigger
from profiles.services.config import config_load
from profiles.services.demo import demo_config
from tests.deploy.envfile import example_env
from tests.processes import session_leftovers

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
BIN = Path(sys.executable).parent
FINISHED = (RunStatus.SUCCESS, RunStatus.PARTIAL, RunStatus.FAILED)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _database_url() -> str:
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    host = f"{s.get('HOST') or '127.0.0.1'}:{s.get('PORT') or 5432}"
    return f"postgres://{user}{password}@{host}/{s['NAME']}"


def _service_env(service: str, var: Path, port: int, queue: str) -> dict[str, str]:
    """What compose gives the service: the env_file, then its environment (compose's
    order), with the compose network's host names pointed at this machine's servers."""
    spec = COMPOSE["services"][service]
    assert spec["env_file"] == ".env"
    compose_env = {k: str(v) for k, v in spec.get("environment", {}).items()}
    assert "@postgres:5432/" in compose_env["DATABASE_URL"]
    assert compose_env["REDIS_URL"].startswith("redis://redis:6379/")
    env = {
        k: v
        for k, v in os.environ.items()
        if k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    }
    env.update(example_env())
    env.update(
        # The four required values (README, Production step 1), made for this run.
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEY=django_settings.FIELD_ENCRYPTION_KEY,  # what this test stored with
        ALLOWED_HOSTS="127.0.0.1",
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        # The documented trial on plain http (no TLS proxy in front of this test).
        DJANGO_SECURE_SSL_REDIRECT="0",
        DJANGO_SECURE_HSTS_SECONDS="0",
        CELERY_TASK_DEFAULT_QUEUE=queue,
        CONTACT_SYNC_VAR_DIR=str(var),
        # /metrics for a Prometheus that scrapes with a token (loopback not allow-listed).
        METRICS_TOKEN=METRICS_TOKEN,
        METRICS_ALLOW="192.0.2.0/24",
        PYTHONUNBUFFERED="1",
    )
    env.update(compose_env)
    env["DATABASE_URL"] = _database_url()
    env["REDIS_URL"] = os.environ["REDIS_URL"]
    env["DJANGO_DEBUG"] = "0"
    return env


METRICS_TOKEN = secrets.token_urlsafe(24)


def _command(service: str, port: int) -> list[str]:
    command = COMPOSE["services"][service]["command"]
    argv = command.split() if isinstance(command, str) else [str(c) for c in command]
    if argv[0] in ("gunicorn", "celery"):
        argv[0] = str(BIN / argv[0])
    elif argv[0] == "python":
        argv[0] = sys.executable
    if "--bind" in argv:  # loopback here, on a free port
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    return argv


class Topology:
    def __init__(self, var: Path, port: int, queue: str) -> None:
        self.var, self.port, self.queue = var, port, queue
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.logs: dict[str, Path] = {}

    def run(self, service: str, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        """A one-shot command in a service's environment (migrate, collectstatic)."""
        return subprocess.run(
            [sys.executable, "manage.py", *extra],
            cwd=REPO,
            env={**_service_env(service, self.var, self.port, self.queue), **env},
            capture_output=True,
            text=True,
            timeout=300,
        )

    def start(self, service: str) -> None:
        log = self.var / f"{service}.out"
        self.logs[service] = log
        self.procs[service] = subprocess.Popen(
            _command(service, self.port),
            cwd=REPO,
            env=_service_env(service, self.var, self.port, self.queue),
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def tail(self) -> str:
        return "\n".join(
            f"--- {name}\n" + path.read_text(errors="replace")[-3000:]
            for name, path in self.logs.items()
            if path.exists()
        )

    def stop(self) -> dict[str, str]:
        """SIGTERM each service, as docker stop does; what is still running after."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=40)
        left = {}
        for name, proc in self.procs.items():
            out = session_leftovers(proc.pid)
            if out:
                left[name] = out
                os.killpg(proc.pid, signal.SIGKILL)
        return left


def _wait(what: str, check: Callable[[], Any], timeout: float, topology: Topology) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, proc in topology.procs.items():
            assert proc.poll() is None, f"{name} exited with {proc.returncode}\n{topology.tail()}"
        value = check()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}\n{topology.tail()}")


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    var = tmp_path / "var"
    (var / "log").mkdir(parents=True)
    yield (made := Topology(var, _free_port(), f"smoke-{uuid.uuid4().hex[:8]}"))
    made.stop()


def _scrape(base: str) -> dict[str, Any]:
    scraped = requests.get(
        f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}, timeout=10
    )
    assert scraped.status_code == 200, scraped.text[:500]
    return {f.name: f for f in text_string_to_metric_families(scraped.text)}


def _freeagent_posts(families: dict[str, Any]) -> float:
    return sum(
        s.value
        for s in families["contactsync_api_requests"].samples
        if s.labels.get("service") == "freeagent" and s.labels.get("method") == "POST"
    )


def test_compose_services_as_processes(topology: Topology) -> None:
    # The image's build step and the one-shot migrate service.
    built = topology.run("web", "collectstatic", "--noinput", "-v0")
    assert built.returncode == 0, built.stderr
    migrated = topology.run("migrate", "migrate", "--noinput")
    assert migrated.returncode == 0, migrated.stderr

    sims = start_simulators(
        magento_port=0, freeagent_port=0, emarsys_port=0, seed_customers=12, time_scale=0.01
    )
    try:
        config = demo_config(sims.describe())
        for client in config["clients"]:
            client["rate_limit"] = {"per_minute": 10**6, "per_hour": 10**7}
        config["profiles"] = [
            {**p, "status": False}
            for p in config["profiles"]
            if p["type"] == "freeagent_contact_export"
        ]
        config_load(config)
        profile = Profile.objects.get(type="freeagent_contact_export")
        assert Client.objects.count() >= 2
        # README, Production step 3 (as `docker compose run --rm web` runs it).
        password = secrets.token_urlsafe(16)
        made = topology.run(
            "web",
            "createsuperuser",
            "--noinput",
            "--username",
            "smoke",
            "--email",
            "smoke@example.com",
            DJANGO_SUPERUSER_PASSWORD=password,
        )
        assert made.returncode == 0, made.stderr
        assert get_user_model().objects.filter(username="smoke", is_superuser=True).exists()

        for service in ("web", "worker", "beat"):
            topology.start(service)
        base = f"http://127.0.0.1:{topology.port}"

        def healthz() -> requests.Response | None:
            try:
                answer = requests.get(f"{base}/healthz", timeout=5)
            except (requests.ConnectionError, requests.Timeout):
                return None
            return answer if answer.status_code == 200 else None

        health = _wait("/healthz 200", healthz, 60, topology)
        assert health.json() == {"database": "ok", "broker": "ok"}

        browser = requests.Session()
        login = browser.get(f"{base}/admin/login/", timeout=10)
        assert login.status_code == 200
        css = re.search(r'href="(/static/[^"]+\.css)"', login.text)
        assert css, "the login page links no stylesheet"
        sheet = browser.get(base + css.group(1), timeout=10)
        assert sheet.status_code == 200
        assert "text/css" in sheet.headers["Content-Type"]
        token = browser.cookies["csrftoken"]
        signed_in = browser.post(
            f"{base}/admin/login/?next=/admin/",
            data={"username": "smoke", "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{base}/admin/login/"},
            timeout=10,
        )
        assert signed_in.status_code == 200
        assert "Log out" in signed_in.text or "logout" in signed_in.text

        posts_before = _freeagent_posts(_scrape(base))

        # Export now, over HTTP, through the broker to the worker and on to FreeAgent.
        page = f"{base}/admin/profiles/profile/{profile.pk}/change/"
        clicked = browser.post(
            f"{base}/admin/profiles/profile/{profile.pk}/export-now/",
            data={"csrfmiddlewaretoken": browser.cookies["csrftoken"]},
            headers={"Referer": page},
            timeout=10,
        )
        assert clicked.status_code == 200, clicked.text[:500]
        run = _wait(
            "the Export now run to finish",
            lambda: Run.objects.filter(
                profile=profile, trigger=RunTrigger.BUTTON, status__in=FINISHED
            ).first(),
            120,
            topology,
        )
        assert run.created > 0, (run.status, run.failed, topology.tail())
        posts = [r for r in sims.freeagent.app.request_log if r["method"] == "POST"]
        assert len(posts) >= run.created

        # /metrics on the web process counts the worker's requests (through Redis; the
        # counters are cumulative, so what this run added is compared).
        assert requests.get(f"{base}/metrics", timeout=10).status_code == 403
        families = _scrape(base)
        assert _freeagent_posts(families) - posts_before == len(posts)
        assert any(
            s.labels.get("trigger") == "button" for s in families["contactsync_runs"].samples
        )

        # Beat fires a due schedule: the merchant enables the profile's schedule (over
        # HTTP, as the button does), and its entry is made due every 2 s.
        enabled = browser.post(
            f"{base}/admin/profiles/profile/{profile.pk}/schedule/",
            data={"csrfmiddlewaretoken": browser.cookies["csrftoken"], "enabled": "1"},
            headers={"Referer": page},
            timeout=10,
        )
        assert enabled.status_code == 200
        profile.refresh_from_db()
        assert profile.status is True
        every = IntervalSchedule.objects.create(every=2, period=IntervalSchedule.SECONDS)
        entry = PeriodicTask.objects.get(pk=profile.schedule_id)
        entry.crontab = None
        entry.interval = every
        entry.enabled = True
        entry.save()
        _wait(
            "beat to run the profile on its schedule",
            lambda: Run.objects.filter(profile=profile, trigger=RunTrigger.SCHEDULE).exists(),
            90,
            topology,
        )
    finally:
        left = topology.stop()
        sims.stop()
    assert left == {}, f"still running after SIGTERM: {left}"
