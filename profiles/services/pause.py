"""Refused credentials pause the profiles of a client, not their contacts.

When FreeAgent, Emarsys or Magento refuses a client's credentials (401/403), every contact
that could not be sent is put back as it was — no attempt used up, nothing failed — and the
client is marked *refused*. Scheduled runs and webhooks of the profiles using it do not
start while it is; the profile page and the dashboard say "paused: credentials refused"
with the way to reconnect. A successful *Test connection*, *Connect to FreeAgent*, new
credentials saved in the client form, or a run that writes again ends the pause.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db.models import Q
from django.utils import timezone

from connectors.errors import AuthError, ConnectorError
from profiles.models import Client, Profile, QueueStatus
from profiles.pipeline import Outcome, WorkItem

logger = logging.getLogger(__name__)


def client_refused(client: Client, reason: str) -> None:
    """Mark the client's credentials as refused (its profiles pause)."""
    now = timezone.now()
    Client.objects.filter(pk=client.pk).update(refused_at=now, refused_reason=reason[:1000])
    client.refused_at, client.refused_reason = now, reason[:1000]
    logger.warning(
        "client %s: credentials refused (%s); its profiles are paused", client.pk, reason
    )


def client_accepted(client: Client) -> bool:
    """The credentials work again: the profiles resume and their paused contacts are
    queued. True when a pause ended."""
    ended = bool(
        Client.objects.filter(pk=client.pk, refused_at__isnull=False).update(
            refused_at=None, refused_reason=""
        )
    )
    client.refused_at, client.refused_reason = None, ""
    if ended:
        resumed = paused_entities_resume(client)
        logger.info(
            "client %s: credentials accepted again; its profiles resume (%d contact(s) queued)",
            client.pk,
            resumed,
        )
    return ended


class ProfilePaused(ConnectorError):
    """An on-demand run of a profile whose client still refuses its credentials."""


def profile_pause_check(profile: Profile) -> None:
    """Before an on-demand run (command line, *Export now*) of a paused profile: try the
    refused client once (one cheap call). Accepted, the pause ends and its contacts are
    queued again; refused still, :class:`ProfilePaused` says so — never a silent run that
    does nothing."""
    from profiles.services.clients import client_connection_test

    client = profile_paused_by(profile)
    if client is None:
        return
    try:
        client_connection_test(client=client)  # resumes the paused contacts when it works
    except ConnectorError as exc:
        raise ProfilePaused(
            f"Profile '{profile.name}' is paused: {client.type} client '{client.name}' "
            f"refuses its credentials ({client.refused_reason or exc}). Reconnect it or enter "
            f"new credentials (admin: Clients → {client.name}), then run again."
        ) from exc


def paused_entities_resume(client: Client) -> int:
    """Queue the contacts that wait for this client's reconnect (retry with no due time)."""
    from profiles import registry

    profiles = Profile.objects.filter(Q(client=client) | Q(source_client=client))
    resumed = 0
    for model in {ptype.entity_model for ptype in registry.all_types()}:
        resumed += model._default_manager.filter(
            profile__in=profiles, queue_status=QueueStatus.RETRY, next_attempt_at__isnull=True
        ).update(queue_status=QueueStatus.PENDING)
    return resumed


def profile_paused_by(profile: Profile) -> Client | None:
    """The client whose refused credentials pause this profile (None: not paused)."""
    for client_id in (profile.client_id, profile.source_client_id):
        if client_id is None:
            continue
        client = Client.objects.filter(pk=client_id, refused_at__isnull=False).first()
        if client is not None:
            return client
    return None


def items_pause(items: Sequence[WorkItem], client: Client, reason: str) -> int:
    """The batch's contacts deferred by refused credentials wait for the reconnect instead
    of using up an attempt; the client is marked refused. Returns how many."""
    paused = 0
    for item in items:
        if item.outcome == Outcome.RETRY:
            item.finish(Outcome.PAUSED, f"Paused: {reason}")
            paused += 1
    if paused:
        client_refused(client, reason)
    return paused


def refused_reason(exc: BaseException) -> str | None:
    """The sentence for a refusal, or None when ``exc`` is not one."""
    if isinstance(exc, AuthError):
        text = f"{exc.message} (HTTP {exc.status or '?'})"
        return text if "reconnect" in text else f"{text} — reconnect or fix the client."
    return None
