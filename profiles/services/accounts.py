"""The target account is part of a contact's identity.

A profile's links (FreeAgent contact URLs, Emarsys internal ids) and the FreeAgent contacts
cache belong to one remote account. A client can be pointed at another one — sandbox to
production, another company reconnected, another Emarsys account's credentials — and an
update by a numeric id from the old account would then overwrite a stranger in the new
one. So:

* the client remembers which account it reaches (``Client.settings["account"]``: FreeAgent's
  company id and name, read whenever we talk to ``/company``; Emarsys' endpoint and API
  user);
* the profile remembers the account its links belong to (``Profile.state["account"]``, set
  at its first run);
* when the two differ, the profile stops before anything is sent — every run fails with
  the reason, scheduled runs wait — and the admin offers **Start over in the new account**
  (links, what was sent and the contacts cache forgotten, everyone re-resolved by e-mail in
  the new account) or, by reconnecting the old account, **Revert**: the profile resumes by
  itself once the client reaches its account again.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from connectors.errors import ConfigurationError
from profiles.models import Client, ClientType, Profile, QueueStatus

logger = logging.getLogger(__name__)

STATE_KEY = "account"


class AccountChanged(ConfigurationError):
    """The profile's client now reaches another account than its links belong to."""


def client_account_note(client: Client, account: dict[str, Any]) -> None:
    """Remember which account the client reaches (``{"id", "name"}``)."""
    if not account.get("id"):
        return
    fresh = Client.objects.only("settings").get(pk=client.pk)
    settings = dict(fresh.settings or {})
    if settings.get(STATE_KEY) == account:
        client.settings = settings
        return
    settings[STATE_KEY] = account
    Client.objects.filter(pk=client.pk).update(settings=settings)
    client.settings = settings


def freeagent_account(company: dict[str, Any]) -> dict[str, Any]:
    """A FreeAgent company as an account (its id, else its subdomain, and its name)."""
    ident = company.get("id") or company.get("subdomain") or company.get("url") or ""
    return {"id": str(ident), "name": str(company.get("name") or "")}


def emarsys_account(client: Client) -> dict[str, Any]:
    """An Emarsys account as far as we can tell without a call: the endpoint and the API
    user (another user's credentials may be another customer's account)."""
    credentials = client.credentials or {}
    user = credentials.get("username") or credentials.get("client_id") or ""
    return {"id": f"{client.base_url.rstrip('/')}|{user}", "name": str(user)}


def client_account(client: Client) -> dict[str, Any] | None:
    """The account the client reaches, as last seen (Emarsys: from its settings)."""
    if client.type == ClientType.EMARSYS:
        return emarsys_account(client)
    account = (client.settings or {}).get(STATE_KEY)
    return account if isinstance(account, dict) and account.get("id") else None


def profile_account_check(profile: Profile) -> None:
    """Raise :class:`AccountChanged` when the profile's client reaches another account than
    its links belong to; remember the account at the first run (or when it has no links)."""
    client = profile.client
    if client is None:
        return
    current = client_account(client)
    if current is None:
        return  # not known yet (a FreeAgent client never read /company): nothing to compare
    state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
    known = state.get(STATE_KEY)
    if isinstance(known, dict) and known.get("id") and known["id"] != current["id"]:
        raise AccountChanged(account_changed_message(profile, known, current))
    if known != current:
        state[STATE_KEY] = current
        Profile.objects.filter(pk=profile.pk).update(state=state)
        profile.state = state


def account_changed_message(
    profile: Profile, known: dict[str, Any], current: dict[str, Any]
) -> str:
    client = profile.client
    return (
        f"The client '{client.name if client else '?'}' now reaches account "
        f"'{current.get('name') or current['id']}', but this profile's contacts belong to "
        f"'{known.get('name') or known['id']}'. Nothing is sent until you choose: start over "
        "in the new account (the profile's page), or reconnect the client to the old one."
    )


def profile_account_mismatch(profile: Profile) -> str:
    """The reason the profile is stopped by an account change ("" when it is not)."""
    client = profile.client
    if client is None:
        return ""
    current = client_account(client)
    known = (profile.state or {}).get(STATE_KEY)
    if current is None or not isinstance(known, dict) or not known.get("id"):
        return ""
    if known["id"] == current["id"]:
        return ""
    return account_changed_message(profile, known, current)


def profile_start_over(*, profile: Profile) -> int:
    """Forget everything that belongs to the old account — links, what was sent, the
    contacts cache of the client — and queue every contact, to be resolved by e-mail in the
    account the client reaches now. Returns how many contacts were queued."""
    from profiles import registry

    client = profile.client
    if client is None:
        raise ConfigurationError(f"Profile '{profile.name}' has no client.")
    current = client_account(client)
    ptype = registry.get(profile.type)
    with transaction.atomic():
        entities = ptype.entities(profile).exclude(queue_status=QueueStatus.PROCESSING)
        queued = entities.update(
            remote_id="",
            last_payload_hash="",
            queue_status=QueueStatus.PENDING,
            next_attempt_at=None,
            attempts=0,
        )
        ptype.forget_remote(profile=profile)
        state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
        if current is not None:
            state[STATE_KEY] = current
        else:
            state.pop(STATE_KEY, None)
        Profile.objects.filter(pk=profile.pk).update(state=state)
        profile.state = state
    logger.warning(
        "profile %s started over in account %s: %d contact(s) queued", profile.pk, current, queued
    )
    return queued


def profile_account_same(*, profile: Profile) -> None:
    """The merchant confirms the client still reaches the same account (say a new API user
    of the same Emarsys account): its links stay, the profile goes on."""
    client = profile.client
    current = client_account(client) if client is not None else None
    state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
    if current is None:
        state.pop(STATE_KEY, None)
    else:
        state[STATE_KEY] = current
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state
