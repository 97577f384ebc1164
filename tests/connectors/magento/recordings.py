"""Where the Magento recordings live (``tests/fixtures/recorded/magento``) and a loader."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded" / "magento"


def load_recording(name: str) -> Any:
    """One recording, parsed."""
    return json.loads((RECORDED / name).read_text(encoding="utf-8"))
