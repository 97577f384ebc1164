"""``python manage.py runs list|release RUN_ID`` — the active runs, and releasing one that
cannot finish by itself (a foreground run whose process died on another host, a run queued
with no worker to start it). A run whose process died on this host is taken over by the
next run of its profile at once, without this command."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from profiles.cli import usage_error
from profiles.models import ACTIVE_RUN_STATUSES, Run
from profiles.services.runs import owner_dead, run_release


class Command(BaseCommand):
    help = "List active runs, or release one that cannot finish (runs release RUN_ID)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="list|release")
        sub.add_parser("list", help="The queued and running runs, with who runs them.")
        release = sub.add_parser("release", help="Close an active run and requeue its contacts.")
        release.add_argument("run_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            active = Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).select_related("profile")
            if not active:
                self.stdout.write("No active runs.")
            for run in active.order_by("pk"):
                owner = run.owner or "the workers"
                state = " (its process is gone)" if owner_dead(run) else ""
                beat = run.heartbeat_at.isoformat() if run.heartbeat_at else "never"
                self.stdout.write(
                    f"run {run.pk}  {run.profile.name}  {run.status}  by {owner}{state}  "
                    f"last sign of life {beat}"
                )
            return
        found = Run.objects.select_related("profile").filter(pk=options["run_id"]).first()
        if found is None:
            raise usage_error(f"There is no run {options['run_id']}.")
        run = found
        if run.status not in ACTIVE_RUN_STATUSES:
            raise usage_error(f"Run {run.pk} is {run.status}: nothing to release.")
        released = run_release(run=run, reason="released by hand (manage.py runs release)")
        self.stdout.write(
            f"Run {run.pk} of '{run.profile.name}' released; {released} contact(s) back in "
            "the queue. The profile can run again."
        )
