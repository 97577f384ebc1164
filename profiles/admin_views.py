"""Admin views behind the client, profile and run buttons.

Each view is thin: check the model permission, call one service, report with
``message_user`` and redirect. They are wrapped by ``admin_site.admin_view`` (staff only,
CSRF protected) in the ModelAdmins' ``get_urls``; every state change is POST only.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.crypto import constant_time_compare
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from connectors.errors import ConnectorError
from profiles.dashboard import run_progress
from profiles.models import Client, ClientType, Profile, Run, RunTrigger
from profiles.services import runs
from profiles.services.accounts import profile_account_mismatch, profile_account_same
from profiles.services.accounts import profile_start_over as profile_start_over_service
from profiles.services.clients import (
    client_configuration_collect,
    client_configuration_delete,
    client_configuration_summary,
    client_connection_test,
    freeagent_authorize_url,
    freeagent_connect,
)
from profiles.services.pause import ProfilePaused
from profiles.services.schedules import profile_schedule_set_enabled

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

OAUTH_SESSION_KEY = "freeagent_oauth"


def _require(allowed: bool) -> None:
    if not allowed:
        raise PermissionDenied


def _back(request: HttpRequest, default: str) -> str:
    """The ``next`` URL when it is ours, else ``default``."""
    target = request.GET.get("next") or request.POST.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


def _client_page(client: Client) -> str:
    return reverse("admin:profiles_client_change", args=[client.pk])


def _error_text(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


# -- clients ---------------------------------------------------------------------------------


@require_POST
def client_test(request: HttpRequest, admin: ModelAdmin[Client], pk: int) -> HttpResponse:
    client = get_object_or_404(Client, pk=pk)
    _require(admin.has_change_permission(request, client))
    try:
        admin.message_user(request, client_connection_test(client=client), messages.SUCCESS)
    except ConnectorError as exc:
        admin.message_user(request, f"Connection failed: {_error_text(exc)}", messages.ERROR)
    return HttpResponseRedirect(_back(request, _client_page(client)))


def _collect(admin: ModelAdmin[Client], request: HttpRequest, client: Client) -> None:
    _require(admin.has_change_permission(request, client))
    try:
        client_configuration_collect(client=client)
    except ConnectorError as exc:
        admin.message_user(
            request,
            f"Could not collect the configuration data of {client.name}: {_error_text(exc)}",
            messages.ERROR,
        )
        return
    summary = "; ".join(client_configuration_summary(client))
    admin.message_user(
        request, f"Configuration data of {client.name} collected: {summary}.", messages.SUCCESS
    )


def _delete(admin: ModelAdmin[Client], request: HttpRequest, client: Client) -> None:
    _require(admin.has_change_permission(request, client))
    client_configuration_delete(client=client)
    admin.message_user(request, f"Configuration data of {client.name} deleted.")


@require_POST
def client_collect(request: HttpRequest, admin: ModelAdmin[Client], pk: int) -> HttpResponse:
    client = get_object_or_404(Client, pk=pk)
    _collect(admin, request, client)
    return HttpResponseRedirect(_back(request, _client_page(client)))


@require_POST
def client_config_delete(request: HttpRequest, admin: ModelAdmin[Client], pk: int) -> HttpResponse:
    client = get_object_or_404(Client, pk=pk)
    _delete(admin, request, client)
    return HttpResponseRedirect(_back(request, _client_page(client)))


@require_POST
def client_selected(request: HttpRequest, admin: ModelAdmin[Client]) -> HttpResponse:
    """The profile form's "Collect/Delete Configuration Data" buttons: act on the client
    selected in the form's ``?which=`` field (``client`` or ``source_client``) and go back
    to the profile page, keeping the selection of an unsaved profile."""
    which = request.GET.get("which", "client")
    if which not in ("client", "source_client"):
        which = "client"
    back = _back(request, reverse("admin:profiles_profile_changelist"))
    value = request.POST.get(which) or ""
    client = Client.objects.filter(pk=value).first() if value.isdigit() else None
    if client is None:
        admin.message_user(request, "Select a client first.", messages.WARNING)
    elif request.GET.get("op") == "delete":
        _delete(admin, request, client)
    else:
        _collect(admin, request, client)
    parts = urlsplit(back)
    if parts.path.endswith("/add/"):
        query = dict(parse_qsl(parts.query))
        for key in ("name", "client", "source_client"):
            if request.POST.get(key):
                query[key] = request.POST[key]
        back = urlunsplit(parts._replace(query=urlencode(query)))
    return HttpResponseRedirect(back)


def oauth_redirect_uri(request: HttpRequest) -> str:
    """The redirect URI to register with the FreeAgent app.

    From ``settings.PUBLIC_BASE_URL`` when set (behind a TLS proxy the request's scheme and
    Host header are not what FreeAgent must send the browser back to), else the request.
    """
    path = reverse("admin:profiles_client_oauth_callback")
    public = str(getattr(settings, "PUBLIC_BASE_URL", "") or "").strip().rstrip("/")
    if public:
        return public + path
    return request.build_absolute_uri(path)


@require_POST
def client_connect(request: HttpRequest, admin: ModelAdmin[Client], pk: int) -> HttpResponse:
    """Start the authorization-code flow: remember a random state, send the browser off."""
    client = get_object_or_404(Client, pk=pk, type=ClientType.FREEAGENT)
    _require(admin.has_change_permission(request, client))
    state = secrets.token_urlsafe(32)
    try:
        url = freeagent_authorize_url(
            client=client, redirect_uri=oauth_redirect_uri(request), state=state
        )
    except ConnectorError as exc:
        admin.message_user(request, f"Cannot connect: {_error_text(exc)}", messages.ERROR)
        return HttpResponseRedirect(_client_page(client))
    request.session[OAUTH_SESSION_KEY] = {"state": state, "client": client.pk}
    return HttpResponseRedirect(url)


@require_GET
def client_oauth_callback(request: HttpRequest, admin: ModelAdmin[Client]) -> HttpResponse:
    """FreeAgent sends the browser back here with ``code`` and our ``state``."""
    pending = request.session.pop(OAUTH_SESSION_KEY, None) or {}
    state = request.GET.get("state", "")
    if not pending or not state or not constant_time_compare(state, pending.get("state", "")):
        admin.message_user(
            request,
            "The FreeAgent authorisation could not be verified (the state did not match). "
            "Start again with “Connect to FreeAgent”.",
            messages.ERROR,
        )
        return HttpResponseRedirect(reverse("admin:profiles_client_changelist"))
    client = get_object_or_404(Client, pk=pending.get("client"), type=ClientType.FREEAGENT)
    _require(admin.has_change_permission(request, client))
    if request.GET.get("error") or not request.GET.get("code"):
        reason = request.GET.get("error_description") or request.GET.get("error") or "no code"
        admin.message_user(
            request, f"FreeAgent did not authorise the app: {reason}.", messages.ERROR
        )
        return HttpResponseRedirect(_client_page(client))
    try:
        company = freeagent_connect(
            client=client, code=request.GET["code"], redirect_uri=oauth_redirect_uri(request)
        )
    except ConnectorError as exc:
        admin.message_user(request, f"Connecting failed: {_error_text(exc)}", messages.ERROR)
    else:
        admin.message_user(
            request, f"Connected to FreeAgent company “{company}”.", messages.SUCCESS
        )
    return HttpResponseRedirect(_client_page(client))


# -- profiles --------------------------------------------------------------------------------


def _run_page(run: Run) -> str:
    return reverse("admin:profiles_run_change", args=[run.pk])


def start_run(
    admin: ModelAdmin[Any], request: HttpRequest, profile: Profile, **kwargs: Any
) -> HttpResponse:
    """Start a run and show its page; an active run is shown instead of a second one."""
    try:
        run = runs.run_start(profile=profile, trigger=RunTrigger.BUTTON, **kwargs)
    except runs.RunAlreadyActive as exc:
        admin.message_user(request, str(exc), messages.WARNING)
        if exc.active is not None:
            return HttpResponseRedirect(_run_page(exc.active))
        return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[profile.pk]))
    except ProfilePaused as exc:
        admin.message_user(request, str(exc), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:profiles_profile_change", args=[profile.pk]))
    kind = "Dry run" if run.dry_run else "Run"
    admin.message_user(request, f"{kind} {run.pk} of “{profile.name}” started.")
    return HttpResponseRedirect(_run_page(run))


@require_POST
def profile_export_now(request: HttpRequest, admin: ModelAdmin[Profile], pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    _require(admin.has_change_permission(request, profile))
    return start_run(admin, request, profile)


@require_POST
def profile_dry_run(request: HttpRequest, admin: ModelAdmin[Profile], pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    _require(admin.has_change_permission(request, profile))
    return start_run(admin, request, profile, dry_run=True)


@require_POST
def profile_schedule(request: HttpRequest, admin: ModelAdmin[Profile], pk: int) -> HttpResponse:
    profile = get_object_or_404(Profile, pk=pk)
    _require(admin.has_change_permission(request, profile))
    enabled = request.POST.get("enabled") == "1"
    profile_schedule_set_enabled(profile=profile, enabled=enabled)
    state = "enabled" if enabled else "disabled"
    admin.message_user(request, f"Schedule of “{profile.name}” {state}.")
    return HttpResponseRedirect(
        _back(request, reverse("admin:profiles_profile_change", args=[profile.pk]))
    )


@require_POST
def profile_deletions_decide(
    request: HttpRequest, admin: ModelAdmin[Profile], pk: int
) -> HttpResponse:
    """Approve or reject deletions the brake holds. Approving sends them (a background
    pass); both need the right to delete contacts."""
    from contacts.models import DeletionRequest
    from contacts.services.propagate import AlreadyDecided, request_decide
    from contacts.tasks import deletions_propagate

    profile = get_object_or_404(Profile, pk=pk)
    _require(
        admin.has_change_permission(request, profile)
        and request.user.has_perm("contacts.delete_contactentity")
    )
    held = get_object_or_404(DeletionRequest, pk=request.POST.get("request"), profile=profile)
    approve = request.POST.get("decision") == "approve"
    actor = request.user.get_username() or "admin"
    back = reverse("admin:profiles_profile_change", args=[profile.pk]) + "#deletions-held"
    try:
        request_decide(held, approve=approve, actor=actor)
    except AlreadyDecided as exc:
        admin.message_user(request, str(exc), level=messages.WARNING)
        return HttpResponseRedirect(back)
    count = held.records.count()
    if approve:
        deletions_propagate.delay(profile.pk)
        admin.message_user(
            request, f"Approved: {count} deletion(s) are being sent; the run history shows them."
        )
    else:
        admin.message_user(request, f"Rejected: the {count} remote contact(s) are kept.")
    return HttpResponseRedirect(back)


@require_POST
def profile_start_over(request: HttpRequest, admin: ModelAdmin[Profile], pk: int) -> HttpResponse:
    """The client reaches another account: forget the old account's links and cache and
    resolve everyone again by e-mail in the new one (the merchant confirmed it)."""
    profile = get_object_or_404(Profile.objects.select_related("client"), pk=pk)
    _require(admin.has_change_permission(request, profile))
    back = reverse("admin:profiles_profile_change", args=[profile.pk])
    if not profile_account_mismatch(profile):
        admin.message_user(request, "The client reaches this profile's account: nothing to do.")
        return HttpResponseRedirect(back)
    if request.POST.get("same") == "1":
        profile_account_same(profile=profile)
        admin.message_user(
            request, f"“{profile.name}” goes on: you confirmed it is the same account."
        )
        return HttpResponseRedirect(back)
    queued = profile_start_over_service(profile=profile)
    admin.message_user(
        request,
        f"“{profile.name}” starts over in the new account: {queued} contact(s) will be "
        "resolved by e-mail there by the next run; nothing of the old account is used.",
    )
    return HttpResponseRedirect(back)


# -- runs ------------------------------------------------------------------------------------


@require_GET
def run_progress_json(request: HttpRequest, admin: ModelAdmin[Run], pk: int) -> HttpResponse:
    run = get_object_or_404(Run.objects.select_related("profile"), pk=pk)
    _require(admin.has_view_permission(request, run))
    return JsonResponse(run_progress(run))
