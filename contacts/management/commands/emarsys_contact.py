"""``python manage.py emarsys_contact export|optin-sync|reconcile`` — the Emarsys contact
sync from the command line, in the foreground.

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
from contacts.emarsys.fields import field_labels
from contacts.emarsys.optin import OptInSyncResult, emarsys_optin_sync
from contacts.emarsys.profile_type import TYPE_ID
from contacts.emarsys.reconcile import emarsys_reconcile
from contacts.emarsys.services import emarsys_initial_export
from contacts.models import ContactEntity
from contacts.services.decide_cli import decisions_apply, wants_decisions
from contacts.services.entities import entities_reset, entities_retry
from contacts.services.refresh import entities_refresh
from profiles.cli import (
    EXIT_FAILURES,
    EXIT_USAGE,
    ProgressBar,
    add_decision_arguments,
    profiles_select,
    run_summary_table,
    usage_error,
)
from profiles.models import Profile, Run, RunTrigger
from profiles.services import runs


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
        reconcile = sub.add_parser(
            "reconcile",
            help="Compare every subscription in Magento and every opt-in in Emarsys, and "
            "bring both into step.",
        )
        reconcile.add_argument("--profile", help="Profile name or id (default: the only one).")
        imp = sub.add_parser(
            "import",
            help="Record a decision: --link a contact to an Emarsys contact, or make "
            "it --secondary.",
        )
        imp.add_argument("--profile", help="Profile name or id (default: the only one).")
        add_decision_arguments(imp)

    def handle(self, *args: Any, **options: Any) -> None:
        profiles = profiles_select(TYPE_ID, options.get("profile"))
        if options.get("entity_id") and len(profiles) > 1:
            raise usage_error("--id needs --profile (entity ids belong to one profile).")
        failed = False
        done: list[Run] = []
        try:
            for profile in profiles:
                if options["action"] == "export":
                    run = self._export(profile, options)
                    done.append(run)
                    failed = failed or bool(run.failed) or run.status == "failed"
                elif options["action"] == "reconcile":
                    failed = self._reconcile(profile) or failed
                elif options["action"] == "import":
                    if not wants_decisions(options):
                        raise usage_error("import needs --link ENTITY_ID=REMOTE_ID or --secondary.")
                    if len(profiles) > 1:
                        raise usage_error("--link and --secondary need --profile.")
                    failed = bool(decisions_apply(profile, options, self.stdout.write)) or failed
                else:
                    failed = self._optin(profile) or failed
        except runs.RunAlreadyActive as exc:
            raise usage_error(str(exc)) from exc
        except ConnectorError as exc:
            raise usage_error(f"{exc}") from exc
        if done:
            self.stdout.write("\n" + run_summary_table(done))
            for run in done:
                self.stdout.write(f"{run.profile.name}: {run.summary}")
        if failed:
            sys.exit(EXIT_FAILURES)

    # -- actions -------------------------------------------------------------------------------

    def _export(self, profile: Profile, options: dict[str, Any]) -> Run:
        dry_run = bool(options["dry_run"])
        if options["type"] and not options["initial"]:
            raise CommandError("--type goes with --initial.", returncode=EXIT_USAGE)
        if options["entity_id"] and options["initial"]:
            raise CommandError("--id and --initial exclude each other.", returncode=EXIT_USAGE)
        progress = ProgressBar(getattr(self.stderr, "_out", sys.stderr))
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
                        returncode=EXIT_USAGE,
                    )
                # Read from Magento first: the run shows and sends what Magento has now.
                for problem in entities_refresh(profile=profile, entities=qs):
                    self.stderr.write(problem)
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
        progress.close()
        if dry_run:
            self._payloads(run)
        self._problems(run)
        return run

    def _optin(self, profile: Profile) -> bool:
        self.stderr.write("Fetching opt-in changes from Emarsys …")
        result = emarsys_optin_sync(profile=profile, trigger=RunTrigger.CLI)
        return self._report(f"Opt-in sync of '{profile.name}'", result)

    def _reconcile(self, profile: Profile) -> bool:
        self.stderr.write("Reading every subscription in Magento and opt-in in Emarsys …")
        result = emarsys_reconcile(profile=profile, trigger=RunTrigger.CLI)
        return self._report(f"Reconcile of '{profile.name}'", result)

    def _report(self, title: str, result: OptInSyncResult) -> bool:
        for level, line in result.lines:
            (self.stderr if level == "error" else self.stdout).write(line)
        rows = [
            ("contacts checked", result.checked),
            ("applied to Magento", result.applied),
            ("queued for Emarsys", result.queued),
            ("already in step / echo", result.unchanged),
            ("not ours / no value", result.unknown),
            ("deferred (being exported)", result.deferred),
            ("failed", result.failed),
        ]
        self._table(title, rows)
        return bool(result.failed)

    # -- output --------------------------------------------------------------------------------

    def _payloads(self, run: Run) -> None:
        names = field_labels(run.profile.client)
        for event in run.events.exclude(data__isnull=True).order_by("pk"):
            data = event.data or {}
            self.stdout.write(event.message)
            if data.get("payload") is not None:
                self.stdout.write(
                    "  payload: "
                    + json.dumps(_named(data["payload"], names), sort_keys=True, ensure_ascii=False)
                )
            if data.get("diff"):
                self.stdout.write(
                    "  changes: "
                    + json.dumps(_named(data["diff"], names), sort_keys=True, ensure_ascii=False)
                )
            if data.get("lists"):
                self.stdout.write("  lists:   " + ", ".join(data["lists"]))

    def _problems(self, run: Run) -> None:
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


def _named(value: Any, names: dict[str, str]) -> Any:
    """A payload or diff keyed by field ids, keyed by field names instead."""
    if isinstance(value, dict):
        return {names.get(str(k), str(k)): v for k, v in value.items()}
    if isinstance(value, list):
        return [_named(v, names) for v in value]
    return value
