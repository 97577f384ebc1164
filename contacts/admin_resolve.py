"""The admin's *Resolve* page: a person decides who an ambiguous contact is.

GET lists the remote contacts it could be (with their key fields and who of this profile is
already linked to each) and the people sharing its e-mail; POST records the decision
(:func:`contacts.services.decisions.entity_decide`). Change permission on contacts needed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import reverse

from connectors.errors import ConnectorError
from contacts.models import ContactEntity
from contacts.services.decisions import (
    FREEAGENT,
    DecisionRefused,
    entity_decide,
    link_candidates,
)
from contacts.services.sharing import SharedEmails, sharing_note

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin


def entity_resolve(request: HttpRequest, admin: ModelAdmin[ContactEntity], pk: int) -> HttpResponse:
    entity = get_object_or_404(ContactEntity.objects.select_related("profile__client"), pk=pk)
    if not admin.has_change_permission(request, entity):
        from django.core.exceptions import PermissionDenied

        raise PermissionDenied
    profile = entity.profile
    back = reverse("admin:contacts_contactentity_change", args=[entity.pk])
    if request.method == "POST":
        choice = request.POST.get("choice", "")
        remote = (
            (request.POST.get("remote_other") or request.POST.get("remote") or "").strip()
            if choice == "link"
            else ""
        )
        user = request.user.get_username() if request.user.is_authenticated else "admin"
        try:
            text = entity_decide(
                profile=profile, entity=entity, choice=choice, remote_id=remote, by=user
            )
        except DecisionRefused as exc:
            messages.error(request, f"Not decided: {exc}")
            return HttpResponseRedirect(request.path)
        admin.message_user(request, f"{text} The next run sends it accordingly.")
        return HttpResponseRedirect(back)
    candidates = []
    problem = ""
    try:
        candidates = link_candidates(profile=profile, entity=entity)
    except (ConnectorError, DecisionRefused) as exc:
        problem = f"Could not list the remote contacts: {exc}"
    sharers = [
        e
        for e in SharedEmails(profile, [entity]).groups.get(entity.email_key, [])
        if e.pk != entity.pk
    ]
    context = {
        **admin.admin_site.each_context(request),
        "opts": admin.model._meta,
        "title": f"Resolve {entity.email or entity.person_key}",
        "entity": entity,
        "profile": profile,
        "candidates": candidates,
        "sharers": sharers,
        "note": sharing_note(profile, entity),
        "problem": problem,
        "can_separate": profile.type == FREEAGENT,
        "back": back,
    }
    return TemplateResponse(request, "admin/contacts/contactentity/resolve.html", context)
