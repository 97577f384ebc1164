"""The demo's configuration: clients and profiles pointing at the running simulators."""

from __future__ import annotations

import logging
from typing import Any

from profiles import registry
from profiles.models import Profile, RunTrigger
from profiles.services import runs
from profiles.services.config import ConfigResult, config_load

logger = logging.getLogger(__name__)


def demo_config(simulators: dict[str, Any]) -> dict[str, Any]:
    """Config data (as load_config takes it) for the simulators ``simulate`` describes."""
    magento, freeagent, emarsys = (
        simulators["magento"],
        simulators["freeagent"],
        simulators["emarsys"],
    )
    clients: list[dict[str, Any]] = [
        {
            "name": "Demo store",
            "type": "magento",
            "base_url": magento["base_url"],
            "store_code": magento["store_code"],
            "auth": {
                "method": "oauth1",
                **{
                    k: magento[k]
                    for k in (
                        "consumer_key",
                        "consumer_secret",
                        "access_token",
                        "access_token_secret",
                    )
                },
            },
            "subscribers": {"source": "rest"},
        },
        {
            "name": "Demo FreeAgent",
            "type": "freeagent",
            "environment": "custom",
            "base_url": freeagent["base_url"],
            # `make demo` runs the simulators ten times faster than real time.
            "rate_limit": {"per_minute": 1200, "per_hour": 36000},
            "auth": {
                k: freeagent[k]
                for k in (
                    "client_id",
                    "client_secret",
                    "access_token",
                    "refresh_token",
                    "expires_at",
                )
            },
        },
        {
            "name": "Demo Emarsys",
            "type": "emarsys",
            "base_url": emarsys["base_url"],
            "auth": {
                "method": "wsse",
                "username": emarsys["wsse_username"],
                "secret": emarsys["wsse_secret"],
            },
        },
    ]
    profiles: list[dict[str, Any]] = [
        {
            "name": "FreeAgent contacts",
            "type": "freeagent_contact_export",
            "source": "Demo store",
            "client": "Demo FreeAgent",
            "status": True,
            "schedule": "*/15 * * * *",
            "process_batch_size": 100,
            "enable_retry_on_failure": True,
            "retry_max_attempts": 3,
            "api_behaviour": "create_and_update",
        }
    ]
    if "emarsys_contact_sync" in {t.type_id for t in registry.all_types()}:
        profiles.append(
            {
                "name": "Emarsys contacts",
                "type": "emarsys_contact_sync",
                "source": "Demo store",
                "client": "Demo Emarsys",
                "status": True,
                # The demo store reads subscribers through the REST route: guests too.
                "export_types": "both",
                # One upsert call per batch: Emarsys takes up to 1,000 contacts a call.
                "process_batch_size": 1000,
            }
        )
    return {"clients": clients, "profiles": profiles}


def demo_config_load(*, simulators: dict[str, Any], start_runs: bool = True) -> ConfigResult:
    """Load the demo configuration and queue a first run of every demo profile at once."""
    config = demo_config(simulators)
    result = config_load(config)
    if start_runs:
        for entry in config["profiles"]:
            profile = Profile.objects.get(name=entry["name"])
            try:
                runs.run_start(profile=profile, trigger=RunTrigger.SCHEDULE)
            except runs.RunAlreadyActive as exc:
                logger.info("%s", exc)
    return result
