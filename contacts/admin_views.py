"""Admin views of the contact entity table: the per-contact explain page and the buttons
acting on one contact (dry run, export now, retry, reset, fetch from Emarsys) or on a
profile's contacts (retry failed, Emarsys initial export).

Thin: check the model permission, call one service, report, redirect. Wrapped by
``admin_site.admin_view`` (staff only, CSRF protected); state changes are POST only.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.contrib.admin.exceptions import NotRegistered
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.http import require_POST

from connectors.errors import ConnectorError
from contacts.models import ContactEntity, DeliveryAttempt
from contacts.services.entities import entities_reset, entities_retry
from contacts.services.refresh import entities_refresh
from profiles import registry
from profiles.admin_views import start_run
from profiles.models import Profile, QueueStatus, RunEvent

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

EMARSYS_TYPE = "emarsys_contact_sync"
ATTEMPTS_SHOWN = 50


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _profile_change_allowed(
    admin: ModelAdmin[ContactEntity], request: HttpRequest, profile: Profile
) -> bool:
    """Profile-wide actions need ``change`` on the profile itself (its ModelAdmin decides)."""
    try:
        profile_admin = admin.admin_site.get_model_admin(Profile)
    except NotRegistered:  # no profile admin, no profile-wide actions
        return False
    return bool(profile_admin.has_change_permission(request, profile))


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _can_fetch_remote(entity: ContactEntity) -> bool:
    """Emarsys contacts with an internal id can be read live ("Fetch from Emarsys")."""
    return entity.profile.type == EMARSYS_TYPE and bool(entity.remote_id)


def explain_page(
    admin: ModelAdmin[ContactEntity],
    request: HttpRequest,
    entity: ContactEntity,
    *,
    fetched: dict[str, Any] | None = None,
) -> HttpResponse:
    """Source, mapped payload, last sent, the remote record, the diff and every attempt.

    ``fetched`` is the remote record just read from the remote system; it replaces the
    "Remote record now" the profile type explains from local data.
    """
    _require(admin.has_view_permission(request, entity))
    profile = entity.profile
    try:
        explained = registry.get(profile.type).explain(profile=profile, entity=entity)
    except registry.UnknownProfileType as exc:
        explained = {"notes": [str(exc)]}
    except ConnectorError as exc:
        explained = {"notes": [f"Could not explain this contact: {exc}"]}
    if fetched is not None:
        explained = {**explained, "remote": fetched}
    changes = [
        {"field": name, "old": old, "new": new, "blanks": _blank(new) and not _blank(old)}
        for name, old, new in (explained.get("changes") or [])
    ]
    last_dry = (
        RunEvent.objects.filter(entity_id=entity.pk, run__dry_run=True, run__profile=profile)
        .select_related("run")
        .order_by("-pk")
        .first()
    )
    attempts = DeliveryAttempt.objects.filter(entity=entity).select_related("run")[:ATTEMPTS_SHOWN]
    sections = [
        ("Magento source data", explained.get("source")),
        ("Mapped payload (what would be sent now)", explained.get("payload")),
        ("Last sent", explained.get("last_sent")),
        ("Remote record now", explained.get("remote")),
    ]
    context = {
        **admin.admin_site.each_context(request),
        "opts": admin.model._meta,
        "title": f"Contact {entity.email or entity.person_key}",
        "entity": entity,
        "profile": profile,
        "message": entity.message or {},
        "sections": [(title, _pretty(value), value is not None) for title, value in sections],
        "last_sent_at": explained.get("last_sent_at"),
        "errors": explained.get("errors") or {},
        "notes": explained.get("notes") or [],
        "changes": changes,
        "attempts": [
            {
                "attempt": a,
                "request": _pretty(a.request) if a.request is not None else "",
                "response": _pretty(a.response) if a.response is not None else "",
            }
            for a in attempts
        ],
        "last_dry": last_dry,
        "can_change": admin.has_change_permission(request, entity),
        "can_forget": admin.has_delete_permission(request, entity),
        "can_fetch_remote": _can_fetch_remote(entity),
        "can_resolve": entity.status == "ambiguous"
        or bool((entity.metadata or {}).get("identity"))
        or (
            bool(entity.email_key)
            and ContactEntity.objects.filter(profile=profile, email_key=entity.email_key)
            .exclude(pk=entity.pk)
            .exists()
        ),
        "remote_fetched": fetched is not None,
        "entity_list": f"{reverse('admin:contacts_contactentity_changelist')}"
        f"?profile__id__exact={profile.pk}",
    }
    return TemplateResponse(request, "admin/contacts/contactentity/explain.html", context)


def _entity_for_change(
    admin: ModelAdmin[ContactEntity], request: HttpRequest, pk: int
) -> ContactEntity:
    entity = get_object_or_404(ContactEntity.objects.select_related("profile"), pk=pk)
    _require(admin.has_change_permission(request, entity))
    return entity


def _explain_url(entity: ContactEntity) -> str:
    return reverse("admin:contacts_contactentity_change", args=[entity.pk])


@require_POST
def entity_dry_run(request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int) -> HttpResponse:
    """Dry-run this one contact: what would be sent, field by field; nothing is sent."""
    entity = _entity_for_change(admin, request, pk)
    _refresh(admin, request, entity)
    return start_run(admin, request, entity.profile, dry_run=True, entity_ids=[entity.pk])


def _refresh(admin: ModelAdmin[ContactEntity], request: HttpRequest, entity: ContactEntity) -> None:
    """Read the person from Magento first (what the run shows and sends is current)."""
    for problem in entities_refresh(profile=entity.profile, entities=[entity]):
        admin.message_user(request, problem, messages.WARNING)


@require_POST
def entity_export_now(
    request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int
) -> HttpResponse:
    """Queue this contact and export it now (unchanged contacts cost no API call)."""
    entity = _entity_for_change(admin, request, pk)
    if entity.queue_status == QueueStatus.PROCESSING:
        admin.message_user(request, "This contact is being processed right now.", messages.WARNING)
        return HttpResponseRedirect(_explain_url(entity))
    _refresh(admin, request, entity)
    entities_retry(ContactEntity.objects.filter(pk=entity.pk))
    return start_run(admin, request, entity.profile, entity_ids=[entity.pk])


@require_POST
def entity_retry(request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int) -> HttpResponse:
    entity = _entity_for_change(admin, request, pk)
    count = entities_retry(ContactEntity.objects.filter(pk=entity.pk))
    admin.message_user(request, f"{count} contact queued for the next run.")
    return HttpResponseRedirect(_explain_url(entity))


@require_POST
def entity_reset(request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int) -> HttpResponse:
    entity = _entity_for_change(admin, request, pk)
    count = entities_reset(ContactEntity.objects.filter(pk=entity.pk))
    admin.message_user(
        request, f"{count} contact reset: what was last sent is forgotten; it will be re-sent."
    )
    return HttpResponseRedirect(_explain_url(entity))


@require_POST
def entity_forget(request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int) -> HttpResponse:
    """ "Forget this person" (GDPR erasure of the e-mail everywhere): needs delete rights."""
    from contacts.services.forget import person_forget

    entity = get_object_or_404(ContactEntity.objects.select_related("profile"), pk=pk)
    _require(admin.has_delete_permission(request, entity))
    email = entity.email
    if not email:
        admin.message_user(request, "This contact has no e-mail to forget.", messages.ERROR)
        return HttpResponseRedirect(_explain_url(entity))
    report = person_forget(email=email, actor=f"admin:{request.user.get_username()}")
    if not report.ok:
        admin.message_user(
            request,
            "Not forgotten yet: " + "; ".join(report.failed) + ". Nothing was removed here.",
            messages.ERROR,
        )
        return HttpResponseRedirect(_explain_url(entity))
    removed = ", ".join(f"{n} {name}" for name, n in sorted(report.removed.items()) if n)
    admin.message_user(
        request,
        "The person is forgotten: "
        + "; ".join([*report.remote, removed or "nothing local", f"{report.log_lines} log lines"])
        + ". One audit line without personal data is kept.",
    )
    return HttpResponseRedirect(reverse("admin:contacts_contactentity_changelist"))


@require_POST
def entity_fetch_remote(
    request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int
) -> HttpResponse:
    """Read this Emarsys contact live and show it in the explain page's "Remote record now".

    Reads only, so the view permission suffices (POST: it costs an API call).
    """
    entity = get_object_or_404(ContactEntity.objects.select_related("profile"), pk=pk)
    _require(admin.has_view_permission(request, entity))
    if not _can_fetch_remote(entity):
        admin.message_user(
            request,
            "Only an Emarsys contact with an Emarsys internal id can be fetched.",
            messages.ERROR,
        )
        return HttpResponseRedirect(_explain_url(entity))
    from contacts.emarsys.remote import emarsys_remote_record

    try:
        record = emarsys_remote_record(profile=entity.profile, entity=entity)
    except ConnectorError as exc:
        messages.error(request, f"Could not fetch the contact from Emarsys: {exc}")
        return HttpResponseRedirect(_explain_url(entity))
    return explain_page(admin, request, entity, fetched=record)


RETRY_RUN_IDS = 1000  # more failed contacts than this are retried by a whole run


@require_POST
def profile_retry_failed(
    request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int
) -> HttpResponse:
    """Queue every failed or retry-waiting contact of the profile for the next run."""
    profile = get_object_or_404(Profile, pk=pk)
    _require(
        _profile_change_allowed(admin, request, profile) and admin.has_change_permission(request)
    )
    failed = ContactEntity.objects.filter(
        profile=profile, queue_status__in=[QueueStatus.FAILED, QueueStatus.RETRY]
    )
    ids = list(failed.exclude(queue_status=QueueStatus.PROCESSING).values_list("pk", flat=True))
    count = entities_retry(ContactEntity.objects.filter(pk__in=ids))
    if not count:
        admin.message_user(request, f"“{profile.name}” has no failed contact to retry.")
        return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[profile.pk]))
    admin.message_user(request, f"{count} failed contact(s) of “{profile.name}” queued again.")
    # Retried now, not at the next scheduled run: a run of just those contacts (a large
    # set goes with a whole run, which takes every pending contact anyway).
    return start_run(admin, request, profile, entity_ids=ids if len(ids) <= RETRY_RUN_IDS else None)


@require_POST
def emarsys_initial_export_view(
    request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int
) -> HttpResponse:
    """Seed 003's "Export…" buttons: all customers, all subscribers, or both."""
    profile = get_object_or_404(Profile, pk=pk)
    _require(_profile_change_allowed(admin, request, profile))
    back = reverse("admin:profiles_profile_change", args=[profile.pk])
    types = request.POST.get("types", "")
    if types not in ("customers", "subscribers", "both"):
        admin.message_user(request, "Choose customers, subscribers or both.", messages.ERROR)
        return HttpResponseRedirect(back)
    if profile.type != EMARSYS_TYPE or EMARSYS_TYPE not in {
        t.type_id for t in registry.all_types()
    }:
        admin.message_user(
            request,
            "The initial export is part of the Emarsys contact sync, which is not installed "
            "here (or this is not an Emarsys profile).",
            messages.ERROR,
        )
        return HttpResponseRedirect(back)
    from contacts.emarsys.services import emarsys_initial_export
    from profiles.services import runs

    try:
        run = emarsys_initial_export(profile=profile, types=types, foreground=False)
    except runs.RunAlreadyActive as exc:
        admin.message_user(request, str(exc), messages.WARNING)
        return HttpResponseRedirect(back)
    except ConnectorError as exc:
        admin.message_user(request, f"Initial export not started: {exc}", messages.ERROR)
        return HttpResponseRedirect(back)
    admin.message_user(request, f"Initial export of {types} started (run {run.pk}).")
    return HttpResponseRedirect(reverse("admin:profiles_run_change", args=[run.pk]))


@require_POST
def emarsys_consent_job_view(
    request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int, job: str
) -> HttpResponse:
    """ "Opt-in back-sync now" and "Reconcile now": queued on the workers (they read every
    subscription, which can take minutes); the result lands in the run history."""
    profile = get_object_or_404(Profile, pk=pk)
    _require(_profile_change_allowed(admin, request, profile))
    back = reverse("admin:profiles_profile_change", args=[profile.pk])
    if profile.type != EMARSYS_TYPE:
        admin.message_user(request, "Only Emarsys profiles sync opt-ins.", messages.ERROR)
        return HttpResponseRedirect(back)
    from contacts import tasks

    if job == "reconcile":
        tasks.emarsys_reconcile.delay(profile_id=profile.pk)
        what = "Reconcile (every subscription in Magento and opt-in in Emarsys)"
    else:
        tasks.emarsys_optin_job.delay(profile_id=profile.pk)
        what = "Opt-in back-sync (Emarsys → Magento)"
    admin.message_user(request, f"{what} queued; its result appears below when it is done.")
    return HttpResponseRedirect(back)


def emarsys_reconcile_view(
    request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int
) -> HttpResponse:
    return emarsys_consent_job_view(request, admin, pk, "reconcile")


def emarsys_optin_view(
    request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int
) -> HttpResponse:
    return emarsys_consent_job_view(request, admin, pk, "optin_sync")
