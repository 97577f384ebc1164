"""`python manage.py simulate` — serve the Magento, FreeAgent and Emarsys simulators."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from connectors.simulators.kit import LOOPBACK
from connectors.simulators.serve import start_simulators


class Command(BaseCommand):
    help = (
        "Serve the API simulators on loopback and print (and write to var/simulators.json) "
        "their base URLs and the credentials they accept."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Loopback address to bind.")
        parser.add_argument("--magento-port", type=int, default=8801)
        parser.add_argument("--freeagent-port", type=int, default=8802)
        parser.add_argument("--emarsys-port", type=int, default=8803)
        parser.add_argument(
            "--seed-customers", type=int, default=0, help="Generated Magento customers."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed of the data.")
        parser.add_argument(
            "--time-scale",
            type=float,
            default=1.0,
            help="Shrinks rate-limit windows (0.05 = a 60 s window lasts 3 s).",
        )
        parser.add_argument(
            "--faults",
            default="",
            help="Fault injection for all three as JSON, e.g. '{\"error_rate\": 0.1}'. "
            "Change it later with POST /_sim/faults.",
        )
        parser.add_argument(
            "--demo-config",
            action="store_true",
            help="Also create (or update) demo clients and profiles pointing at the simulators.",
        )
        parser.add_argument(
            "--start-runs",
            action="store_true",
            help="With --demo-config: also queue a first run of each demo profile for the "
            "Celery workers (what `make demo` does; without workers, leave it out, or the "
            "queued runs wait and `fa_contact export` says the profile is running).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["host"] not in LOOPBACK:
            raise CommandError(f"Simulators bind loopback only, not {options['host']!r}.")
        try:
            faults = json.loads(options["faults"]) if options["faults"] else None
        except ValueError as exc:
            raise CommandError(f"--faults is not valid JSON: {exc}") from exc
        try:
            sims = start_simulators(
                host=options["host"],
                magento_port=options["magento_port"],
                freeagent_port=options["freeagent_port"],
                emarsys_port=options["emarsys_port"],
                seed_customers=options["seed_customers"],
                seed=options["seed"],
                time_scale=options["time_scale"],
                faults=faults,
            )
        except OSError as exc:
            raise CommandError(f"Could not start the simulators: {exc}") from exc
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        description = sims.describe()
        line = json.dumps(description, separators=(",", ":"))
        out = Path(settings.VAR_DIR) / "simulators.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        if options["demo_config"]:
            from profiles.services.demo import demo_config_load

            demo_config_load(simulators=description, start_runs=options["start_runs"])
        out.write_text(line + "\n")
        self.stdout.write(line)
        self.stdout.flush()
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        stop.wait()
        sims.stop()
