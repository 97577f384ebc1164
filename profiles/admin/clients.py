"""The client admin: Magento, FreeAgent and Emarsys connections."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.timesince import timesince

from profiles import admin_views
from profiles.admin.base import ButtonUrlsMixin, type_choice
from profiles.forms.clients import CLIENT_FIELDSETS, CLIENT_FORMS
from profiles.models import Client, ClientType
from profiles.services.clients import client_configuration_summary, client_connection_state
from profiles.templatetags.contactsync import chip


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
        kwargs["form"] = CLIENT_FORMS[type_choice(request, obj)]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        return CLIENT_FIELDSETS[type_choice(request, obj)]

    def add_view(
        self, request: HttpRequest, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if type_choice(request, None) not in CLIENT_FORMS:
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
        extra = dict(extra_context or {})
        if type_choice(request, None) == ClientType.FREEAGENT:
            extra["redirect_uri"] = admin_views.oauth_redirect_uri(request)
        return super().add_view(request, form_url, extra)

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
        return {**super().get_changeform_initial_data(request), "type": type_choice(request, None)}

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
