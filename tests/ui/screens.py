"""Where the browser tests keep their screenshots (look at them)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

SHOTS = Path(settings.BASE_DIR) / "var" / "screenshots"
