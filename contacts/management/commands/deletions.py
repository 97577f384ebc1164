"""``python manage.py deletions`` — customers deleted in Magento, and what the profiles'
deletion policies do about them (see :mod:`contacts.services.propagate`).

* ``deletions`` — each profile's policy, pending deletions and held requests;
* ``deletions --detect`` — the daily pass now: notice deleted customers in every store
  (then each propagating profile's deletion pass, which the brake may hold);
* ``deletions --profile NAME --run`` — a profile's deletion pass now;
* ``deletions --approve ID`` / ``--reject ID`` — decide on deletions the brake holds.

Exit status: 0 done, 1 a pass stopped or failed contacts, 2 usage errors.
"""

from __future__ import annotations

import getpass
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from contacts.models import DeletionOutcome, DeletionRequest
from contacts.services import propagate
from profiles.cli import EXIT_FAILURES, usage_error
from profiles.models import Profile, RunStatus, RunTrigger


class Command(BaseCommand):
    help = "Customers deleted in Magento: policies, the deletion pass and the approval brake."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--profile", help="A profile's name (default: every profile).")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--detect", action="store_true", help="Notice deleted customers now.")
        what.add_argument("--run", action="store_true", help="The profile's deletion pass now.")
        what.add_argument("--approve", type=int, metavar="ID", help="Approve held deletions.")
        what.add_argument("--reject", type=int, metavar="ID", help="Reject held deletions.")

    def handle(self, *args: Any, **options: Any) -> None:
        profiles = Profile.objects.select_related("client").order_by("name")
        if options["profile"]:
            profiles = profiles.filter(name=options["profile"])
            if not profiles.exists():
                raise usage_error(f"no profile named {options['profile']!r}")
        actor = f"cli:{getpass.getuser()}"
        if options["detect"]:
            from contacts.services.deletions import stores_deletions_detect

            for report in stores_deletions_detect(trigger=RunTrigger.CLI):
                self.stdout.write(
                    f"{report.store}: {report.listed} customers listed, "
                    f"{len(report.deleted)} deleted in Magento, {report.marked} contacts marked"
                    + (f" — {report.refused}" if report.refused else "")
                )
        elif options["run"]:
            if not options["profile"]:
                raise usage_error("--run needs --profile NAME")
            self._pass(profiles.get(), actor)
            return
        elif options["approve"] or options["reject"]:
            self._decide(int(options["approve"] or options["reject"]), bool(options["approve"]))
            return
        for profile in profiles:
            self._show(profile)

    def _pass(self, profile: Profile, actor: str) -> None:
        run = propagate.deletions_propagate(profile, trigger=RunTrigger.CLI, actor=actor)
        if run is None:
            self.stdout.write(f"{profile.name}: no deletion to send.")
            return
        self.stdout.write(f"{profile.name}: {run.summary} (run {run.pk})")
        held = run.scope.get("held")
        if held:
            self.stdout.write(
                f"Approve with: contactsync deletions --approve {run.scope['request']} "
                f"(or --reject {run.scope['request']})"
            )
        if run.status == RunStatus.FAILED or run.failed:
            sys.exit(EXIT_FAILURES)

    def _decide(self, pk: int, approve: bool) -> None:
        held = DeletionRequest.objects.select_related("profile").filter(pk=pk).first()
        if held is None:
            raise usage_error(f"no held deletions with id {pk}")
        try:
            decided = propagate.request_decide(
                held, approve=approve, actor=f"cli:{getpass.getuser()}"
            )
        except propagate.AlreadyDecided as exc:
            raise usage_error(str(exc)) from None
        if not approve:
            self.stdout.write(
                f"{held.profile.name}: rejected; {decided.records.count()} remote contacts kept."
            )
            return
        self.stdout.write(f"{held.profile.name}: approved by {decided.decided_by}.")
        self._pass(held.profile, f"cli:{getpass.getuser()}")

    def _show(self, profile: Profile) -> None:
        rules = propagate.rules_of(profile)
        records = profile.deletion_records
        pending = records.filter(
            outcome__in=[DeletionOutcome.PENDING, DeletionOutcome.FAILED]
        ).count()
        done = records.filter(outcome__in=list(propagate.DONE)).count()
        threshold, linked = propagate.brake_threshold(profile, rules)
        self.stdout.write(
            f"{profile.name}: policy {rules.policy}; {pending} pending, {done} done; the brake "
            f"holds a pass above {threshold} (of {linked} linked contacts)"
        )
        for held in profile.deletion_requests.filter(status=DeletionRequest.Status.WAITING):
            count = held.records.filter(outcome=DeletionOutcome.WAITING).count()
            self.stdout.write(
                f"  held {held.pk}: {count} deletions since {held.created_at:%Y-%m-%d %H:%M} — "
                f"contactsync deletions --approve {held.pk} | --reject {held.pk}"
            )
