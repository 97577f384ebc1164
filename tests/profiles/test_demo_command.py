"""`make demo` run twice: the second says where the first is and changes nothing."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.processes import session_leftovers

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]


def _free_ports(n: int) -> list[int]:
    """n consecutive free loopback ports (the simulators take three in a row)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first = probe.getsockname()[1]
        if first + n > 65535:
            continue
        socks = []
        try:
            for port in range(first, first + n):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                socks.append(s)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
        return list(range(first, first + n))
    raise RuntimeError("no free ports")


def _env(var: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        DJANGO_DEBUG="1",
        DJANGO_SETTINGS_MODULE="syncapp.settings.base",
        CONTACT_SYNC_VAR_DIR=str(var),
        CELERY_BROKER_URL="",  # blank is unset: the embedded filesystem broker
        PYTHONUNBUFFERED="1",
    )
    return env


def _demo(var: Path, port: int, sim: int) -> list[str]:
    return [
        sys.executable,
        "manage.py",
        "demo",
        "--port",
        str(port),
        "--sim-ports",
        str(sim),
        "--seed-customers",
        "5",
    ]


def _demo_once(var: Path, port: int, sim: int) -> subprocess.CompletedProcess[str]:
    """A demo that is expected to answer and exit at once (refused or already running)."""
    return subprocess.run(
        _demo(var, port, sim), cwd=REPO, env=_env(var), capture_output=True, text=True, timeout=60
    )


def _password_hash(var: Path) -> str:
    with sqlite3.connect(var / "contactsync.sqlite3") as db:
        (row,) = db.execute("SELECT password FROM auth_user WHERE username='admin'").fetchall()
    return str(row[0])


def test_a_second_demo_changes_nothing_and_ports_are_options(tmp_path: Path) -> None:
    var = tmp_path / "var"
    port, *sims = _free_ports(4)
    children: list[str] = []  # the demo's simulators, web and worker (their own sessions)
    first = subprocess.Popen(
        _demo(var, port, sims[0]),
        cwd=REPO,
        env=_env(var),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert first.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = first.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "Press Ctrl-C" in line:
                break
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}/admin/" in text, text
        sims_file = var / "simulators.json"
        assert sims_file.exists()
        assert f":{sims[1]}" in sims_file.read_text()  # FreeAgent on the second port
        before = _password_hash(var)

        second = _demo_once(var, port, sims[0])
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stdout
        assert f"http://127.0.0.1:{port}/admin/" in second.stdout
        assert f"kill {first.pid}" in second.stdout
        assert _password_hash(var) == before  # nobody logged out
        assert sims_file.exists()
        assert first.poll() is None

        # Another checkout (its own var) on ports in use: refused before anything starts.
        other = tmp_path / "other"
        third = _demo_once(other, port, sims[0])
        assert third.returncode == 2
        assert f"{port}" in third.stderr
        assert "PORT=" in third.stderr
        assert not (other / "contactsync.sqlite3").exists()
        children[:] = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(first.pid)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split()
        assert len(children) == 3  # simulators, web, worker
    finally:
        first.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        first.send_signal(signal.SIGTERM)  # impatient: asked twice, still nothing is left
        try:
            first.wait(timeout=40)
        except subprocess.TimeoutExpired:
            os.killpg(first.pid, signal.SIGKILL)
            raise
    assert first.returncode == 0
    assert not (var / "demo.json").exists()
    # Nothing of the demo is left behind (its worker's children take a moment to exit).
    leftover = "".join(session_leftovers(pid) for pid in [first.pid, *map(int, children)])
    assert leftover == ""


@pytest.mark.django_db
def test_a_later_demo_start_keeps_the_admin_password() -> None:
    from django.contrib.auth import get_user_model

    from profiles.management.commands.demo import Command

    username, first = Command()._admin_user()
    user = get_user_model().objects.get(username=username)
    assert user.check_password(first)
    _, again = Command()._admin_user()
    user.refresh_from_db()
    assert user.check_password(first)  # unchanged: nobody is logged out
    assert "changepassword" in again
