"""Admin for clients, profiles and runs — the product's main screens.

Thin: forms live in ``profiles.forms``, button views in ``profiles.admin_views``, reads for
the dashboard and run pages in ``profiles.dashboard``. The admin index is the dashboard.
"""

from __future__ import annotations

from functools import partial, update_wrapper
from typing import Any

from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.timesince import timesince

from profiles import admin_views, registry
from profiles.charts import progress_bar, runs_chart
from profiles.dashboard import run_progress, run_series
from profiles.forms.clients import CLIENT_FIELDSETS, CLIENT_FORMS
from profiles.forms.profiles import profile_fieldsets, profile_form_class
from profiles.models import Client, ClientType, Profile, Run, RunEvent, RunTrigger
from profiles.services import runs
from profiles.services.clients import client_configuration_summary, client_connection_state
from profiles.services.schedules import profile_schedule_set_enabled

admin.site.site_header = "Contact Sync"
admin.site.site_title = "Contact Sync"
admin.site.index_title = "Dashboard"
admin.site.index_template = "admin/contactsync/index.html"
# The header navigation replaces the nav sidebar, leaving the tables their full width.
admin.site.enable_nav_sidebar = False

DRY_RUN_EVENTS_SHOWN = 500
TYPE_DESCRIPTIONS = {
    "freeagent_contact_export": "Magento customers and guest buyers become FreeAgent contacts, "
    "created and updated without duplicates.",
    "emarsys_contact_sync": "Magento customers and newsletter subscribers become Emarsys "
    "contacts, with your field mapping, contact lists and opt-in.",
}


def chip(value: str, label: str) -> str:
    return format_html('<span class="cs-chip cs-{}">{}</span>', value, label)


class ButtonUrlsMixin:
    """``get_urls`` entries for the button views (staff only, CSRF protected)."""

    button_urls: list[tuple[str, str, Any]] = []

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta  # type: ignore[attr-defined]
        own = []
        for route, name, view in self.button_urls:
            wrapped = self.admin_site.admin_view(partial(view, admin=self))  # type: ignore[attr-defined]
            update_wrapper(wrapped, view)
            own.append(path(route, wrapped, name=f"{opts.app_label}_{opts.model_name}_{name}"))
        return own + super().get_urls()  # type: ignore[misc]


def _type_choice(request: HttpRequest, obj: Any, field: str = "type") -> str:
    if obj is not None:
        return str(getattr(obj, field))
    return str(request.GET.get("type") or request.POST.get("type") or "")


# -- clients -------------------------------------------------------------------------------


@admin.register(Client)
class ClientAdmin(ButtonUrlsMixin, admin.ModelAdmin):
    list_display = ["name", "type", "connection", "environment_display", "collected"]
    list_filter = ["type", "environment"]
    search_fields = ["name", "base_url"]
    change_form_template = "admin/profiles/client/change_form.html"
    # API URLs are https unless typed otherwise (and Django 6 will assume so too).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    button_urls = [
        ("<int:pk>/test/", "test", admin_views.client_test),
        ("<int:pk>/collect/", "collect", admin_views.client_collect),
        ("<int:pk>/delete-configuration/", "config_delete", admin_views.client_config_delete),
        ("<int:pk>/connect/", "connect", admin_views.client_connect),
        ("oauth/freeagent/callback/", "oauth_callback", admin_views.client_oauth_callback),
        ("selected/", "selected", admin_views.client_selected),
    ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = CLIENT_FORMS[_type_choice(request, obj)]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return CLIENT_FIELDSETS[_type_choice(request, obj)]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if _type_choice(request, None) not in CLIENT_FORMS:
            return TemplateResponse(
                request,
                "admin/contactsync/choose_type.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "title": "Add client — which system?",
                    "choices": [
                        (ClientType.MAGENTO, "Magento 2", "The store customers are read from."),
                        (ClientType.FREEAGENT, "FreeAgent", "Accounting contacts (OAuth)."),
                        (ClientType.EMARSYS, "Emarsys", "Marketing contacts."),
                    ],
                },
            )
        return super().add_view(request, form_url, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        client = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if client is not None:
            extra.update(
                connection=client_connection_state(client),
                configuration=client_configuration_summary(client),
                can_change=self.has_change_permission(request, client),
                redirect_uri=admin_views.oauth_redirect_uri(request),
                profiles=list(client.target_profiles.all()) + list(client.source_profiles.all()),
            )
        return super().change_view(request, object_id, form_url, extra)

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "type": _type_choice(request, None)}

    @admin.display(description="Connection")
    def connection(self, obj: Client) -> str:
        state = client_connection_state(obj)
        return chip("success" if state["ok"] else "failed", state["label"])

    @admin.display(description="Environment")
    def environment_display(self, obj: Client) -> str:
        return obj.get_environment_display() if obj.type == ClientType.FREEAGENT else "—"

    @admin.display(description="Configuration data", ordering="collected_at")
    def collected(self, obj: Client) -> str:
        if obj.collected_at is None:
            return "not collected"
        return f"collected {timesince(obj.collected_at)} ago"


# -- profiles ------------------------------------------------------------------------------


@admin.register(Profile)
class ProfileAdmin(ButtonUrlsMixin, admin.ModelAdmin):
    list_display = ["name", "type_label", "client", "schedule_display", "last_run", "contacts"]
    list_filter = ["type", "status"]
    list_select_related = ["client", "source_client"]
    search_fields = ["name"]
    actions = ["export_now", "enable_schedule", "disable_schedule"]
    change_form_template = "admin/profiles/profile/change_form.html"
    button_urls = [
        ("<int:pk>/export-now/", "export_now", admin_views.profile_export_now),
        ("<int:pk>/dry-run/", "dry_run", admin_views.profile_dry_run),
        ("<int:pk>/schedule/", "schedule", admin_views.profile_schedule),
    ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = profile_form_class(_type_choice(request, obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return profile_fieldsets(_type_choice(request, obj))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["type_label", "client_actions", "initial_export"]

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "type": _type_choice(request, None)}

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        types = {t.type_id: t for t in registry.all_types()}
        if _type_choice(request, None) not in types:
            return TemplateResponse(
                request,
                "admin/contactsync/choose_type.html",
                {
                    **self.admin_site.each_context(request),
                    "opts": self.model._meta,
                    "title": "Add profile — which sync job?",
                    "choices": [(t.type_id, t.label, t.__doc__ or "") for t in types.values()],
                },
            )
        return super().add_view(request, form_url, extra_context)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        profile = self.get_object(request, object_id)
        extra = dict(extra_context or {})
        if profile is not None:
            extra.update(_profile_context(request, self, profile))
        return super().change_view(request, object_id, form_url, extra)

    @admin.display(description="Profile type")
    def type_label(self, obj: Profile) -> str:
        try:
            return registry.get(obj.type).label
        except registry.UnknownProfileType:
            return f"{obj.type} (not installed)"

    @admin.display(description="Configuration data")
    def client_actions(self, obj: Profile) -> str:
        from django.template.loader import render_to_string

        clients = [
            c
            for c in (
                obj.source_client if obj.source_client_id else None,
                obj.client if obj.client_id else None,
            )
            if c is not None
        ]
        return render_to_string(
            "admin/profiles/profile/client_actions.html",
            {
                "rows": [(c, client_configuration_summary(c)) for c in clients],
                "selected_url": reverse("admin:profiles_client_selected"),
            },
        )

    @admin.display(description="Initial export")
    def initial_export(self, obj: Profile) -> str:
        from django.template.loader import render_to_string

        return render_to_string(
            "admin/profiles/profile/initial_export.html",
            {
                "profile": obj,
                "types": [
                    ("customers", "Export customers"),
                    ("subscribers", "Export subscribers"),
                    ("both", "Export both"),
                ],
            },
        )

    @admin.display(description="Schedule")
    def schedule_display(self, obj: Profile) -> str:
        if not obj.status:
            return chip("disabled", "disabled")
        return (
            chip("success", obj.get_schedule_preset_display().split(" (")[0])
            if obj.schedule_preset != "custom"
            else chip("success", obj.cron_expression)
        )

    @admin.display(description="Last run")
    def last_run(self, obj: Profile) -> str:
        run = obj.runs.first()
        if run is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a> {} ago',
            reverse("admin:profiles_run_change", args=[run.pk]),
            chip(run.status, run.get_status_display()),
            timesince(run.created_at),
        )

    @admin.display(description="Contacts")
    def contacts(self, obj: Profile) -> str:
        url = reverse("admin:contacts_contactentity_changelist")
        return format_html('<a href="{}?profile__id__exact={}">Entity table</a>', url, obj.pk)

    @admin.action(description="Export now", permissions=["change"])
    def export_now(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        for profile in queryset:
            try:
                run = runs.run_start(profile=profile, trigger=RunTrigger.BUTTON)
            except runs.RunAlreadyActive as exc:
                self.message_user(request, str(exc), messages.WARNING)
            else:
                self.message_user(request, f"Run {run.pk} of '{profile}' queued.")

    @admin.action(description="Enable schedule", permissions=["change"])
    def enable_schedule(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        for profile in queryset:
            profile_schedule_set_enabled(profile=profile, enabled=True)
        self.message_user(request, f"Schedule enabled for {queryset.count()} profile(s).")

    @admin.action(description="Disable schedule", permissions=["change"])
    def disable_schedule(self, request: HttpRequest, queryset: QuerySet[Profile]) -> None:
        for profile in queryset:
            profile_schedule_set_enabled(profile=profile, enabled=False)
        self.message_user(request, f"Schedule disabled for {queryset.count()} profile(s).")


def _profile_context(
    request: HttpRequest, model_admin: ProfileAdmin, profile: Profile
) -> dict[str, Any]:
    try:
        entities = registry.get(profile.type).entities(profile)
        retryable = entities.filter(queue_status__in=["failed", "retry"]).count()
        total = entities.count()
    except registry.UnknownProfileType:
        retryable = total = 0
    active = profile.runs.filter(status__in=["queued", "running"]).first()
    return {
        "can_change": model_admin.has_change_permission(request, profile),
        "retryable": retryable,
        "entity_total": total,
        "active_run": active,
        "recent_runs": profile.runs.all()[:8],
        "runs_chart": runs_chart(run_series(profile=profile, limit=20), title="Recent runs"),
        "is_emarsys": profile.type == "emarsys_contact_sync",
        "emarsys_registered": "emarsys_contact_sync" in {t.type_id for t in registry.all_types()},
    }


# -- runs ----------------------------------------------------------------------------------


@admin.register(Run)
class RunAdmin(ButtonUrlsMixin, admin.ModelAdmin):
    list_display = [
        "pk",
        "profile",
        "trigger",
        "kind",
        "status_chip",
        "created_at",
        "duration",
        "collected",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "failed",
    ]
    list_display_links = ["pk", "status_chip"]
    list_filter = ["status", "trigger", "dry_run", "profile"]
    list_select_related = ["profile"]
    date_hierarchy = "created_at"
    change_list_template = "admin/profiles/run/change_list.html"
    button_urls = [("<int:pk>/progress/", "progress", admin_views.run_progress_json)]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # runs are records; the buttons that start them live on profiles

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        profile_id = request.GET.get("profile__id__exact")
        profile = (
            Profile.objects.filter(pk=profile_id).first()
            if profile_id and profile_id.isdigit()
            else None
        )
        extra = {
            **(extra_context or {}),
            "runs_chart": runs_chart(
                run_series(profile=profile, limit=40), title="Contacts per run (latest 40 runs)"
            ),
        }
        return super().changelist_view(request, extra)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        run = self.get_object(request, object_id)
        if run is None:
            raise Http404(f"No {self.model._meta.verbose_name} {object_id}.")
        if not self.has_view_permission(request, run):
            from django.core.exceptions import PermissionDenied

            raise PermissionDenied
        progress = run_progress(run)
        events = run.events.order_by("pk")
        entity_events = events.filter(entity_id__isnull=False) if run.dry_run else events.none()
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Run {run.pk} of {run.profile.name}",
            "run": run,
            "progress": progress,
            "progress_bar": progress_bar(progress["percent"]),
            "log": events.filter(entity_id__isnull=True)[:200] if run.dry_run else events[:500],
            "dry_rows": _dry_rows(run, list(entity_events[:DRY_RUN_EVENTS_SHOWN])),
            "dry_total": entity_events.count(),
            "explain_url": reverse("admin:contacts_contactentity_changelist"),
        }
        return TemplateResponse(request, "admin/profiles/run/detail.html", context)

    @admin.display(description="Kind")
    def kind(self, obj: Run) -> str:
        return "dry run" if obj.dry_run else "export"

    @admin.display(description="Status", ordering="status")
    def status_chip(self, obj: Run) -> str:
        return chip(obj.status, obj.get_status_display())

    @admin.display(description="Duration")
    def duration(self, obj: Run) -> str:
        seconds = obj.duration_seconds
        return "—" if seconds is None else f"{seconds:.1f} s"


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value in ([], {})


def _dry_rows(run: Run, events: list[RunEvent]) -> list[dict[str, Any]]:
    """The dry run's contacts, each labelled with its person key and e-mail."""
    try:
        entities = registry.get(run.profile.type).entities(run.profile)
        labels = {e.pk: str(e) for e in entities.filter(pk__in=[ev.entity_id for ev in events])}
    except registry.UnknownProfileType:
        labels = {}
    return [{**_dry_row(e), "label": labels.get(e.entity_id, f"#{e.entity_id}")} for e in events]


def _dry_row(event: Any) -> dict[str, Any]:
    """One contact of a dry run: outcome, the field diff with risky changes flagged."""
    data = event.data or {}
    changes = []
    for change in data.get("changes") or []:
        name, old, new = [*list(change), None, None, None][:3]
        changes.append(
            {"field": name, "old": old, "new": new, "blanks": _blank(new) and not _blank(old)}
        )
    warnings = list(data.get("warnings") or [])
    if any(c["blanks"] for c in changes):
        warnings.insert(
            0, "would blank a field: " + ", ".join(c["field"] for c in changes if c["blanks"])
        )
    return {
        "entity_id": event.entity_id,
        "outcome": data.get("outcome") or "",
        "action": data.get("action") or "",
        "message": data.get("message") or event.message,
        "changes": changes,
        "warnings": warnings,
        "payload": data.get("payload"),
    }
