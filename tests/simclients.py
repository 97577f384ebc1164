"""Client rows pointing at the in-process simulators (``SimulatorSet.describe()``)."""

from __future__ import annotations

from typing import Any

from profiles.models import Client, ClientType, Environment

MAGENTO_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


def magento_client_for(info: dict[str, Any], *, name: str, **settings: Any) -> Client:
    magento = info["magento"]
    return Client.objects.create(
        name=name,
        type=ClientType.MAGENTO,
        base_url=magento["base_url"],
        store_code=magento["store_code"],
        credentials={k: magento[k] for k in MAGENTO_KEYS},
        settings=settings,
    )


def freeagent_client_for(info: dict[str, Any], *, name: str) -> Client:
    freeagent = info["freeagent"]
    return Client.objects.create(
        name=name,
        type=ClientType.FREEAGENT,
        environment=Environment.CUSTOM,
        base_url=freeagent["base_url"],
        credentials={k: freeagent[k] for k in ("client_id", "client_secret")},
        token_state={k: freeagent[k] for k in ("access_token", "refresh_token", "expires_at")},
    )


def emarsys_client_for(info: dict[str, Any], *, name: str) -> Client:
    emarsys = info["emarsys"]
    return Client.objects.create(
        name=name,
        type=ClientType.EMARSYS,
        base_url=emarsys["base_url"],
        credentials={
            "method": "wsse",
            "username": emarsys["wsse_username"],
            "secret": emarsys["wsse_secret"],
        },
    )
