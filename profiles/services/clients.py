"""What the admin does with a client: test it, collect and delete its configuration data,
and connect a FreeAgent account through OAuth.

All network I/O happens before any database write, outside transactions; writes touch only
the columns they own (``configuration_data``/``collected_at``, ``token_state``), so a run
refreshing a token at the same time is never overwritten. Nothing here logs a secret.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from typing import Any

from django.utils import timezone

from connectors.errors import ConfigurationError
from profiles.models import Client, ClientType
from profiles.services.accounts import client_account_note, freeagent_account
from profiles.services.connections import (
    client_secrets_unreadable,
    client_test_connection,
    emarsys_client,
    freeagent_client,
    freeagent_oauth,
    freeagent_token_save,
    magento_client,
)
from profiles.services.pause import client_accepted

logger = logging.getLogger(__name__)

CHOICE_TYPES = ("singlechoice", "multichoice")
FREEAGENT_MIN_PERMISSION = 3  # "Contacts & Projects": needed to read and write contacts


def client_connection_test(*, client: Client) -> str:
    """One cheap authenticated call; a sentence saying what it found (raises ConnectorError)."""
    found = client_test_connection(client)
    client_accepted(client)  # the credentials work: paused profiles resume
    if client.type == ClientType.MAGENTO:
        return f"Connected to Magento: {found['websites']} website(s)."
    if client.type == ClientType.FREEAGENT:
        return f"Connected to FreeAgent: company “{found['company']}”."
    return f"Connected to Emarsys: {found['fields']} contact field(s)."


def client_configuration_collect(*, client: Client) -> dict[str, Any]:
    """Fetch the remote system's options that fill the profile dropdowns and cache them.

    Magento: websites, store groups and views, customer groups and attributes, countries.
    FreeAgent: company, the connected user (permission level), categories, contact options.
    Emarsys: contact fields, the choices of every single-/multi-choice field, contact lists.
    Keys written by the sync itself (e.g. the Emarsys field cache) are kept. Returns the
    stored data.
    """
    if client.type == ClientType.MAGENTO:
        data = magento_client(client).collect_configuration()
    elif client.type == ClientType.FREEAGENT:
        data = freeagent_client(client, max_attempts=2).collect_configuration()
        client_account_note(client, freeagent_account(data.get("company") or {}))
    elif client.type == ClientType.EMARSYS:
        data = _emarsys_configuration(client)
    else:
        raise ConfigurationError(f"Nothing to collect for client type {client.type!r}.")
    stored = Client.objects.only("configuration_data").get(pk=client.pk).configuration_data or {}
    merged = {**stored, **data}
    now = timezone.now()
    Client.objects.filter(pk=client.pk).update(configuration_data=merged, collected_at=now)
    client.configuration_data, client.collected_at = merged, now
    logger.info("collected configuration data of client %s (%s)", client.pk, client.type)
    return merged


def _emarsys_configuration(client: Client) -> dict[str, Any]:
    api = emarsys_client(client)
    fields = api.list_fields()
    choices = {
        f.id: [{"id": c.id, "choice": c.choice} for c in api.field_choices(f.id)]
        for f in fields
        if f.application_type in CHOICE_TYPES
    }
    return {
        "fields": [asdict(f) for f in fields],
        "choices": choices,
        "contact_lists": [{"id": cl.id, "name": cl.name} for cl in api.list_contact_lists()],
    }


def client_configuration_delete(*, client: Client) -> None:
    """Forget the cached configuration data (the dropdowns fall back to stored values)."""
    Client.objects.filter(pk=client.pk).update(configuration_data={}, collected_at=None)
    client.configuration_data, client.collected_at = {}, None


def client_configuration_summary(client: Client) -> list[str]:
    """Short human lines describing what the cached configuration data holds."""
    data = client.configuration_data or {}
    if not data or client.collected_at is None:
        return []
    lines: list[str] = []
    if client.type == ClientType.MAGENTO:
        lines.append(
            f"{len(data.get('websites') or [])} website(s), "
            f"{len(data.get('store_views') or [])} store view(s), "
            f"{len(data.get('customer_groups') or [])} customer group(s)"
        )
        lines.append(f"{len(data.get('customer_attributes') or [])} customer attribute(s)")
    elif client.type == ClientType.FREEAGENT:
        company = data.get("company") or {}
        user = data.get("user") or {}
        if company:
            lines.append(f"Company: {company.get('name', '?')} ({company.get('type', '')})")
        if user:
            level = user.get("permission_level")
            line = f"User: {user.get('email', '?')}, permission level {level}"
            if isinstance(level, int) and level < FREEAGENT_MIN_PERMISSION:
                line += " — too low to read and write contacts (needs 3 or more)"
            lines.append(line)
        options = data.get("contact_options") or {}
        if options:
            lines.append("Contact options: " + ", ".join(sorted(options)))
    elif client.type == ClientType.EMARSYS:
        lines.append(
            f"{len(data.get('fields') or [])} contact field(s), "
            f"{len(data.get('choices') or {})} with choices"
        )
        lines.append(f"{len(data.get('contact_lists') or [])} contact list(s)")
    return lines


# -- FreeAgent OAuth ------------------------------------------------------------------------


def freeagent_authorize_url(*, client: Client, redirect_uri: str, state: str) -> str:
    """Where the merchant's browser approves our app for the FreeAgent account."""
    return freeagent_oauth(client).authorize_url(redirect_uri, state)


def freeagent_connect(*, client: Client, code: str, redirect_uri: str) -> str:
    """Trade the approval ``code`` for tokens, store them encrypted and return the name of
    the connected company (read with the new token, so the connection is proven)."""
    token = freeagent_oauth(client).exchange_code(code, redirect_uri)
    freeagent_token_save(client.pk, token)
    client.token_state = token.as_dict()
    company = freeagent_client(client, max_attempts=2).get_company()
    client_account_note(client, freeagent_account(company))
    name = str(company.get("name") or "")
    settings = dict(Client.objects.only("settings").get(pk=client.pk).settings or {})
    settings["connected_company"] = name
    settings["connected_at"] = timezone.now().isoformat()
    Client.objects.filter(pk=client.pk).update(settings=settings)
    client.settings = settings
    client_accepted(client)  # connected again: paused profiles resume
    logger.info("FreeAgent client %s connected", client.pk)
    return name


def client_connection_state(client: Client) -> dict[str, Any]:
    """Whether the client can authenticate, as far as we know without a network call.

    ``ok`` False means the merchant must act (connect, or add credentials); ``label`` says
    what to show.
    """
    if client_secrets_unreadable(client):
        return {
            "ok": False,
            "label": "Stored secrets cannot be decrypted (FIELD_ENCRYPTION_KEY changed?) — "
            "re-enter them",
        }
    if client.refused_at is not None:
        return {"ok": False, "label": "Credentials refused — reconnect or fix them"}
    credentials = client.credentials or {}
    if client.type == ClientType.FREEAGENT:
        if not credentials.get("client_id") or not credentials.get("client_secret"):
            return {"ok": False, "label": "No OAuth app credentials"}
        token = client.token_state or {}
        if not token.get("access_token"):
            return {"ok": False, "label": "Not connected"}
        expires = token.get("refresh_token_expires_at")
        if expires and float(expires) < time.time():
            return {"ok": False, "label": "Connection expired — reconnect"}
        company = (client.settings or {}).get("connected_company")
        return {"ok": True, "label": f"Connected to {company}" if company else "Connected"}
    if not credentials:
        return {"ok": False, "label": "No credentials"}
    return {"ok": True, "label": "Credentials stored"}
