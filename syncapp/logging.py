"""Logging helpers."""

from __future__ import annotations

import logging.handlers
from pathlib import Path


class LazyRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """A rotating file handler that creates its directory and opens the file on first use."""

    def __init__(self, filename: str, *args: object, **kwargs: object) -> None:
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        kwargs["delay"] = True
        super().__init__(filename, *args, **kwargs)  # type: ignore[arg-type]
