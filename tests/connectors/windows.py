"""The simulators' rate-limit windows reset on the wall clock (as the real APIs' do), so a
test that counts requests up to a limit starts at the top of a fresh window."""

from __future__ import annotations

import time


def wait_for_fresh_window(window_s: float, *, margin_s: float = 0.005) -> None:
    """Sleep until just after the next multiple of ``window_s`` since the epoch."""
    time.sleep(window_s - time.time() % window_s + margin_s)
