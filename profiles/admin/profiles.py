"""The profile admin: sync jobs, their schedule and their buttons."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.exceptions import NotRegistered
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from profiles import admin_views, registry
from profiles.admin.base import ButtonUrlsMixin, type_choice
from profiles.charts import runs_chart
from profiles.dashboard import run_series
from profiles.forms.profiles import profile_fieldsets, profile_form_class
from profiles.models import Client, Profile, RunTrigger
from profiles.services import runs
from profiles.services.accounts import profile_account_mismatch
from profiles.services.clients import client_configuration_summary
from profiles.services.pause import ProfilePaused, profile_paused_by
from profiles.services.schedules import profile_schedule_set_enabled, profile_schedule_words
from profiles.templatetags.contactsync import chip

TYPE_DESCRIPTIONS = {
    "freeagent_contact_export": "Magento customers and guest buyers become FreeAgent contacts, "
    "created and updated without duplicates.",
    "emarsys_contact_sync": "Magento customers and newsletter subscribers become Emarsys "
    "contacts, with your field mapping, contact lists and opt-in.",
}


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
        ("<int:pk>/start-over/", "start_over", admin_views.profile_start_over),
        ("<int:pk>/deletions/", "deletions", admin_views.profile_deletions_decide),
    ]

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        kwargs["form"] = profile_form_class(type_choice(request, obj))
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        """The type's sections; the button fields only for users who may press them."""
        editable = (
            self.has_change_permission(request, obj)
            if obj is not None
            else self.has_add_permission(request)
        )
        client_admin = self.admin_site.get_model_admin(Client)
        swap = {
            "client_actions": "client_actions"
            if editable and client_admin.has_change_permission(request)
            else "client_summary",
            "initial_export": "initial_export" if editable else None,
        }
        return [
            (
                name,
                {
                    **options,
                    "fields": [
                        swap.get(field, field)
                        for field in options["fields"]
                        if swap.get(field, field) is not None
                    ],
                },
            )
            for name, options in profile_fieldsets(type_choice(request, obj))
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return [
            "type_label",
            "client_actions",
            "client_summary",
            "initial_export",
            "schedules_display",
        ]

    def save_model(self, request: HttpRequest, obj: Profile, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        count, what = getattr(form, "reevaluation", (0, []))
        if what:
            self.message_user(
                request,
                f"{', '.join(what).capitalize()} changed: the next run re-evaluates "
                f"{count} existing contact(s).",
            )

    @admin.display(description="Schedules that run")
    def schedules_display(self, obj: Profile) -> str:
        """What runs when for this type (its own settings decide; read-only here)."""
        probe = obj if obj.pk else Profile(type=obj.type, settings=obj.settings)
        try:
            lines = registry.get(probe.type).schedule_summary(probe)
        except registry.UnknownProfileType:
            return "—"
        rows = format_html_join("", "<li>{}: {}</li>", lines)
        return format_html(
            '<ul class="cs-schedules">{}</ul><div class="help">Set by the synchronization '
            "mode, poll interval and background runtime below; “Enable schedule” switches "
            "them all on or off.</div>",
            rows,
        )

    def get_changeform_initial_data(self, request: HttpRequest) -> dict[str, Any]:
        return {**super().get_changeform_initial_data(request), "type": type_choice(request, None)}

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        types = {t.type_id: t for t in registry.all_types()}
        if type_choice(request, None) not in types:
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
        return self._client_rows(obj, buttons=True)

    @admin.display(description="Configuration data")
    def client_summary(self, obj: Profile) -> str:
        """``client_actions`` without the buttons, for users who may not press them."""
        return self._client_rows(obj, buttons=False)

    def _client_rows(self, obj: Profile, *, buttons: bool) -> str:
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
                "buttons": buttons,
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
        if profile_paused_by(obj) is not None:
            return chip("failed", "paused: credentials refused")
        return chip("success", profile_schedule_words(obj))

    @admin.display(description="Last run")
    def last_run(self, obj: Profile) -> str:
        run = obj.runs.filter(dry_run=False).exclude(scope__has_key="job").first()
        if run is None:
            return "—"
        return format_html(
            '<a href="{}">{}</a> {} ago',
            reverse("admin:profiles_run_change", args=[run.pk]),
            chip(run.status, run.status_label),
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
            except ProfilePaused as exc:
                self.message_user(request, str(exc), messages.ERROR)
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


def _entity_change_allowed(request: HttpRequest, model_admin: ProfileAdmin) -> bool:
    """Whether the contact entity admin (another app's) lets the user change entities."""
    try:
        entity_model = apps.get_model("contacts", "ContactEntity")
        entity_admin = model_admin.admin_site.get_model_admin(entity_model)
    except (LookupError, NotRegistered):
        return False
    return bool(entity_admin.has_change_permission(request))


def _profile_context(
    request: HttpRequest, model_admin: ProfileAdmin, profile: Profile
) -> dict[str, Any]:
    webhook = None
    try:
        ptype = registry.get(profile.type)
        entities = ptype.entities(profile)
        retryable = entities.filter(queue_status__in=["failed", "retry"]).count()
        total = entities.count()
        webhook = ptype.webhook(
            profile, settings.PUBLIC_BASE_URL or request.build_absolute_uri("/")
        )
    except registry.UnknownProfileType:
        retryable = total = 0
    active = profile.runs.filter(status__in=["queued", "running"]).first()
    can_change = model_admin.has_change_permission(request, profile)
    return {
        # As saved (a rejected form must not show its values as if they were live).
        "saved_status": profile.status,
        "paused_by": profile_paused_by(profile),
        "account_changed": profile_account_mismatch(profile),
        "job_runs": [
            (job, title, profile.runs.filter(scope__job=job).order_by("-created_at").first())
            for job, title in (
                ("optin_sync", "Opt-in back-sync"),
                ("reconcile", "Reconcile"),
            )
        ]
        if profile.type == "emarsys_contact_sync"
        else [],
        "saved_schedule": profile_schedule_words(profile),
        "can_change": can_change,
        "can_retry_failed": can_change and _entity_change_allowed(request, model_admin),
        "retryable": retryable,
        "entity_total": total,
        "active_run": active,
        "recent_runs": profile.runs.all()[:8],
        "runs_chart": runs_chart(run_series(profile=profile, limit=20), title="Recent runs"),
        "is_emarsys": profile.type == "emarsys_contact_sync",
        "webhook": webhook,
        "deletions": _deletions_context(request, profile, can_change),
        "emarsys_registered": "emarsys_contact_sync" in {t.type_id for t in registry.all_types()},
    }


def _deletions_context(request: HttpRequest, profile: Profile, can_change: bool) -> dict[str, Any]:
    """The held deletions (the approval brake) and the policy, for the profile page."""
    from contacts.models import DeletionOutcome
    from contacts.services import propagate

    held = propagate.waiting_request(profile)
    rules = propagate.rules_of(profile)
    return {
        "policy": rules.policy,
        "held": held,
        "records": list(held.records.filter(outcome=DeletionOutcome.WAITING)[:200]) if held else [],
        "count": held.records.filter(outcome=DeletionOutcome.WAITING).count() if held else 0,
        "can_decide": can_change and request.user.has_perm("contacts.delete_contactentity"),
        "preview": propagate.deletions_preview(profile) if rules.propagates else "",
    }
