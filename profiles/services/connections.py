"""Building connector clients from :class:`Client` rows (credentials decrypted here only).

Every client built here shares the account's rate-limit budget (Redis when configured) and
reports its exchanges to an optional hook (the explain page records them).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings

from connectors.emarsys.auth import OAuth2ClientCredentials, WsseAuth
from connectors.emarsys.client import EmarsysClient
from connectors.errors import ConfigurationError
from connectors.freeagent.auth import FreeAgentOAuth, TokenManager, TokenState, api_base_url
from connectors.freeagent.client import FreeAgentClient
from connectors.http import ExchangeHook
from connectors.magento.client import MagentoClient
from connectors.ratelimit import budget_for
from profiles.fields import undecryptable
from profiles.models import Client, ClientType, Environment

FREEAGENT_MAX_ATTEMPTS = 4


def _redis_url() -> str | None:
    return settings.REDIS_URL or None


def lock_dir() -> Path:
    """Where file locks live when there is no Redis (one directory for every lock)."""
    path = Path(settings.VAR_DIR) / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _require(client: Client, expected: str) -> None:
    if client.type != expected:
        raise ConfigurationError(
            f"Client '{client.name}' is a {client.get_type_display()} client, "
            f"not {ClientType(expected).label}."
        )
    if client_secrets_unreadable(client):
        raise ConfigurationError(secrets_unreadable_message(client.name))


def client_secrets_unreadable(client: Client) -> bool:
    """True when no configured FIELD_ENCRYPTION_KEY opens the client's stored secrets."""
    return undecryptable(client.credentials) or undecryptable(client.token_state)


def secrets_unreadable_message(name: str) -> str:
    return (
        f"The stored secrets of '{name}' cannot be decrypted with FIELD_ENCRYPTION_KEY (was "
        "the key changed?). Put the old key back after the new one (new,old) and run "
        "`manage.py rotate_keys`, or re-enter the secrets on the client's page."
    )


def magento_client(client: Client, *, on_exchange: ExchangeHook | None = None) -> MagentoClient:
    """A Magento REST client for the store ``client`` (OAuth 1.0a integration or token)."""
    _require(client, ClientType.MAGENTO)
    if not client.base_url:
        raise ConfigurationError(f"Magento client '{client.name}' has no base URL.")
    credentials = {
        **{k: str(v) for k, v in (client.credentials or {}).items()},
        "base_url": client.base_url,
        "store_code": client.store_code or "default",
    }
    return MagentoClient.from_credentials(
        credentials,
        budget=budget_for(
            "magento",
            str(client.pk),
            redis_url=_redis_url(),
            overrides=client.settings.get("rate_limit"),
        ),
        on_exchange=on_exchange,
    )


def freeagent_base_url(client: Client) -> str:
    if client.environment == Environment.CUSTOM:
        if not client.base_url:
            raise ConfigurationError(
                f"FreeAgent client '{client.name}' uses a custom environment but has no base URL."
            )
        return client.base_url
    return api_base_url(client.environment, client.base_url or None)


def freeagent_oauth(client: Client) -> FreeAgentOAuth:
    """The OAuth endpoints of the FreeAgent app configured on ``client``."""
    _require(client, ClientType.FREEAGENT)
    credentials = client.credentials or {}
    return FreeAgentOAuth(
        str(credentials.get("client_id", "")),
        str(credentials.get("client_secret", "")),
        base_url=freeagent_base_url(client),
        budget=budget_for("freeagent-refresh", str(client.pk), redis_url=_redis_url()),
    )


def freeagent_token_save(client_pk: int, token: TokenState) -> None:
    """Persist a (rotated) token, encrypted, without touching the rest of the row."""
    Client.objects.filter(pk=client_pk).update(token_state=token.as_dict())


def freeagent_token_load(client_pk: int) -> TokenState | None:
    state = dict(Client.objects.only("token_state").get(pk=client_pk).token_state or {})
    if not state.get("access_token"):
        return None
    state.setdefault("refresh_token", "")
    if not state.get("expires_at"):
        # A token pasted into config without its expiry: refresh it at once when we can
        # (so its expiry becomes known), else trust it until FreeAgent answers 401.
        state["expires_at"] = 0 if state["refresh_token"] else time.time() + 3600
    return TokenState.from_dict(state)


def freeagent_client(
    client: Client, *, on_exchange: ExchangeHook | None = None, max_attempts: int | None = None
) -> FreeAgentClient:
    """A FreeAgent client whose token refreshes are serialised across all workers."""
    _require(client, ClientType.FREEAGENT)
    pk = client.pk
    tokens = TokenManager(
        freeagent_oauth(client),
        load=lambda: freeagent_token_load(pk),
        save=lambda token: freeagent_token_save(pk, token),
        lock_name=f"freeagent-token:{pk}",
        redis_url=_redis_url(),
        lock_dir=lock_dir(),
    )
    return FreeAgentClient(
        freeagent_base_url(client),
        tokens=tokens,
        budget=budget_for(
            "freeagent",
            str(pk),
            redis_url=_redis_url(),
            overrides=client.settings.get("rate_limit"),
        ),
        on_exchange=on_exchange,
        max_attempts=FREEAGENT_MAX_ATTEMPTS if max_attempts is None else max_attempts,
    )


def emarsys_client(client: Client, *, on_exchange: ExchangeHook | None = None) -> EmarsysClient:
    """An Emarsys client: OAuth 2.0 client credentials (default) or WSSE.

    Credentials: ``{"method": "oauth2", "client_id", "client_secret", "token_url"}`` or
    ``{"method": "wsse", "username", "secret"}``.
    """
    _require(client, ClientType.EMARSYS)
    if not client.base_url:
        raise ConfigurationError(f"Emarsys client '{client.name}' has no base URL.")
    credentials = client.credentials or {}
    method = str(credentials.get("method") or "oauth2").lower()
    auth: OAuth2ClientCredentials | WsseAuth
    if method == "wsse":
        auth = WsseAuth(str(credentials.get("username", "")), str(credentials.get("secret", "")))
        account = str(credentials.get("username", client.pk))
    elif method == "oauth2":
        kwargs: dict[str, Any] = {}
        if credentials.get("token_url"):
            kwargs["token_url"] = str(credentials["token_url"])
        auth = OAuth2ClientCredentials(
            str(credentials.get("client_id", "")),
            str(credentials.get("client_secret", "")),
            **kwargs,
        )
        account = str(credentials.get("client_id", client.pk))
    else:
        raise ConfigurationError(
            f"Emarsys client '{client.name}': unknown auth method {method!r} (oauth2 or wsse)."
        )
    return EmarsysClient(
        client.base_url,
        auth=auth,
        budget=budget_for(
            "emarsys", account, redis_url=_redis_url(), overrides=client.settings.get("rate_limit")
        ),
        on_exchange=on_exchange,
    )


def client_test_connection(client: Client) -> dict[str, Any]:
    """One cheap authenticated call; returns what it learned (raises a ConnectorError)."""
    if client.type == ClientType.MAGENTO:
        websites = magento_client(client).websites()
        return {"websites": len(websites)}
    if client.type == ClientType.FREEAGENT:
        from profiles.services.accounts import client_account_note, freeagent_account

        company = freeagent_client(client, max_attempts=1).get_company()
        client_account_note(client, freeagent_account(company))
        return {"company": company.get("name", "")}
    if client.type == ClientType.EMARSYS:
        return {"fields": len(emarsys_client(client).list_fields())}
    raise ConfigurationError(f"No connection test for client type {client.type!r}.")
