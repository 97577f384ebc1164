"""``python manage.py drift --profile NAME_OR_ID [--repair] [--json]`` — compare every
linked contact with the remote system now (see :mod:`contacts.services.drift`).

Prints a table of what disagrees (deleted, hidden, edited — which fields — duplicated by
e-mail, never linked) and a summary; ``--json`` prints the JSON summary instead. Exit
status: 0 no drift (or all of it repaired or flagged), 1 drift found, 2 usage errors or a
remote system that could not be read.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from contacts.services.drift import KIND_LABELS, drift_check
from profiles.cli import EXIT_FAILURES, EXIT_USAGE, usage_error
from profiles.models import Profile, RunTrigger


class Command(BaseCommand):
    help = "Compare linked contacts with FreeAgent/Emarsys and report (or --repair) drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profile", required=True, help="Profile name or id.")
        parser.add_argument(
            "--repair",
            action="store_true",
            help="Re-queue what should be re-sent (deleted, edited, never linked) and flag "
            "the rest (hidden, duplicated).",
        )
        parser.add_argument("--json", action="store_true", help="Print the JSON summary.")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted = str(options["profile"])
        qs = Profile.objects.select_related("client", "source_client")
        profile = (qs.filter(pk=int(wanted)).first() if wanted.isdigit() else None) or qs.filter(
            name=wanted
        ).first()
        if profile is None:
            names = ", ".join(f"{p.pk}:{p.name}" for p in qs.order_by("pk")) or "none"
            raise usage_error(f"No profile {wanted!r} (profiles: {names}).")
        report = drift_check(profile=profile, repair=options["repair"], trigger=RunTrigger.CLI)
        if options["json"]:
            self.stdout.write(json.dumps(report.as_json(), indent=2, ensure_ascii=False))
        else:
            self._table(report)
        if report.error:
            sys.exit(EXIT_USAGE)
        if report.items and not report.repaired:
            sys.exit(EXIT_FAILURES)

    def _table(self, report: Any) -> None:
        rows = [
            (
                str(i.entity_id),
                i.person,
                i.email,
                KIND_LABELS[i.kind],
                ", ".join(i.fields) or i.detail,
                i.repair,
            )
            for i in report.items
        ]
        head = ("entity", "person", "e-mail", "drift", "fields / detail", "repair")
        if rows:
            widths = [max(len(h), *(len(r[n]) for r in rows)) for n, h in enumerate(head)]
            widths = [min(w, 48) for w in widths]
            self.stdout.write("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
            self.stdout.write("  ".join("-" * w for w in widths))
            for row in rows:
                cells = [
                    c if len(c) <= w else c[: w - 1] + "…" for c, w in zip(row, widths, strict=True)
                ]
                self.stdout.write("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
            self.stdout.write("")
        if report.error:
            self.stderr.write(report.error)
        self.stdout.write(report.summary())
