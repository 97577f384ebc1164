"""`python manage.py fa_contact collect|export|import` — seed 000's CLI, in the foreground.

Exit codes: 0 all succeeded, 1 some contact failed, 2 usage or configuration errors.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.errors import ConnectorError
from contacts.freeagent.cache import remote_contacts_collect
from contacts.freeagent.link import contacts_import
from contacts.freeagent.profile_type import TYPE_ID
from contacts.models import RemoteContact
from contacts.services.decide_cli import decisions_apply, wants_decisions
from contacts.services.entities import entities_for_ids, entities_retry
from contacts.services.refresh import entities_refresh
from profiles.cli import (
    EXIT_FAILURES,
    EXIT_USAGE,
    ProgressBar,
    add_decision_arguments,
    exit_code_for,
    profiles_select,
    run_summary_table,
    usage_error,
)
from profiles.models import Run, RunTrigger
from profiles.services import runs
from profiles.services.connections import freeagent_client


class Command(BaseCommand):
    help = "FreeAgent contacts: collect (cache), export (Magento → FreeAgent), import (link)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="collect|export|import")
        collect = sub.add_parser("collect", help="Fetch FreeAgent contacts into the local cache.")
        collect.add_argument("--profile", help="Profile name or id (default: all).")
        collect.add_argument("--full", action="store_true", help="Re-read every contact.")
        export = sub.add_parser("export", help="Export pending contacts to FreeAgent.")
        export.add_argument("--profile", help="Profile name or id (default: all).")
        export.add_argument(
            "--id", type=int, action="append", dest="ids", help="Entity id (repeatable)."
        )
        export.add_argument(
            "--dry-run", action="store_true", help="Show each payload and diff; send nothing."
        )
        imp = sub.add_parser(
            "import",
            help="Link existing FreeAgent contacts by e-mail, or as decided with --link, "
            "--secondary, --separate.",
        )
        imp.add_argument("--profile", help="Profile name or id (default: all).")
        add_decision_arguments(imp)
        imp.add_argument(
            "--separate",
            action="append",
            default=[],
            type=int,
            metavar="ENTITY_ID",
            help="This contact gets a FreeAgent contact of its own, even if it shares its e-mail.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        profiles = profiles_select(TYPE_ID, options.get("profile"))
        try:
            code = getattr(self, f"_{options['action']}")(profiles, options)
        except ConnectorError as exc:
            raise CommandError(f"{exc}", returncode=EXIT_USAGE) from exc
        if code:
            sys.exit(code)

    # -- collect ------------------------------------------------------------------------------
    def _collect(self, profiles: list[Any], options: dict[str, Any]) -> int:
        seen: set[int] = set()
        for profile in profiles:
            client = profile.client
            if client is None or client.pk in seen:
                continue
            seen.add(client.pk)
            result = remote_contacts_collect(
                client=client, api=freeagent_client(client), full=options["full"]
            )
            total = RemoteContact.objects.filter(client=client).count()
            how = "full" if result.full else "incremental"
            self.stdout.write(
                f"{client.name}: {result.fetched} contact(s) fetched ({how}); {total} cached."
            )
            if result.removed:
                self.stdout.write(
                    f"  {result.removed} deleted in FreeAgent: removed from the cache."
                )
            if result.requeued:
                self.stdout.write(
                    f"  {result.requeued} contact(s) of our profiles queued to be decided again "
                    "(ambiguities whose duplicates changed, links to deleted contacts)."
                )
        return 0

    # -- export -------------------------------------------------------------------------------
    def _export(self, profiles: list[Any], options: dict[str, Any]) -> int:
        if options["ids"] and len(profiles) > 1:
            raise usage_error("--id needs --profile (entity ids belong to one profile).")
        done: list[Run] = []
        if options["ids"]:
            # Validate first, then queue the named contacts whatever their state (a failed,
            # ambiguous or complete contact is exactly what one asks for by id).
            self._check_ids(profiles[0], options["ids"])
            for problem in entities_refresh(
                profile=profiles[0], entities=entities_for_ids(profiles[0], options["ids"])
            ):
                self.stderr.write(problem)
            if not options["dry_run"]:
                entities_retry(entities_for_ids(profiles[0], options["ids"]))
        for profile in profiles:
            bar = ProgressBar(getattr(self.stderr, "_out", sys.stderr))
            try:
                run = runs.run_start(
                    profile=profile,
                    trigger=RunTrigger.CLI,
                    dry_run=options["dry_run"],
                    entity_ids=options["ids"],
                    foreground=True,
                    progress=bar,
                )
            except runs.RunAlreadyActive as exc:
                raise usage_error(str(exc)) from exc
            finally:
                bar.close()
            if run.dry_run:
                self._print_dry_run(run)
            else:
                self._print_failures(run)
            done.append(run)
        self.stdout.write("\n" + run_summary_table(done))
        for run in done:
            self.stdout.write(f"{run.profile.name}: {run.summary}")
        return exit_code_for(done)

    def _check_ids(self, profile: Any, ids: list[int]) -> None:
        from contacts.models import ContactEntity

        known = set(
            ContactEntity.objects.filter(profile=profile, pk__in=ids).values_list("pk", flat=True)
        )
        missing = sorted(set(ids) - known)
        if missing:
            raise usage_error(
                f"No contact entity {', '.join(map(str, missing))} in profile '{profile.name}'."
            )

    def _print_dry_run(self, run: Run) -> None:
        for event in run.events.filter(entity_id__isnull=False).order_by("pk"):
            data = event.data or {}
            self.stdout.write(self.style.MIGRATE_HEADING(event.message))
            for change in data.get("changes") or []:
                name, old, new = change
                self.stdout.write(
                    f"    {name}: {json.dumps(old, ensure_ascii=False)} -> "
                    f"{json.dumps(new, ensure_ascii=False)}"
                )
            for warning in data.get("warnings") or []:
                self.stdout.write(self.style.WARNING(f"    ! {warning}"))
        # What else the real run would do (the deletions its policy would send or hold).
        for event in run.events.filter(entity_id__isnull=True, level="warning").order_by("pk"):
            self.stdout.write(self.style.WARNING(event.message))

    def _print_failures(self, run: Run) -> None:
        for event in run.events.filter(level__in=["error", "warning"]).order_by("pk")[:50]:
            style = self.style.ERROR if event.level == "error" else self.style.WARNING
            self.stdout.write(style(event.message))

    # -- import -------------------------------------------------------------------------------
    def _import(self, profiles: list[Any], options: dict[str, Any]) -> int:
        if wants_decisions(options):
            if len(profiles) > 1:
                raise usage_error("--link, --secondary and --separate need --profile.")
            return decisions_apply(profiles[0], options, self.stdout.write)
        code = 0
        for profile in profiles:
            report = contacts_import(profile=profile)
            self.stdout.write(self.style.MIGRATE_HEADING(f"Profile {profile.name}"))
            for person, url in report.linked:
                self.stdout.write(f"  linked     {person} -> {url}")
            for person, urls in report.ambiguous:
                self.stdout.write(self.style.WARNING(f"  ambiguous  {person}: {', '.join(urls)}"))
            for person in report.unmatched_magento[:50]:
                self.stdout.write(f"  not in FreeAgent (export will create): {person}")
            for remote in report.unmatched_freeagent[:50]:
                self.stdout.write(f"  not in Magento: {remote}")
            self.stdout.write(
                f"  {len(report.linked)} linked, {report.already_linked} already linked, "
                f"{len(report.ambiguous)} ambiguous, {len(report.unmatched_magento)} only in "
                f"Magento, {len(report.unmatched_freeagent)} only in FreeAgent."
            )
            if report.ambiguous:
                code = EXIT_FAILURES
        return code
