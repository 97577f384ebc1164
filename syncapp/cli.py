"""``manage.py`` and ``.venv/bin/contactsync``: Django's command line, with a setting that
is missing or wrong reported as one line (which variable, what to do), not a traceback."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "syncapp.settings.base")
    project = str(Path(__file__).resolve().parents[1])
    if project not in sys.path:  # the console script runs from anywhere
        sys.path.insert(0, project)
    from django.core.management import execute_from_command_line

    argv = list(sys.argv if argv is None else argv)
    try:
        execute_from_command_line(argv)
    except ImproperlyConfigured as exc:
        name = Path(argv[0]).name if argv else "contactsync"
        sys.stderr.write(f"{name}: configuration error: {exc}\n")
        raise SystemExit(2) from None
