"""`python manage.py demo` — the product on its embedded default, in one command.

Migrates the SQLite database, creates an admin user at the first start and prints its
password (later starts keep it),
then runs the web server and a Celery worker with embedded beat (filesystem broker) — and,
when the simulators are available, the API simulators with a seeded store — until Ctrl-C.
A second demo of the same checkout (var/demo.json names the running one) says where the
first is and changes nothing; a port in use is refused before anything starts.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

DEMO_TIME_SCALE = 0.1


class Command(BaseCommand):
    help = "Run Contact Sync locally: web + worker with beat (+ simulators), until Ctrl-C."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--sim-ports",
            type=int,
            default=8801,
            help="The first of the simulators' three ports (Magento, FreeAgent, Emarsys).",
        )
        parser.add_argument("--seed-customers", type=int, default=300)
        parser.add_argument(
            "--no-simulators", action="store_true", help="Do not start the API simulators."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"]
        if host not in ("127.0.0.1", "localhost", "::1"):
            self.stderr.write("The demo binds loopback only.")
            sys.exit(2)
        Path(settings.VAR_DIR).mkdir(parents=True, exist_ok=True)
        running = _running_demo()
        if running:
            self.stdout.write(
                f"The demo is already running at {running['url']} (process {running['pid']}).\n"
                f"Stop it with Ctrl-C in its terminal, or: kill {running['pid']}\n"
                "Nothing was changed."
            )
            return
        with_simulators = not options["no_simulators"] and self._simulate_available()
        sim_ports = [options["sim_ports"] + i for i in range(3)] if with_simulators else []
        busy = [p for p in [options["port"], *sim_ports] if not _port_free(host, p)]
        if busy:
            self.stderr.write(
                f"Port(s) {', '.join(map(str, busy))} on {host} are in use by another program. "
                "Choose others: make demo PORT=8010 SIM_PORTS=8811"
            )
            sys.exit(2)
        Path(settings.LOG_DIR).mkdir(parents=True, exist_ok=True)
        for key in ("data_folder_in", "processed_folder", "control_folder"):
            folder = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get(key)
            if folder:
                Path(str(folder)).mkdir(parents=True, exist_ok=True)
        (Path(settings.VAR_DIR) / "simulators.json").unlink(missing_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        username, password = self._admin_user()
        env = {**os.environ, "DJANGO_DEBUG": "1", "PYTHONUNBUFFERED": "1"}
        python = sys.executable
        commands: list[tuple[str, list[str]]] = []
        if with_simulators:
            commands.append(
                (
                    "simulators",
                    [
                        python,
                        "manage.py",
                        "simulate",
                        "--seed-customers",
                        str(options["seed_customers"]),
                        "--demo-config",
                        "--start-runs",
                        # The demo's simulated rate-limit windows last a tenth of the real
                        # ones, and its clients' budgets are raised to match.
                        "--time-scale",
                        str(DEMO_TIME_SCALE),
                        "--magento-port",
                        str(sim_ports[0]),
                        "--freeagent-port",
                        str(sim_ports[1]),
                        "--emarsys-port",
                        str(sim_ports[2]),
                    ],
                )
            )
        commands += [
            ("web", [python, "manage.py", "runserver", f"{host}:{options['port']}", "--noreload"]),
            (
                "worker",
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "syncapp",
                    "worker",
                    "-B",
                    "-c",
                    "2",
                    "-l",
                    "info",
                    "-s",
                    str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
                ],
            ),
        ]
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        signal.signal(signal.SIGTERM, _interrupt)
        base = Path(settings.BASE_DIR)
        url = f"http://{host}:{options['port']}/admin/"
        _demo_file().write_text(json.dumps({"pid": os.getpid(), "url": url}))
        try:
            for name, cmd in commands:
                log = (Path(settings.LOG_DIR) / f"demo-{name}.log").open("ab")
                # Each in a session of its own, so stopping reaches its children too (the
                # worker's pool) and a Ctrl-C is handled here, once, for all of them.
                child = subprocess.Popen(
                    cmd, cwd=base, env=env, stdout=log, stderr=log, start_new_session=True
                )
                procs.append((name, child))
                if name == "simulators":
                    self._wait_for_file(Path(settings.VAR_DIR) / "simulators.json")
            self.stdout.write(
                self.style.SUCCESS("\nContact Sync is running.\n")
                + f"  Admin:    {url}\n"
                + f"  User:     {username}\n"
                + f"  Password: {password}\n"
                + f"  Logs:     {settings.LOG_DIR}/demo-*.log\n"
                + "Press Ctrl-C to stop everything.\n"
            )
            while True:
                for name, proc in procs:
                    if proc.poll() is not None:
                        self.stderr.write(
                            f"{name} exited with {proc.returncode}; see "
                            f"{settings.LOG_DIR}/demo-{name}.log. Stopping."
                        )
                        return
                time.sleep(1)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            _stop([proc for _, proc in procs])
            _demo_file().unlink(missing_ok=True)
            self.stdout.write("Stopped.")

    def _admin_user(self) -> tuple[str, str]:
        """The demo's admin: made (with a new password, printed once) at the first start;
        later starts keep it, so nobody signed in is logged out."""
        user_model = get_user_model()
        username = "admin"
        user = user_model.objects.filter(username=username).first()
        if user is not None and user.is_superuser and user.has_usable_password():
            return username, (
                "as printed at the first start (set a new one: "
                ".venv/bin/contactsync changepassword admin)"
            )
        password = secrets.token_urlsafe(12)
        if user is None:
            user = user_model(username=username, email="admin@example.com")
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        return username, password

    @staticmethod
    def _simulate_available() -> bool:
        from django.core.management import get_commands

        return "simulate" in get_commands()

    @staticmethod
    def _wait_for_file(path: Path, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not path.exists():
            time.sleep(0.2)


def _demo_file() -> Path:
    return Path(settings.VAR_DIR) / "demo.json"


def _running_demo() -> dict[str, Any] | None:
    """The demo of this checkout that is still running, if one is."""
    try:
        running = json.loads(_demo_file().read_text())
        pid = int(running["pid"])
        os.kill(pid, 0)
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, or it died without cleaning up
    return {"pid": pid, "url": str(running.get("url", ""))}


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


STOP_GRACE_SECONDS = 20.0


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM every child's session, wait for them up to :data:`STOP_GRACE_SECONDS`,
    then SIGKILL what is left — at once on a second Ctrl-C or SIGTERM."""
    for proc in procs:
        _signal_session(proc, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE_SECONDS
    try:
        for proc in procs:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except (subprocess.TimeoutExpired, KeyboardInterrupt):
        pass  # too slow, or asked again: stop them now
    for proc in procs:
        _signal_session(proc, signal.SIGKILL)
        proc.wait()


def _signal_session(proc: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # gone, with everything it started
        os.killpg(proc.pid, sig)  # the child and whatever it started


def _interrupt(signum: int, frame: Any) -> None:
    # SIGTERM stops the demo as cleanly as Ctrl-C does.
    raise KeyboardInterrupt
