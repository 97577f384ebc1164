"""The simulators in a process of their own, as the benchmark runs them.

A remote API is not in our process: in ours, the simulators' work would take turns with
ours for the interpreter (one core for both) and their memory — 100,000 customers, their
orders and the contacts made from them — would count as ours. Here they run as
``manage.py simulate`` does, on loopback and free ports, and are reached over HTTP only.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

STARTUP_SECONDS = 900.0  # seeding 100,000 customers takes a while


class SimulatorProcess:
    """``manage.py simulate`` with N customers; :meth:`describe` as ``simulate`` prints it."""

    def __init__(self, customers: int, *, time_scale: float = 0.001) -> None:
        self.var = Path(tempfile.mkdtemp(prefix="contact-sync-bench-sims-"))
        env = {**os.environ, "CONTACT_SYNC_VAR_DIR": str(self.var), "DJANGO_DEBUG": "1"}
        env.pop("DATABASE_URL", None)  # the simulators keep their state in memory
        self.log = (self.var / "simulate.log").open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(Path(settings.BASE_DIR) / "manage.py"),
                "simulate",
                "--magento-port",
                "0",
                "--freeagent-port",
                "0",
                "--emarsys-port",
                "0",
                "--seed-customers",
                str(customers),
                "--time-scale",
                str(time_scale),
            ],
            cwd=settings.BASE_DIR,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self.log,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            self.stop()
            raise CommandError(
                f"the simulators did not start (exit {self.proc.returncode}); "
                f"see {self.var / 'simulate.log'}"
            )
        self.description: dict[str, Any] = json.loads(line)

    def describe(self) -> dict[str, Any]:
        return self.description

    def peak_rss_mb(self) -> float:
        """The simulators' own peak memory (VmHWM), for the record."""
        try:
            status = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.log.close()
        shutil.rmtree(self.var, ignore_errors=True)
