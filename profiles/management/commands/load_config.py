"""`python manage.py load_config FILE.yaml` — create or update clients and profiles."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError, CommandParser

from profiles.services.config import ConfigError, config_load


class Command(BaseCommand):
    help = (
        "Create or update clients and profiles from a YAML file (idempotent; ${ENV_VAR} "
        "placeholders are filled from the environment). See README, 'Config as code'."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="YAML file, or - for standard input.")

    def handle(self, *args: Any, **options: Any) -> None:
        source = options["file"]
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text()
        except OSError as exc:
            raise CommandError(f"Cannot read {source}: {exc.strerror}", returncode=2) from exc
        try:
            data = yaml.safe_load(text) or {}
        except yaml.YAMLError as exc:
            raise CommandError(f"{source} is not valid YAML: {exc}", returncode=2) from exc
        try:
            result = config_load(data)
        except ConfigError as exc:
            lines = "\n".join(f"  - {e}" for e in exc.errors)
            raise CommandError(
                f"{source} was not loaded ({len(exc.errors)} problem(s)); nothing changed:\n"
                f"{lines}",
                returncode=2,
            ) from exc
        for label in result.created:
            self.stdout.write(f"created  {label}")
        for label in result.updated:
            self.stdout.write(f"updated  {label}")
        for label in result.unchanged:
            self.stdout.write(f"unchanged {label}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {source}: {len(result.created)} created, {len(result.updated)} "
                f"updated, {len(result.unchanged)} unchanged."
            )
        )
