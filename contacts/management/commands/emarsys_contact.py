"""``python manage.py emarsys_contact export|optin-sync`` — the Emarsys contact sync from
the command line, in the foreground.

Exit status: 0 when every contact succeeded, 1 when any contact failed, 2 for usage or
configuration errors. Progress goes to stderr, the summary (and, with ``--dry-run``, each
payload) to stdout.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.errors import ConnectorError
from contacts.emarsys.optin import emarsys_optin_sync
from contacts.emarsys.profile_type import TYPE_ID
from contacts.emarsys.services import emarsys_initial_export
from contacts.models import ContactEntity
from contacts.services.entities import entities_reset, entities_retry
from profiles.models import Profile, Run, RunTrigger
from profiles.services import runs

USAGE_ERROR = 2


class Command(BaseCommand):
    help = "Synchronise Magento customers/subscribers with Emarsys (export, optin-sync)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        export = sub.add_parser("export", help="Send changed (or, with --initial, all) contacts.")
        export.add_argument("--profile", help="Profile name or id (default: the only one).")
        export.add_argument("--id", type=int, dest="entity_id", help="Only this entity id.")
        export.add_argument("--type", choices=["customers", "subscribers", "both"])
        export.add_argument("--initial", action="store_true", help="Export everything.")
        export.add_argument("--dry-run", action="store_true", help="Print, send nothing.")
        optin = sub.add_parser("optin-sync", help="Apply Emarsys opt-in changes to Magento.")
        optin.add_argument("--profile", help="Profile name or id (default: the only one).")

    def handle(self, *args: Any, **options: Any) -> None:
        profile = self._profile(options.get("profile"))
        try:
            if options["action"] == "export":
                failed = self._export(profile, options)
            else:
                failed = self._optin(profile)
        except runs.RunAlreadyActive as exc:
            raise CommandError(str(exc), returncode=USAGE_ERROR) from exc
        except ConnectorError as exc:
            raise CommandError(f"{exc}", returncode=USAGE_ERROR) from exc
        if failed:
            sys.exit(1)

    # -- actions -------------------------------------------------------------------------------

    def _export(self, profile: Profile, options: dict[str, Any]) -> bool:
        dry_run = bool(options["dry_run"])
        if options["type"] and not options["initial"]:
            raise CommandError("--type goes with --initial.", returncode=USAGE_ERROR)
        if options["entity_id"] and options["initial"]:
            raise CommandError("--id and --initial exclude each other.", returncode=USAGE_ERROR)
        progress = _Progress(self.stderr)
        if options["initial"]:
            types = options["type"] or profile.settings.get("export_types") or "both"
            run = emarsys_initial_export(
                profile=profile,
                types=types,
                foreground=True,
                trigger=RunTrigger.CLI,
                dry_run=dry_run,
                progress=progress,
            )
        else:
            entity_ids = None
            if options["entity_id"]:
                qs = ContactEntity.objects.filter(profile=profile, pk=options["entity_id"])
                if not qs.exists():
                    raise CommandError(
                        f"Profile '{profile.name}' has no entity {options['entity_id']}.",
                        returncode=USAGE_ERROR,
                    )
                # Named explicitly: send it even if unchanged (a dry run only re-checks it).
                (entities_retry if dry_run else entities_reset)(qs)
                entity_ids = [options["entity_id"]]
            run = runs.run_start(
                profile=profile,
                trigger=RunTrigger.CLI,
                dry_run=dry_run,
                entity_ids=entity_ids,
                foreground=True,
                progress=progress,
            )
        progress.done()
        if dry_run:
            self._payloads(run)
        self._summary(run)
        return bool(run.failed) or run.status == "failed"

    def _optin(self, profile: Profile) -> bool:
        self.stderr.write("Fetching opt-in changes from Emarsys …")
        result = emarsys_optin_sync(profile=profile, trigger=RunTrigger.CLI)
        for level, line in result.lines:
            (self.stderr if level == "error" else self.stdout).write(line)
        rows = [
            ("changes checked", result.checked),
            ("applied to Magento", result.applied),
            ("already in step / echo", result.unchanged),
            ("not ours / no value", result.unknown),
            ("failed", result.failed),
        ]
        self._table(f"Opt-in sync of '{profile.name}'", rows)
        return bool(result.failed)

    # -- output --------------------------------------------------------------------------------

    def _payloads(self, run: Run) -> None:
        for event in run.events.exclude(data__isnull=True).order_by("pk"):
            data = event.data or {}
            self.stdout.write(event.message)
            if data.get("payload") is not None:
                self.stdout.write("  payload: " + json.dumps(data["payload"], sort_keys=True))
            if data.get("diff"):
                self.stdout.write("  changes: " + json.dumps(data["diff"], sort_keys=True))
            if data.get("lists"):
                self.stdout.write("  lists:   " + ", ".join(data["lists"]))

    def _summary(self, run: Run) -> None:
        rows: list[tuple[str, Any]] = [
            ("status", run.get_status_display()),
            ("collected", run.collected),
            ("created", run.created),
            ("updated", run.updated),
            ("unchanged", run.unchanged),
            ("skipped", run.skipped),
            ("failed", run.failed),
            ("deferred for retry", run.retried),
        ]
        if run.duration_seconds is not None:
            rows.append(("duration", f"{run.duration_seconds:.1f} s"))
        title = f"Run {run.pk} of '{run.profile.name}'" + (" (dry run)" if run.dry_run else "")
        self._table(title, rows)
        problems = run.events.filter(level__in=["error", "warning"]).exclude(
            message__startswith="Run finished"
        )
        for event in problems.order_by("pk")[:20]:
            self.stdout.write(f"  [{event.level}] {event.message}")

    def _table(self, title: str, rows: list[tuple[str, Any]]) -> None:
        width = max(len(label) for label, _ in rows)
        self.stdout.write(title)
        self.stdout.write("-" * max(len(title), width + 12))
        for label, value in rows:
            self.stdout.write(f"{label.ljust(width)}  {value}")

    # -- arguments -----------------------------------------------------------------------------

    def _profile(self, name_or_id: str | None) -> Profile:
        profiles = Profile.objects.filter(type=TYPE_ID).select_related("client", "source_client")
        if name_or_id:
            found = profiles.filter(name=name_or_id).first()
            if found is None and name_or_id.isdigit():
                found = profiles.filter(pk=int(name_or_id)).first()
            if found is None:
                raise CommandError(
                    f"No Emarsys contact sync profile {name_or_id!r}.", returncode=USAGE_ERROR
                )
            return found
        count = profiles.count()
        if count != 1:
            raise CommandError(
                f"{count} Emarsys contact sync profiles exist; choose one with --profile.",
                returncode=USAGE_ERROR,
            )
        found = profiles.first()
        assert found is not None
        return found


class _Progress:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.shown = False

    def __call__(self, run: Run, total: int) -> None:
        done = run.processed + run.retried
        total = max(total, done, 1)
        filled = int(30 * done / total)
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{total} contacts"
        self.stream.write(("\r" + line) if self.tty else line, ending="" if self.tty else "\n")
        self.stream.flush()
        self.shown = True

    def done(self) -> None:
        if self.shown and self.tty:
            self.stream.write("")
