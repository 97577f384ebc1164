"""Serving the three API simulators together (``python manage.py simulate``, the demo, tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connectors.simulators.emarsys import app as emarsys_sim
from connectors.simulators.freeagent import app as freeagent_sim
from connectors.simulators.kit import Faults, RunningServer, serve
from connectors.simulators.magento import app as magento_sim


@dataclass
class SimulatorSet:
    """The three simulators, served; ``describe()`` is what ``simulate`` prints."""

    magento: RunningServer
    freeagent: RunningServer
    emarsys: RunningServer

    def describe(self) -> dict[str, Any]:
        return {
            "magento": self.magento.app.credentials(self.magento.url),  # type: ignore[attr-defined]
            "freeagent": self.freeagent.app.credentials(self.freeagent.url),  # type: ignore[attr-defined]
            "emarsys": self.emarsys.app.credentials(self.emarsys.url),  # type: ignore[attr-defined]
        }

    def stop(self) -> None:
        for server in (self.magento, self.freeagent, self.emarsys):
            server.stop()


def start_simulators(
    *,
    host: str = "127.0.0.1",
    magento_port: int = 8801,
    freeagent_port: int = 8802,
    emarsys_port: int = 8803,
    seed_customers: int = 0,
    seed: int = 1,
    time_scale: float = 1.0,
    faults: dict[str, Any] | None = None,
) -> SimulatorSet:
    """Start Magento, FreeAgent and Emarsys simulators on loopback (port 0 = any free port)."""

    def fault_settings() -> Faults:
        settings = Faults()
        settings.update(faults or {})
        return settings

    servers: list[RunningServer] = []
    try:
        servers.append(
            serve(
                magento_sim.create_app(
                    seed=seed,
                    time_scale=time_scale,
                    faults=fault_settings(),
                    seed_customers=seed_customers,
                ),
                host,
                magento_port,
            )
        )
        servers.append(
            serve(
                freeagent_sim.create_app(seed=seed, time_scale=time_scale, faults=fault_settings()),
                host,
                freeagent_port,
            )
        )
        servers.append(
            serve(
                emarsys_sim.create_app(seed=seed, time_scale=time_scale, faults=fault_settings()),
                host,
                emarsys_port,
            )
        )
    except BaseException:
        for server in servers:
            server.stop()
        raise
    return SimulatorSet(*servers)
