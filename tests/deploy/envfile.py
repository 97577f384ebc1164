"""`.env.example` as compose's env_file reads it: NAME=value lines, comments skipped."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def example_env() -> dict[str, str]:
    values = {}
    for line in (REPO / ".env.example").read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value
    return values
