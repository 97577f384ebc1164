"""``python manage.py forget --email ADDRESS [--dry-run]`` — GDPR erasure of one person
(see :mod:`contacts.services.forget`).

Prints what was done in each target and what was removed here. Exit status: 0 done (or,
with ``--dry-run``, what would be), 1 a target did not answer (nothing local was removed:
run it again), 2 usage errors.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from contacts.services.forget import person_forget
from profiles.cli import EXIT_FAILURES, usage_error


class Command(BaseCommand):
    help = "Forget a person (GDPR erasure) in every target and every table."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True, help="The person's e-mail address.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Say what would be erased; erase nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            report = person_forget(
                email=str(options["email"]),
                actor=f"cli:{getpass.getuser()}",
                dry_run=bool(options["dry_run"]),
            )
        except ValueError as exc:
            raise usage_error(str(exc)) from None
        would = "would be " if report.dry_run else ""
        for line in report.remote:
            self.stdout.write(line)
        for line in report.failed:
            self.stderr.write(f"not erased: {line}")
        if report.failed:
            sys.exit(EXIT_FAILURES)
        for name, count in sorted(report.removed.items()):
            self.stdout.write(f"{name}: {count} {would}removed")
        self.stdout.write(f"log lines: {report.log_lines} {would}erased")
        self.stdout.write(
            "Dry run: nothing was erased."
            if report.dry_run
            else f"Forgotten. Audit: erasure {report.email_hash[:12]}… (no personal data kept)."
        )
