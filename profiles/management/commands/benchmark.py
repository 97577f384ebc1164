"""`python manage.py benchmark` — how fast a first sync runs, and how much memory it takes.

Starts the simulators in this process with N generated customers and rate limits out of
the way (their windows shrunk, our budgets raised to match), creates throwaway
``benchmark-*`` clients and profiles, runs a first export and an unchanged re-run of each
profile type in the foreground, prints the figures, and deletes what it created. Speed
targets are measured here, never in timed tests.
"""

from __future__ import annotations

import json
import resource
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connectors.simulate import start_simulators
from profiles import registry
from profiles.models import Client, Profile, Run, RunTrigger
from profiles.services import runs
from profiles.services.demo import demo_config

PREFIX = "benchmark-"


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Command(BaseCommand):
    help = "Measure a first sync and an unchanged re-run against the simulators."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=1000)
        parser.add_argument("--batch-size", type=int, default=100)
        parser.add_argument(
            "--types",
            default="freeagent_contact_export,emarsys_contact_sync",
            help="Comma-separated profile types to measure (unregistered ones are skipped).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON line only.")

    def handle(self, *args: Any, **options: Any) -> None:
        registered = {t.type_id for t in registry.all_types()}
        wanted = [t for t in options["types"].split(",") if t in registered]
        sims = start_simulators(
            magento_port=0,
            freeagent_port=0,
            emarsys_port=0,
            seed_customers=options["customers"],
            time_scale=0.001,
        )
        results: list[dict[str, Any]] = []
        try:
            profiles = self._setup(sims.describe(), wanted, options["batch_size"])
            for profile in profiles:
                for label in ("first sync", "unchanged re-run"):
                    started = time.perf_counter()
                    run = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
                    results.append(self._figures(profile, label, run, started))
        finally:
            sims.stop()
            self._cleanup()
        if options["json"]:
            self.stdout.write(json.dumps(results))
            return
        for row in results:
            self.stdout.write(
                f"{row['type']:<26} {row['phase']:<17} {row['contacts']:>6} contacts "
                f"{row['seconds']:>7.2f}s {row['per_second']:>8.1f}/s  "
                f"created {row['created']:>5} updated {row['updated']:>4} "
                f"unchanged {row['unchanged']:>5} failed {row['failed']:>3}  "
                f"peak RSS {row['peak_rss_mb']:.0f} MB"
            )

    def _setup(self, sims: dict[str, Any], types: list[str], batch: int) -> list[Profile]:
        from profiles.services.config import config_load

        self._cleanup()
        config = demo_config(sims)
        for client in config["clients"]:
            client["name"] = PREFIX + client["name"]
            client["rate_limit"] = {"per_minute": 10**7, "per_hour": 10**8}
        profiles = []
        for profile in config["profiles"]:
            if profile["type"] not in types:
                continue
            profile.update(
                name=PREFIX + profile["name"],
                source=PREFIX + profile["source"],
                client=PREFIX + profile["client"],
                status=False,
                process_batch_size=batch,
            )
            profiles.append(profile)
        config_load({"clients": config["clients"], "profiles": profiles})
        return list(Profile.objects.filter(name__startswith=PREFIX).order_by("pk"))

    @staticmethod
    def _figures(profile: Profile, phase: str, run: Run, started: float) -> dict[str, Any]:
        seconds = time.perf_counter() - started
        contacts = run.processed
        return {
            "type": profile.type,
            "phase": phase,
            "contacts": contacts,
            "seconds": round(seconds, 3),
            "per_second": round(contacts / seconds, 1) if seconds else 0.0,
            "created": run.created,
            "updated": run.updated,
            "unchanged": run.unchanged,
            "failed": run.failed,
            "status": run.status,
            "peak_rss_mb": round(_peak_rss_mb(), 1),
        }

    @staticmethod
    def _cleanup() -> None:
        Profile.objects.filter(name__startswith=PREFIX).delete()
        Client.objects.filter(name__startswith=PREFIX).delete()
