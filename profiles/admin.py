"""Admin for clients, profiles and runs. Thin: actions call one service and report."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from profiles import registry
from profiles.models import Client, Profile, Run, RunEvent, RunTrigger
from profiles.services import runs
from profiles.services.schedules import profile_schedule_set_enabled


class ClientForm(forms.ModelForm):
    """Credentials are write-only: the form never shows them, an empty box keeps them."""

    new_credentials = forms.CharField(
        label="Credentials",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text='JSON, e.g. {"client_id": "…", "client_secret": "…"}. Leave empty to keep '
        "the stored credentials. Stored encrypted; never shown again.",
    )

    class Meta:
        model = Client
        fields = ["name", "type", "environment", "base_url", "store_code", "settings"]

    def clean_new_credentials(self) -> dict[str, Any] | None:
        raw = self.cleaned_data.get("new_credentials", "").strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise forms.ValidationError("Credentials must be a JSON object of name → value.")
        return value

    def save(self, commit: bool = True) -> Client:
        client: Client = super().save(commit=False)
        if self.cleaned_data.get("new_credentials") is not None:
            client.credentials = self.cleaned_data["new_credentials"]
        if commit:
            client.save()
        return client


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    form = ClientForm
    list_display = ["name", "type", "environment", "base_url", "collected_at"]
    list_filter = ["type", "environment"]
    search_fields = ["name", "base_url"]
    readonly_fields = ["stored_credentials", "collected_at", "created_at", "updated_at"]

    @admin.display(description="Stored credentials")
    def stored_credentials(self, obj: Client) -> str:
        masked = obj.masked_credentials()
        if not masked:
            return "—"
        return format_html_join(", ", "{}: {}", masked.items())


class RunEventInline(admin.TabularInline):
    model = RunEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "level", "message", "entity_id")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = [
        "pk",
        "profile",
        "trigger",
        "dry_run",
        "status",
        "created_at",
        "collected",
        "created",
        "updated",
        "unchanged",
        "skipped",
        "failed",
    ]
    list_filter = ["status", "trigger", "dry_run", "profile"]
    list_select_related = ["profile"]
    inlines = [RunEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Run._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


class ProfileForm(forms.ModelForm):
    type = forms.ChoiceField(choices=registry.choices)

    class Meta:
        model = Profile
        fields = [
            "name",
            "type",
            "source_client",
            "client",
            "status",
            "schedule_preset",
            "schedule_cron",
            "process_batch_size",
            "enable_retry_on_failure",
            "retry_max_attempts",
            "api_behaviour",
            "settings",
        ]


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileForm
    list_display = ["name", "type", "client", "status", "schedule_display", "last_run"]
    list_filter = ["type", "status"]
    list_select_related = ["client", "source_client"]
    search_fields = ["name"]
    actions = ["export_now", "enable_schedule", "disable_schedule"]
    fieldsets = (
        (None, {"fields": ["name", "type", "source_client"]}),
        ("1. Client configuration", {"fields": ["client"]}),
        (
            "2. Schedule configuration",
            {
                "fields": [
                    "status",
                    "schedule_preset",
                    "schedule_cron",
                    "process_batch_size",
                    "enable_retry_on_failure",
                    "retry_max_attempts",
                ]
            },
        ),
        ("3. HTTP API configuration", {"fields": ["api_behaviour"]}),
        ("Type-specific settings", {"fields": ["settings"], "classes": ["collapse"]}),
    )

    @admin.display(description="Schedule")
    def schedule_display(self, obj: Profile) -> str:
        return obj.cron_expression if obj.status else "disabled"

    @admin.display(description="Last run")
    def last_run(self, obj: Profile) -> str:
        run = obj.runs.first()
        if run is None:
            return "—"
        return format_html(
            "{} · {}", run.get_status_display(), run.created_at.strftime("%Y-%m-%d %H:%M")
        )

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
