"""The admin's drift page of a profile: the last drift checks, and *Check now* / *Check
and repair* (queued on the workers: a large account takes minutes to read)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse

from contacts.models import ContactEntity
from contacts.services.drift import KIND_LABELS, KINDS
from profiles.models import Profile

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

SHOWN = 500


def profile_drift(request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    profile_admin = admin.admin_site.get_model_admin(Profile)
    if not profile_admin.has_view_permission(request, profile):
        raise PermissionDenied
    can_change = bool(profile_admin.has_change_permission(request, profile))
    if request.method == "POST":
        if not can_change:
            raise PermissionDenied
        from contacts.tasks import drift_check_now

        repair = request.POST.get("repair") == "1"
        drift_check_now.delay(profile_id=profile.pk, repair=repair)
        what = "Drift check and repair" if repair else "Drift check"
        admin.message_user(request, f"{what} queued; its report appears here when it is done.")
        return HttpResponseRedirect(request.path)
    checks = list(profile.runs.filter(scope__job="drift").order_by("-created_at")[:10])
    last = checks[0] if checks else None
    report = (last.scope or {}).get("report") if last else None
    items = (report or {}).get("items") or []
    context = {
        **admin.admin_site.each_context(request),
        "opts": admin.model._meta,
        "title": f"Drift check — {profile.name}",
        "profile": profile,
        "last": last,
        "report": report,
        "counts": [(KIND_LABELS[k], (report or {}).get("counts", {}).get(k, 0)) for k in KINDS],
        "items": [
            {**i, "label": KIND_LABELS.get(i.get("kind"), i.get("kind"))} for i in items[:SHOWN]
        ],
        "more": max(0, len(items) - SHOWN),
        "checks": checks,
        "can_change": can_change,
    }
    return TemplateResponse(request, "admin/contacts/contactentity/drift.html", context)
