"""Admin for the Magento mirror and the contact entity table (the seed's
``freeagent_contact_entity``): filters, search, bulk retry/reset and the explain page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.timesince import timesince

from contacts import admin_drift, admin_resolve, admin_views
from contacts.models import (
    ContactEntity,
    Customer,
    DeletionRecord,
    ErasureAudit,
    GuestBuyer,
    Subscriber,
)
from contacts.services.entities import entities_reset, entities_retry
from profiles.admin.base import ButtonUrlsMixin
from profiles.models import Profile
from profiles.templatetags.contactsync import chip


class ReadOnlyAdmin(admin.ModelAdmin):
    """Mirrors are written by collection only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        # No "Delete selected": the next collection would write them again. (Deleting
        # stays allowed, so deleting a client still removes its mirror with it.)
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions


@admin.register(Customer)
class CustomerAdmin(ReadOnlyAdmin):
    list_display = [
        "magento_id",
        "email",
        "firstname",
        "lastname",
        "company",
        "website_id",
        "magento_updated_at",
    ]
    list_filter = ["store", "website_id", "group_id"]
    search_fields = ["email_normalized", "=magento_id", "lastname", "company"]


@admin.register(Subscriber)
class SubscriberAdmin(ReadOnlyAdmin):
    list_display = [
        "subscriber_id",
        "email",
        "subscriber_status",
        "customer_magento_id",
        "magento_updated_at",
    ]
    list_filter = ["store", "subscriber_status"]
    search_fields = ["email_normalized", "=subscriber_id"]


@admin.register(GuestBuyer)
class GuestBuyerAdmin(ReadOnlyAdmin):
    list_display = [
        "email",
        "firstname",
        "lastname",
        "website_id",
        "order_count",
        "last_order_increment_id",
    ]
    list_filter = ["store", "website_id"]
    search_fields = ["email_normalized"]


@admin.register(ContactEntity)
class ContactEntityAdmin(ButtonUrlsMixin, admin.ModelAdmin):
    """The entity table. A row opens the contact's explain page (its change view)."""

    # Few columns that wrap, so the table fits a 1280 px screen beside the filters: the
    # person key under the e-mail (it names the Magento customer), both states in one cell.
    list_display = [
        "entity_id",
        "contact",
        "state",
        "message_text",
        "failed_attempts",
        "processed",
        "profile",
    ]
    list_display_links = ["entity_id", "contact"]
    list_filter = ["profile", "status", "queue_status"]
    list_select_related = ["profile"]
    search_fields = ["email", "=customer_id", "person_key", "remote_id"]
    search_help_text = "Search by e-mail, Magento customer id, person key or remote id."
    list_per_page = 50
    actions = ["retry_selected", "reset_selected"]
    change_list_template = "admin/contacts/contactentity/change_list.html"
    button_urls = [
        ("<int:pk>/dry-run/", "dry_run", admin_views.entity_dry_run),
        ("<int:pk>/export-now/", "export_now", admin_views.entity_export_now),
        ("<int:pk>/retry/", "retry", admin_views.entity_retry),
        ("<int:pk>/reset/", "reset", admin_views.entity_reset),
        ("<int:pk>/forget/", "forget", admin_views.entity_forget),
        ("<int:pk>/fetch-remote/", "fetch_remote", admin_views.entity_fetch_remote),
        ("<int:pk>/resolve/", "resolve", admin_resolve.entity_resolve),
        ("profile/<int:pk>/drift/", "drift", admin_drift.profile_drift),
        ("profile/<int:pk>/retry-failed/", "retry_failed", admin_views.profile_retry_failed),
        (
            "profile/<int:pk>/initial-export/",
            "initial_export",
            admin_views.emarsys_initial_export_view,
        ),
        ("profile/<int:pk>/reconcile/", "reconcile", admin_views.emarsys_reconcile_view),
        ("profile/<int:pk>/optin-sync/", "optin_sync", admin_views.emarsys_optin_view),
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # entities are created by collection

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = list(super().get_list_display(request))
        if request.GET.get("profile__id__exact"):
            columns.remove("profile")  # one profile's table: the column says nothing
        return columns

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[ContactEntity], search_term: str
    ) -> tuple[QuerySet[ContactEntity], bool]:
        term = search_term.strip()
        if term and not term.isdigit():
            # "=customer_id" only makes sense for numbers; search the text columns.
            return queryset.filter(email__icontains=term) | queryset.filter(
                person_key__icontains=term
            ) | queryset.filter(remote_id__icontains=term), False
        return super().get_search_results(request, queryset, search_term)

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        entity = self.get_object(request, object_id)
        if entity is None:
            raise Http404(f"No {self.model._meta.verbose_name} {object_id}.")
        return admin_views.explain_page(self, request, entity)

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        profile_id = request.GET.get("profile__id__exact", "")
        profile = Profile.objects.filter(pk=profile_id).first() if profile_id.isdigit() else None
        extra = {**(extra_context or {}), "profile": profile}
        if profile is not None:
            extra["title"] = f"Contacts of {profile.name}"
        return super().changelist_view(request, extra)

    @admin.display(description="E-mail", ordering="email")
    def contact(self, obj: ContactEntity) -> str:
        if not obj.email:
            return obj.person_key
        return format_html('{}<br><span class="cs-muted">{}</span>', obj.email, obj.person_key)

    @admin.display(description="Status · queue", ordering="status")
    def state(self, obj: ContactEntity) -> str:
        return format_html(
            '<span class="cs-states">{} {}</span>',
            chip(obj.status, obj.get_status_display()),
            chip(f"q-{obj.queue_status}", obj.get_queue_status_display()),
        )

    @admin.display(description="Failed attempts", ordering="attempts")
    def failed_attempts(self, obj: ContactEntity) -> int:
        """Failed tries since the last success (a delivery attempt that worked is not one)."""
        return obj.attempts

    @admin.display(description="Message")
    def message_text(self, obj: ContactEntity) -> str:
        text = str((obj.message or {}).get("text") or "")
        return text if len(text) <= 120 else text[:117] + "…"

    @admin.display(description="Processed", ordering="processed_at")
    def processed(self, obj: ContactEntity) -> str:
        if obj.processed_at is None:
            return "—"
        return format_html(
            '<span title="{}">{} ago</span>',
            obj.processed_at.isoformat(),
            timesince(obj.processed_at),
        )

    @admin.action(description="Retry selected contacts", permissions=["change"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[ContactEntity]) -> None:
        count = entities_retry(queryset)
        self.message_user(request, f"{count} contact(s) queued for the next run.")

    @admin.action(
        description="Reset selected contacts (forget what was sent)", permissions=["change"]
    )
    def reset_selected(self, request: HttpRequest, queryset: QuerySet[ContactEntity]) -> None:
        count = entities_reset(queryset)
        self.message_user(request, f"{count} contact(s) reset; they will be fully re-sent.")


def explain_url(entity: ContactEntity) -> str:
    return reverse("admin:contacts_contactentity_change", args=[entity.pk])


@admin.register(ErasureAudit)
class ErasureAuditAdmin(ReadOnlyAdmin):
    """The erasure log ("Forget this person", ``manage.py forget``): no personal data."""

    list_display = ["created_at", "actor", "email_hash", "summary"]
    search_fields = ["=email_hash"]
    search_help_text = "The keyed hash `manage.py forget --dry-run` prints for an address."

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of an erasure outlives the history retention


@admin.register(DeletionRecord)
class DeletionRecordAdmin(ReadOnlyAdmin):
    """The deletion log: every contact a deletion policy acted on or holds — who let it
    through, when, and what the remote answered. Kept beyond the history retention."""

    list_display = [
        "noticed_at",
        "profile",
        "person_key",
        "email",
        "remote_id",
        "action",
        "outcome",
        "actor",
        "done_at",
        "remote_status",
        "remote_answer",
    ]
    list_filter = ["profile", "outcome", "action"]
    search_fields = ["email", "remote_id", "person_key"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the record of a deletion outlives the history retention
