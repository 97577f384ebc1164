"""Selectors behind the dashboard, the run page and its progress endpoint. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone

from profiles import registry
from profiles.fields import undecryptable
from profiles.models import (
    ACTIVE_RUN_STATUSES,
    Client,
    ClientType,
    Profile,
    QueueStatus,
    Run,
    RunStatus,
    SyncStatus,
)
from profiles.services.accounts import profile_account_mismatch
from profiles.services.alerts import open_incidents
from profiles.services.clients import client_connection_state
from profiles.services.connections import client_secrets_unreadable, secrets_unreadable_message
from profiles.services.pause import profile_paused_by

AUTH_MARKERS = ("refused the credentials", "AuthError", "reconnect the client")
RECENT = timedelta(days=1)


@dataclass(frozen=True)
class Attention:
    """One reason the merchant should act, with where to do it."""

    level: str  # "error" | "warning"
    text: str
    url: str
    action: str


def _entities(profile: Profile) -> Any:
    try:
        return registry.get(profile.type).entities(profile)
    except registry.UnknownProfileType:
        return None


def attention_items(user: Any = None) -> list[Attention]:
    """Contacts and clients that need the merchant: permanently failed contacts, ambiguous
    duplicates, rejected or missing credentials, failed last runs.

    With ``user``, the client banners (names and connection states) and links to client
    pages only for users who may view clients.
    """
    items: list[Attention] = []
    show_clients = user is None or user.has_perm("profiles.view_client")
    entity_list = reverse("admin:contacts_contactentity_changelist")
    if show_clients:
        for client in Client.objects.order_by("name"):
            if client_secrets_unreadable(client):
                items.append(
                    Attention(
                        "error",
                        secrets_unreadable_message(client.name),
                        reverse("admin:profiles_client_change", args=[client.pk]),
                        "Open client",
                    )
                )
    for profile in Profile.objects.select_related("client").order_by("name"):
        held = profile.deletion_requests.filter(status="waiting").first()
        if held is not None:
            count = held.records.filter(outcome="waiting").count()
            items.append(
                Attention(
                    "warning",
                    f"{profile.name}: {count} deletions held by the approval brake wait for "
                    "you to approve or reject them.",
                    reverse("admin:profiles_profile_change", args=[profile.pk]) + "#deletions-held",
                    "Review deletions",
                )
            )
        for incident in open_incidents(profile):
            if held is not None and incident.get("kind") == "approval_waiting":
                continue  # said just above
            told = " (alert sent)" if incident.get("sent") else ""
            items.append(
                Attention(
                    "warning",
                    f"{profile.name}: {incident.get('detail')}{told}.",
                    reverse("admin:profiles_profile_change", args=[profile.pk]),
                    "Open profile",
                )
            )
        if undecryptable(profile.settings):
            items.append(
                Attention(
                    "error",
                    f"{profile.name}: its settings cannot be decrypted with "
                    "FIELD_ENCRYPTION_KEY (was the key changed?); it does not run.",
                    reverse("admin:profiles_profile_change", args=[profile.pk]),
                    "Review",
                )
            )
        qs = _entities(profile)
        if qs is None:
            continue
        counts = qs.aggregate(
            failed=Count("pk", filter=Q(queue_status=QueueStatus.FAILED)),
            ambiguous=Count("pk", filter=Q(status=SyncStatus.AMBIGUOUS)),
            auth=Count(
                "pk",
                filter=Q(processed_at__gte=timezone.now() - RECENT)
                & Q(queue_status__in=[QueueStatus.FAILED, QueueStatus.RETRY])
                & _auth_q(),
            ),
        )
        base = f"{entity_list}?profile__id__exact={profile.pk}"
        changed = profile_account_mismatch(profile)
        if changed:
            items.append(
                Attention(
                    "error",
                    f"{profile.name}: stopped — {changed}",
                    reverse("admin:profiles_profile_change", args=[profile.pk]),
                    "Decide",
                )
            )
        refused = profile_paused_by(profile)
        if refused is not None:
            items.append(
                Attention(
                    "error",
                    f"{profile.name}: paused — {refused.name if show_clients else 'a client'} "
                    "refused the credentials. Contacts wait without using up attempts; runs "
                    "resume after a reconnect or a successful Test connection.",
                    reverse("admin:profiles_client_change", args=[refused.pk])
                    if show_clients
                    else reverse("admin:profiles_profile_change", args=[profile.pk]),
                    "Reconnect" if show_clients else "Review",
                )
            )
        elif counts["auth"]:
            items.append(
                Attention(
                    "error",
                    f"{profile.name}: {counts['auth']} contact(s) failed because the remote "
                    "system refused the credentials — reconnect or fix the client.",
                    reverse("admin:profiles_client_change", args=[profile.client_id])
                    if profile.client_id and show_clients
                    else base,
                    "Open client" if profile.client_id and show_clients else "Review",
                )
            )
        if counts["failed"]:
            items.append(
                Attention(
                    "error",
                    f"{profile.name}: {counts['failed']} contact(s) permanently failed and "
                    "need manual action.",
                    f"{base}&queue_status__exact=failed",
                    "Review",
                )
            )
        if counts["ambiguous"]:
            items.append(
                Attention(
                    "warning",
                    f"{profile.name}: {counts['ambiguous']} contact(s) match several remote "
                    "contacts with the same e-mail (possible duplicates); nothing was sent.",
                    f"{base}&status__exact=ambiguous",
                    "Review",
                )
            )
        last = profile.runs.filter(dry_run=False).exclude(status__in=ACTIVE_RUN_STATUSES).first()
        if last is not None and last.status == RunStatus.FAILED and last.failed == 0:
            items.append(
                Attention(
                    "error",
                    f"{profile.name}: the last run failed — {last.summary[:200]}",
                    reverse("admin:profiles_run_change", args=[last.pk]),
                    "Open run",
                )
            )
    if not show_clients:
        return items
    used = Client.objects.filter(
        Q(target_profiles__isnull=False) | Q(source_profiles__isnull=False)
    ).distinct()
    for client in used.order_by("name"):
        state = client_connection_state(client)
        if not state["ok"]:
            action = "Connect" if client.type == ClientType.FREEAGENT else "Edit client"
            items.append(
                Attention(
                    "error",
                    f"Client {client.name}: {state['label']}.",
                    reverse("admin:profiles_client_change", args=[client.pk]),
                    action,
                )
            )
    return items


def _auth_q() -> Q:
    q = Q()
    for marker in AUTH_MARKERS:
        q |= Q(message__text__icontains=marker)
    return q


LIVE_LOG_LINES = 20


def run_progress(run: Run) -> dict[str, Any]:
    """Counts, an estimate of the total and whether the run is still going."""
    remaining = 0
    active = run.status in ACTIVE_RUN_STATUSES
    if active:
        try:
            ptype = registry.get(run.profile.type)
        except registry.UnknownProfileType:
            ptype = None
        if ptype is not None:
            from profiles.services.runs import claimable_entities

            pending = claimable_entities(run=run)
            if run.dry_run:
                pending = pending.filter(pk__gt=int(run.scope.get("dry_run_cursor", 0)))
            remaining = pending.count()
            if not run.dry_run:
                remaining += (
                    ptype.entities(run.profile)
                    .filter(queue_status=QueueStatus.PROCESSING, run=run)
                    .count()
                )
    recorded = run.processed + run.retried
    total = recorded + remaining  # the in-flight ones are in ``remaining`` until recorded
    processed = min(total, recorded + run.live_done) if active else recorded
    percent = 100 if not active else (int(processed * 100 / total) if total else 0)
    collecting = active and run.collection_finished_at is None
    return {
        "id": run.pk,
        "status": run.status,
        "status_label": run.status_label,
        "kind": run.kind_label,
        "active": active,
        "collecting": collecting,
        "dry_run": run.dry_run,
        "collected": run.collected,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "skipped": run.skipped,
        "failed": run.failed,
        "retried": run.retried,
        "processed": processed,
        "total": total,
        "percent": percent,
        "text": progress_text(
            collecting=collecting, processed=processed, total=total, run=run, active=active
        ),
        "summary": run.summary,
        "duration": run.duration_seconds,
        # The newest log lines, so a running export's page shows what it is doing.
        "log": [
            {
                "time": timezone.localtime(e.created_at).strftime("%H:%M:%S"),
                "level": e.level,
                "message": e.message,
                "entity_id": e.entity_id,
            }
            for e in reversed(run.events.order_by("-created_at", "-pk")[:LIVE_LOG_LINES])
        ],
    }


def progress_text(*, collecting: bool, processed: int, total: int, run: Run, active: bool) -> str:
    """One line of where a run is, as its page and every live badge show it."""
    if run.status == "queued":
        return "Waiting for a worker to start it."
    if collecting:
        return "Collecting changed contacts from Magento…"
    text = f"{processed} of {total} contacts processed"
    if not active and run.duration_seconds is not None:
        text += f" in {run.duration_seconds:.1f} s"
    return text + "."


def active_runs() -> list[Run]:
    return list(
        Run.objects.filter(status__in=ACTIVE_RUN_STATUSES).select_related("profile").order_by("pk")
    )


def run_series(*, profile: Profile | None = None, limit: int = 30) -> list[Run]:
    """The last ``limit`` finished real export runs, oldest first (for charts): an opt-in
    sync or a drift check exports nothing, so it is no bar of an export chart."""
    qs = (
        Run.objects.filter(dry_run=False)
        .exclude(status__in=ACTIVE_RUN_STATUSES)
        .exclude(scope__has_key="job")
    )
    if profile is not None:
        qs = qs.filter(profile=profile)
    return list(reversed(qs.select_related("profile").order_by("-created_at", "-pk")[:limit]))


def profile_cards() -> list[dict[str, Any]]:
    """Per profile: type, schedule, the last run and the entity table by queue status."""
    cards = []
    for profile in Profile.objects.select_related("client", "source_client").order_by("name"):
        qs = _entities(profile)
        queue: dict[str, int] = {}
        if qs is not None:
            queue = {
                row["queue_status"]: row["n"]
                for row in qs.values("queue_status").annotate(n=Count("pk"))
            }
        try:
            label = registry.get(profile.type).label
        except registry.UnknownProfileType:
            label = f"{profile.type} (not installed)"
        last_run = profile.runs.filter(dry_run=False).exclude(scope__has_key="job").first()
        failed = queue.get(QueueStatus.FAILED.value, 0)
        earlier = failed if last_run is not None and failed > last_run.failed else 0
        cards.append(
            {
                "profile": profile,
                "type_label": label,
                "last_run": last_run,
                # A clean last run does not make earlier failures go away: said beside it.
                "failed_earlier": earlier,
                "queue": [(s.value, s.label, queue.get(s.value, 0)) for s in QueueStatus],
                "total": sum(queue.values()),
            }
        )
    return cards
