"""`python manage.py dump_config [FILE]` — clients and profiles as YAML, without secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandParser

from profiles.services.config import config_dump


class Command(BaseCommand):
    help = (
        "Write every client and profile as YAML that load_config accepts. Secrets are "
        "written as ${CLIENT_KEY} placeholders to be filled from the environment."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", nargs="?", default="-", help="Output file (default stdout).")

    def handle(self, *args: Any, **options: Any) -> None:
        text = yaml.safe_dump(config_dump(), sort_keys=False, allow_unicode=True)
        if options["file"] == "-":
            self.stdout.write(text, ending="")
        else:
            Path(options["file"]).write_text(text)
            self.stdout.write(self.style.SUCCESS(f"Wrote {options['file']}."))
