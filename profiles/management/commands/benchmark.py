"""`python manage.py benchmark` — what a first sync costs, as a ratio to the bare-HTTP floor.

Starts the simulators in a process of their own (as a remote API is: their CPU and memory
are not ours) with N generated customers and rate limits out of the way (their windows
shrunk, our budgets raised to match), creates throwaway
``benchmark-*`` clients and profiles, runs a first export and an unchanged re-run of each
profile type in the foreground, then the same necessary requests with no database (the
floor, against fresh simulators), prints the figures, and deletes what it created. Speed
targets are measured here, never in timed tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection

from profiles import registry
from profiles.benchmark.floor import FLOORS
from profiles.benchmark.measure import RequestLog, figures, queries_counted
from profiles.benchmark.real_limits import freeagent_at_real_limits
from profiles.benchmark.simprocess import SimulatorProcess
from profiles.models import Client, Profile, RunTrigger
from profiles.services import runs
from profiles.services.demo import demo_config

PREFIX = "benchmark-"
VENDORS = {"sqlite": "sqlite", "postgres": "postgresql"}


class Command(BaseCommand):
    help = "Measure a first sync and an unchanged re-run against the simulators and the floor."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--customers", type=int, default=1000)
        parser.add_argument(
            "--batch-size",
            type=int,
            default=None,
            help="Process batch size (default: each profile type's own default).",
        )
        parser.add_argument(
            "--types",
            default="freeagent_contact_export,emarsys_contact_sync",
            help="Comma-separated profile types to measure (unregistered ones are skipped).",
        )
        parser.add_argument(
            "--database",
            choices=sorted(VENDORS),
            default=None,
            help="sqlite: a scratch SQLite file under var/bench; postgres: the database "
            "DATABASE_URL names. Default: whatever this process is configured with.",
        )
        parser.add_argument("--no-floor", action="store_true", help="Skip the floor run.")
        parser.add_argument(
            "--real-limits",
            action="store_true",
            help="Instead: FreeAgent at its real limits (time-scaled), two Celery workers "
            "sharing the budget in Redis; useful requests a minute against the ceiling.",
        )
        parser.add_argument(
            "--time-scale",
            type=float,
            default=0.1,
            help="With --real-limits: how fast simulated time runs (0.1: a minute in 6 s).",
        )
        parser.add_argument("--json", action="store_true", help="Print one JSON line only.")

    def handle(self, *args: Any, **options: Any) -> None:
        wanted_db = options["database"]
        if wanted_db and connection.vendor != VENDORS[wanted_db]:
            self._reexec(wanted_db)
            return
        call_command("migrate", verbosity=0)  # a scratch database may be new
        # Measured as production runs: with DEBUG on, Django would also record every query
        # (its debug cursor) — a cost production never pays.
        settings.DEBUG = False
        if options["real_limits"]:
            row = freeagent_at_real_limits(
                customers=options["customers"], time_scale=options["time_scale"]
            )
            row["database"] = connection.vendor
            if options["json"]:
                self.stdout.write(json.dumps([row]))
            else:
                self.stdout.write(
                    f"FreeAgent at real limits, 2 workers: {row['useful_per_minute']} useful "
                    f"requests a minute over {row['scaled_minutes_measured']} minute(s) = "
                    f"{row['share_of_ceiling']:.1%} of 120; {row['responses_429']} answers 429, "
                    f"{row['failed_by_429']} contact(s) failed by a 429; {row['created']} created, "
                    f"{row['failed']} failed (run {row['status']}); database: {connection.vendor}"
                )
            return
        registered = {t.type_id for t in registry.all_types()}
        wanted = [t for t in options["types"].split(",") if t in registered]
        results = self._ours(options["customers"], wanted, options["batch_size"])
        if not options["no_floor"]:
            self._floors(options["customers"], results)
        for row in results:
            row["database"] = connection.vendor
        if options["json"]:
            self.stdout.write(json.dumps(results))
            return
        self._table(results)

    # -- ours ------------------------------------------------------------------------------

    def _ours(self, customers: int, types: list[str], batch: int | None) -> list[dict[str, Any]]:
        sims = _simulators(customers)
        results: list[dict[str, Any]] = []
        try:
            requests_served = RequestLog(sims.describe())
            for profile in self._setup(sims.describe(), types, batch):
                for phase in ("first sync", "unchanged re-run"):
                    requests_served.mark()
                    started = time.perf_counter()
                    with queries_counted() as queries:
                        run = runs.run_start(
                            profile=profile, trigger=RunTrigger.CLI, foreground=True
                        )
                    seconds = time.perf_counter() - started
                    results.append(
                        figures(profile, phase, run, seconds, queries, requests_served.since_mark())
                    )
        finally:
            simulators_rss = sims.peak_rss_mb()
            sims.stop()
            self._cleanup()
        for row in results:
            row["simulators_peak_rss_mb"] = round(simulators_rss, 1)
        return results

    def _setup(self, sims: dict[str, Any], types: list[str], batch: int | None) -> list[Profile]:
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
            )
            profile.pop("process_batch_size", None)  # the type's default
            if batch:
                profile["process_batch_size"] = batch
            profiles.append(profile)
        config_load({"clients": config["clients"], "profiles": profiles})
        return list(Profile.objects.filter(name__startswith=PREFIX).order_by("pk"))

    @staticmethod
    def _cleanup() -> None:
        Profile.objects.filter(name__startswith=PREFIX).delete()
        Client.objects.filter(name__startswith=PREFIX).delete()

    # -- the floor -------------------------------------------------------------------------

    @staticmethod
    def _floors(customers: int, results: list[dict[str, Any]]) -> None:
        for row in results:
            if row["phase"] != "first sync" or row["type"] not in FLOORS:
                continue
            sims = _simulators(customers)  # fresh: the floor creates what ours created
            try:
                floor = FLOORS[row["type"]](sims.describe(), row["created"] + row["updated"])
            finally:
                sims.stop()
            row["floor"] = floor.as_dict()
            row["ratio_to_floor"] = (
                round(row["seconds"] / floor.seconds, 2) if floor.seconds else None
            )

    # -- output ----------------------------------------------------------------------------

    def _table(self, results: list[dict[str, Any]]) -> None:
        for row in results:
            line = (
                f"{row['type']:<25} {row['phase']:<16} {row['contacts']:>6} contacts "
                f"{row['seconds']:>8.2f}s {row['per_second']:>7.1f}/s  created {row['created']:>5} "
                f"updated {row['updated']:>4} unchanged {row['unchanged']:>5} "
                f"failed {row['failed']:>3}  peak RSS {row['peak_rss_mb']:.0f} MB "
                f"(simulators: {row['simulators_peak_rss_mb']:.0f} MB, their own process)"
            )
            self.stdout.write(line)
            self.stdout.write(
                f"{'':<25} {'':<16} queries: {row['collection_queries']} collecting, "
                f"{row['queries_per_batch']} per batch of {row['batch_size']}; requests: "
                f"Magento {row['magento_requests']}, target {row['target_requests']} "
                f"({row['target_writes']} writes"
                + (
                    f", {row['requests_per_exported_contact']} per exported contact"
                    if row["requests_per_exported_contact"] is not None
                    else ""
                )
                + ")"
            )
            if "floor" in row:
                floor = row["floor"]
                self.stdout.write(
                    f"{'':<25} {'floor':<16} {floor['contacts']:>6} contacts "
                    f"{floor['seconds']:>8.2f}s in {floor['requests']} requests, no database"
                    f"  → ours is {row['ratio_to_floor']}× the floor"
                )
        self.stdout.write(f"database: {connection.vendor}")

    # -- another database ------------------------------------------------------------------

    def _reexec(self, wanted: str) -> None:
        """Run this benchmark again in a process configured for the wanted database."""
        env = dict(os.environ)
        if wanted == "sqlite":
            env.pop("DATABASE_URL", None)
            env["CONTACT_SYNC_VAR_DIR"] = str(settings.BASE_DIR / "var" / "bench")
        elif not env.get("DATABASE_URL", "").startswith("postgres"):
            raise CommandError("--database postgres needs DATABASE_URL=postgres://… set.")
        argv = [a for a in sys.argv[1:] if not a.startswith("--database")]
        if "--database" in sys.argv:
            index = sys.argv.index("--database")
            argv = [a for i, a in enumerate(sys.argv[1:], start=1) if i not in (index, index + 1)]
        manage = [sys.executable, sys.argv[0]]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        result = subprocess.run([*manage, *argv], env=env, check=False)
        if result.returncode:
            raise CommandError(f"the benchmark on {wanted} exited with {result.returncode}")


# Rate-limit windows shrunk 10,000 times: FreeAgent's 3,600 an hour allow 10,000 requests a
# second, out of reach of a client on loopback (at 0.001 the floor, a request a millisecond,
# met FreeAgent's hourly limit).
BENCH_TIME_SCALE = 0.0001


def _simulators(customers: int) -> SimulatorProcess:
    return SimulatorProcess(customers, time_scale=BENCH_TIME_SCALE)
