"""Processes a test started in a session of their own (start_new_session=True)."""

from __future__ import annotations

import subprocess
import time


def session_leftovers(leader: int, *, wait: float = 10.0) -> str:
    """What still runs in the session ``leader`` started ('' when nothing does), after
    giving children up to ``wait`` seconds to exit."""
    deadline = time.monotonic() + wait
    while True:
        left = subprocess.run(
            ["ps", "-o", "pid=,stat=,args=", "-s", str(leader)],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.2)
