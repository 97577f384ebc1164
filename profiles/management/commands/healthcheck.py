"""`manage.py healthcheck web|beat` — the compose healthchecks' probe (exit 0 healthy, 1 not)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from syncapp import health


class Command(BaseCommand):
    help = "Exit 0 when the role is healthy: web (database + broker) or beat (dispatching)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", choices=["web", "beat"])

    def handle(self, *args: Any, **options: Any) -> None:
        problems = [health.database_problem()]
        if not problems[0]:
            problems.append(
                health.broker_problem() if options["role"] == "web" else health.beat_problem()
            )
        found = "; ".join(p for p in problems if p)
        if found:
            raise CommandError(found)
        self.stdout.write("healthy")
